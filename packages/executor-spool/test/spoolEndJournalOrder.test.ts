import { execFile } from 'node:child_process';
import { readdir, readFile, rm, unlink } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { recoverSpool } from '../src/index.js';
import { tempTree } from './spoolFixtures.js';

const child = fileURLToPath(new URL('./spoolCrashChild.ts', import.meta.url));

/** Runs the child commit, killed once every file is in place and before its journal is removed. */
function killedAfterRenames(root: string): Promise<string | null> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--conditions=@ordo/source', '--import', 'tsx', child, root, 'after-renames'],
      { cwd: path.dirname(child) },
      (error) => resolve((error as { signal?: string } | null)?.signal ?? null),
    );
  });
}

const OLD = { 'a.txt': 'old a\n', 'c.txt': 'old c\n', 'd.txt': 'old d\n' };
const NEW_TREE = { 'a.txt': 'new a\n', 'b/added.txt': 'added\n', 'c.txt': 'new c\n' };

async function treeOf(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const e of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (e.isFile())
      out[path.relative(dir, path.join(e.parentPath, e.name))] = await readFile(
        path.join(e.parentPath, e.name),
        'utf8',
      );
  }
  return out;
}

/**
 * The end of a rename commit removes, in this order, the `.replacing` marker, the backups, the backup
 * folder and the journal. A kill after any prefix of those steps must leave something recovery fully
 * cleans up: the commit rolled back while the marker is there, kept once it is gone, and no `.ordo-spool`
 * left either way.
 */
describe('a kill while a finished commit removes its journal', { timeout: 60_000 }, () => {
  const steps = ['marker', 'backups', 'journal'] as const;
  it.each([0, 1, 2, 3])('after %i of the steps: recovery leaves a clean tree', async (done) => {
    await using tree = await tempTree(OLD);
    expect(await killedAfterRenames(tree.dir)).toBe('SIGKILL');
    const journalDir = tree.file('.ordo-spool');
    const names = await readdir(journalDir);
    const journal = names.find((n) => n.endsWith('.json')) as string;
    const id = journal.slice(0, -'.json'.length);
    expect(names.sort()).toEqual([id, journal, `${id}.replacing`].sort());
    for (const step of steps.slice(0, done)) {
      if (step === 'marker') await unlink(path.join(journalDir, `${id}.replacing`));
      if (step === 'backups') await rm(path.join(journalDir, id), { recursive: true });
      if (step === 'journal') await unlink(path.join(journalDir, journal));
    }
    await recoverSpool(tree.dir);
    expect(await treeOf(tree.dir)).toEqual(done === 0 ? OLD : NEW_TREE);
    expect(await readdir(tree.dir)).not.toContain('.ordo-spool');
  });
});
