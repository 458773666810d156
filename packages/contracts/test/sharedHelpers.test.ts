import { rename, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
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
