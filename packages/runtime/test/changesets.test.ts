import { execFile } from 'node:child_process';
import { cp, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { tempDir } from './support/memoryIo.js';

const run = promisify(execFile);
const repo = join(import.meta.dirname, '..', '..', '..');
const changesetBin = join(repo, 'node_modules', '.bin', 'changeset');

interface Manifest {
  name: string;
  version: string;
  private?: boolean;
  dependencies?: Record<string, string>;
}

/**
 * A copy of the workspace's shape in `dir`: the root and every package's package.json (no sources), the
 * workspace file and the changesets config, but none of the repository's pending changesets.
 */
async function copyWorkspace(dir: string): Promise<string[]> {
  await cp(join(repo, 'package.json'), join(dir, 'package.json'));
  await cp(join(repo, 'pnpm-workspace.yaml'), join(dir, 'pnpm-workspace.yaml'));
  await mkdir(join(dir, '.changeset'));
  await cp(join(repo, '.changeset', 'config.json'), join(dir, '.changeset', 'config.json'));
  const packageDirs: string[] = [];
  for (const parent of ['packages', 'examples']) {
    for (const name of await readdir(join(repo, parent))) {
      const manifest = join(repo, parent, name, 'package.json');
      await mkdir(join(dir, parent, name), { recursive: true });
      await cp(manifest, join(dir, parent, name, 'package.json'));
      packageDirs.push(join(parent, name));
    }
  }
  return packageDirs;
}

async function manifests(dir: string, packageDirs: string[]): Promise<Map<string, Manifest>> {
  const byName = new Map<string, Manifest>();
  for (const packageDir of packageDirs) {
    const manifest = JSON.parse(await readFile(join(dir, packageDir, 'package.json'), 'utf8')) as Manifest;
    byName.set(manifest.name, manifest);
  }
  return byName;
}

/** The public packages that depend on `name`, directly or through another one. */
function dependentsOf(name: string, all: Map<string, Manifest>): Set<string> {
  const found = new Set<string>();
  let grew = true;
  while (grew) {
    grew = false;
    for (const manifest of all.values()) {
      if (manifest.private === true || found.has(manifest.name)) continue;
      const deps = Object.keys(manifest.dependencies ?? {});
      if (deps.includes(name) || deps.some((d) => found.has(d))) {
        found.add(manifest.name);
        grew = true;
      }
    }
  }
  return found;
}

/** Runs the real `changeset version` on a copy of the workspace with one changeset; returns before and after. */
async function versionWith(changeset: string) {
  await using dir = await tempDir();
  const packageDirs = await copyWorkspace(dir.path);
  await writeFile(join(dir.path, '.changeset', 'one-fix.md'), changeset);
  const before = await manifests(dir.path, packageDirs);
  await run(changesetBin, ['version'], { cwd: dir.path, env: { ...process.env, CI: 'true' } });
  const after = await manifests(dir.path, packageDirs);
  const changed = [...after.values()]
    .filter((m) => m.version !== before.get(m.name)?.version)
    .map((m) => m.name)
    .sort();
  const pending = (await readdir(join(dir.path, '.changeset'))).filter((f) => f.endsWith('.md'));
  const changelogs = new Map<string, string>();
  for (const packageDir of packageDirs) {
    const text = await readFile(join(dir.path, packageDir, 'CHANGELOG.md'), 'utf8').catch(() => undefined);
    if (text !== undefined) changelogs.set(packageDir, text);
  }
  return { before, after, changed, pending, changelogs };
}

const bump = (version: string) => version.replace(/\d+$/, (patch) => String(Number(patch) + 1));

describe('changeset version with the repository config', () => {
  it('a patch to @ordo/launcher bumps it and the runtime that depends on it, nothing else', async () => {
    const result = await versionWith('---\n"@ordo/launcher": patch\n---\n\nFixes a thing.\n');
    expect(result.changed).toEqual(['@ordo/launcher', '@ordo/runtime']);
    for (const name of result.changed) {
      expect(result.after.get(name)?.version).toBe(bump(result.before.get(name)?.version as string));
    }
    expect(result.pending).toEqual([]);
    expect([...result.changelogs.keys()].sort()).toEqual(['packages/launcher', 'packages/runtime']);
    expect(result.changelogs.get('packages/launcher')).toContain('Fixes a thing.');
    expect(result.changelogs.get('packages/runtime')).toMatch(/Updated dependencies[\s\S]*@ordo\/launcher@/);
    // workspace ranges stay workspace ranges for pnpm to rewrite at publish time
    expect(result.after.get('@ordo/runtime')?.dependencies?.['@ordo/launcher']).toBe('workspace:^');
  }, 60_000);

  it('a patch to @ordo/contracts bumps every public dependent once, and never a private example', async () => {
    const result = await versionWith('---\n"@ordo/contracts": patch\n---\n\nFixes the vocabulary.\n');
    const expected = ['@ordo/contracts', ...dependentsOf('@ordo/contracts', result.before)].sort();
    expect(result.changed).toEqual(expected);
    expect(expected).toContain('@ordo/runtime');
    for (const name of result.changed) {
      expect(result.after.get(name)?.version).toBe(bump(result.before.get(name)?.version as string));
    }
    const examples = [...result.after.values()].filter((m) => m.private === true);
    expect(examples.length).toBeGreaterThan(0);
    for (const example of examples) expect(example.version).toBe(result.before.get(example.name)?.version);
  }, 60_000);
});
