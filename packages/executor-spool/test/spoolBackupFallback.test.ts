import { execFile, execFileSync } from 'node:child_process';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { tempDir } from '../../../vitest.tempDirs.js';

/*
 * Where a backup cannot be a hard link (a mount inside the root: EXDEV), the rename commit copied the file
 * with copyFile, by name: that follows a symlink and blocks on a FIFO. A file swapped just before its backup
 * for a symlink to an outside file had its outside bytes copied into the backup, which the recovery of a
 * crash then renamed into the tree; a FIFO hung the commit. The copy now reads from a descriptor opened with
 * O_NOFOLLOW|O_NONBLOCK and checked with fstat. A bind mount needs a private mount namespace: root only.
 */

const run = promisify(execFile);
const child = path.join(import.meta.dirname, 'spoolBackupFallbackChild.ts');

const canMount = (() => {
  try {
    execFileSync('unshare', ['-m', 'true'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

async function attack(kind: 'fifo' | 'symlink' | 'crash' | 'fail') {
  const results: Array<{ outcome: string; holds: string }> = [];
  const base = await tempDir('ordo-spool-mount-');
  try {
    await mkdir(path.join(base, 'root', 'mnt'), { recursive: true });
    await mkdir(path.join(base, 'mounted'));
    await mkdir(path.join(base, 'out'));
    await writeFile(path.join(base, 'mounted', 'f'), 'old\n');
    await writeFile(path.join(base, 'mounted', 'g'), 'old g\n');
    await writeFile(path.join(base, 'out', 'secret'), 'outside secret\n');
    // The symlink attack kills the commit half way; a second process recovers it.
    for (const step of kind === 'symlink' || kind === 'crash' ? [kind, 'recover'] : [kind]) {
      const { stdout } = await run(
        'unshare',
        [
          '-m',
          process.execPath,
          '--conditions=@ordo/source',
          '--import',
          'tsx',
          child,
          path.join(base, 'root'),
          path.join(base, 'out', 'secret'),
          path.join(base, 'keys'),
          step,
        ],
        { timeout: 30_000 },
      );
      results.push(JSON.parse(stdout.trim()) as { outcome: string; holds: string });
    }
    expect(await readFile(path.join(base, 'out', 'secret'), 'utf8')).toBe('outside secret\n');
    return results;
  } finally {
    await rm(base, { recursive: true, force: true });
  }
}

describe.skipIf(!canMount)('a rollback across a mount inside the root (no attack)', () => {
  // The backup is a copy in .ordo-spool/, on another file system than the file: a rename cannot put it back.
  it('a crash after the file was replaced: recovery puts the old bytes back', async () => {
    expect(await attack('crash')).toEqual([
      { outcome: 'crashed', holds: 'new\n' },
      { outcome: 'recovered 1', holds: 'old\n' },
    ]);
  }, 90_000);

  it('a failure after the file was replaced: the commit rolls it back', async () => {
    expect(await attack('fail')).toEqual([{ outcome: 'SPOOL_COMMIT_FAILED', holds: 'old\n' }]);
  }, 90_000);
});

describe.skipIf(!canMount)('a backup copied across a mount inside the root', () => {
  it('a FIFO swapped in before the backup: the commit fails at once, nothing hangs', async () => {
    expect(await attack('fifo')).toEqual([{ outcome: 'SPOOL_COMMIT_FAILED', holds: 'a FIFO' }]);
  }, 90_000);

  it('a symlink to an outside file swapped in before the backup, then a crash: no outside byte reaches the tree', async () => {
    const [commit, recovery] = await attack('symlink');
    // The backup is refused, so the commit fails before its crash point; if it got there, the recovery
    // must not rename a copy of the outside file into the tree.
    expect(commit?.outcome).toBe('SPOOL_COMMIT_FAILED');
    expect(recovery?.holds).not.toContain('outside secret');
  }, 90_000);
});
