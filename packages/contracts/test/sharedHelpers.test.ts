import { mkdir, rename, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { tempDir } from '../../../vitest.tempDirs.js';
import { lazyModule, syncDirectory } from '../src/index.js';

describe('syncDirectory', () => {
  it('fsyncs a real directory after a rename, and fails on a missing one', async () => {
    const dir = await tempDir('ordo-contracts-sync-');
    await writeFile(path.join(dir, 'a.tmp'), 'x');
    await rename(path.join(dir, 'a.tmp'), path.join(dir, 'a'));
    await expect(syncDirectory(dir)).resolves.toBeUndefined();
    await expect(syncDirectory(path.join(dir, 'missing'))).rejects.toMatchObject({ code: 'ENOENT' });
  });
});

describe('lazyModule', () => {
  it('loads nothing until called, then loads once from the caller and keeps it', () => {
    const require = createRequire(import.meta.url);
    const id = require.resolve('fast-check');
    const cached = id in require.cache;
    const load = lazyModule<{ assert: unknown }>(import.meta.url, 'fast-check');
    if (!cached) expect(id in require.cache).toBe(false);
    const first = load();
    expect(typeof first.assert).toBe('function');
    expect(load()).toBe(first);
    expect(id in require.cache).toBe(true);
  });

  it('throws the resolution error of a module the caller does not have', () => {
    const load = lazyModule(import.meta.url, 'no-such-module-ordo');
    expect(() => load()).toThrow(/no-such-module-ordo/);
  });

  it('with preferImport, loads the ES module build an import() shares; else, or without one, the CommonJS build', async () => {
    const dir = await tempDir('ordo-contracts-lazy-');
    const pkg = async (name: string, exports: unknown) => {
      const root = path.join(dir, 'node_modules', name);
      await mkdir(root, { recursive: true });
      await writeFile(path.join(root, 'package.json'), JSON.stringify({ name, version: '1.0.0', exports }));
      await writeFile(path.join(root, 'index.mjs'), "export const kind = 'esm';\n");
      await writeFile(path.join(root, 'index.cjs'), "exports.kind = 'cjs';\n");
      return root;
    };
    const dual = await pkg('dual', {
      '.': { import: './index.mjs', require: './index.cjs' },
      './package.json': './package.json',
    });
    await pkg('dual-nested', {
      '.': { import: { default: './index.mjs' }, require: './index.cjs' },
      './package.json': './package.json',
    });
    await pkg('cjs-only', { '.': { require: './index.cjs' }, './package.json': './package.json' });
    await pkg('manifest-hidden', { '.': { import: './index.mjs', require: './index.cjs' } });
    const from = pathToFileURL(path.join(dir, 'caller.js'));
    const esm = lazyModule<{ kind: string }>(from, 'dual', { preferImport: true })();
    expect(esm.kind).toBe('esm');
    // The very instance a static or dynamic import of the package holds: one copy in the process.
    expect(esm).toBe(await import(pathToFileURL(path.join(dual, 'index.mjs')).href));
    expect(lazyModule<{ kind: string }>(from, 'dual-nested', { preferImport: true })().kind).toBe('esm');
    expect(lazyModule<{ kind: string }>(from, 'dual')().kind).toBe('cjs');
    expect(lazyModule<{ kind: string }>(from, 'cjs-only', { preferImport: true })().kind).toBe('cjs');
    // Without an exported package.json the import build cannot be found without guessing: CommonJS.
    expect(lazyModule<{ kind: string }>(from, 'manifest-hidden', { preferImport: true })().kind).toBe('cjs');
  });
});

describe('untilAborted', () => {
  it('follows the promise, or rejects at once with the reason when the signal aborts, leaving the promise be', async () => {
    const { untilAborted } = await import('../src/index.js');
    await expect(untilAborted(Promise.resolve(7), undefined)).resolves.toBe(7);
    await expect(untilAborted(Promise.reject(new Error('no')), new AbortController().signal)).rejects.toThrow(
      'no',
    );
    let settle!: (value: string) => void;
    const shared = new Promise<string>((resolve) => {
      settle = resolve;
    });
    const controller = new AbortController();
    const waiting = untilAborted(shared, controller.signal);
    controller.abort(new Error('caller left'));
    await expect(waiting).rejects.toThrow('caller left');
    settle('done');
    await expect(shared).resolves.toBe('done');
    await expect(untilAborted(shared, AbortSignal.abort(new Error('already')))).rejects.toThrow('already');
  });
});
