import { execFile } from 'node:child_process';
import { readdir, readFile, realpath, rename, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { isOrdoError } from '@ordo/contracts';
import { RecordingLogger } from '@ordo/contracts/testing';
import { describe, expect, it } from 'vitest';
import { createSpool, recoverSpool } from '../src/index.js';
import { codeOf, tempTree } from './spoolFixtures.js';

const child = fileURLToPath(new URL('./spoolCrashChild.ts', import.meta.url));

/** Runs the child commit, which kills itself half way; resolves with the signal that ended it. */
function crashingCommit(
  root: string,
  when:
    | 'between-renames'
    | 'before-renames'
    | 'after-prepare'
    | 'prepared-between-renames' = 'between-renames',
): Promise<string | null> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--conditions=@ordo/source', '--import', 'tsx', child, root, when],
      { cwd: path.dirname(child) },
      (error) => resolve((error as { signal?: string } | null)?.signal ?? null),
    );
  });
}

describe('a process killed in the middle of a commit', () => {
  it('leaves a journal; the next spool on the root rolls the commit back', async () => {
    await using tree = await tempTree({ 'a.txt': 'old a\n', 'c.txt': 'old c\n', 'd.txt': 'old d\n' });
    expect(await crashingCommit(tree.dir)).toBe('SIGKILL');
    // Half done: two files replaced, the journal and backups still there.
    expect(await readFile(tree.file('a.txt'), 'utf8')).toBe('new a\n');
    expect(await readFile(tree.file('b/added.txt'), 'utf8')).toBe('added\n');
    expect(await readdir(tree.dir)).toContain('.ordo-spool');

    await using spool = createSpool({ root: tree.dir });
    expect(await spool.readText('a.txt')).toBe('old a\n');
    expect(await readFile(tree.file('c.txt'), 'utf8')).toBe('old c\n');
    expect(await readFile(tree.file('d.txt'), 'utf8')).toBe('old d\n');
    const left = await readdir(tree.dir, { recursive: true });
    expect(left.sort()).toEqual(['a.txt', 'b', 'c.txt', 'd.txt']);
    expect(await recoverSpool(tree.dir)).toBe(0);
  });

  it('recoverSpool rolls back explicitly and reports how many commits it undid', async () => {
    await using tree = await tempTree({ 'a.txt': 'old a\n', 'c.txt': 'old c\n', 'd.txt': 'old d\n' });
    expect(await crashingCommit(tree.dir)).toBe('SIGKILL');
    expect(await recoverSpool(tree.dir)).toBe(1);
    expect(await readFile(tree.file('a.txt'), 'utf8')).toBe('old a\n');
    expect((await readdir(tree.dir)).sort()).toEqual(['a.txt', 'b', 'c.txt', 'd.txt']);
  });

  it('before any rename: recovery removes the temp files and backups and puts nothing back, even over a file changed since', async () => {
    await using tree = await tempTree({ 'a.txt': 'old a\n', 'c.txt': 'old c\n', 'd.txt': 'old d\n' });
    expect(await crashingCommit(tree.dir, 'before-renames')).toBe('SIGKILL');
    const left = await readdir(tree.dir, { recursive: true });
    expect(left.filter((p) => p.endsWith('.tmp'))).toHaveLength(3);
    expect(left).toContain('.ordo-spool');
    // Someone else replaces a.txt (a new inode, as editors and git do) before any recovery runs.
    await writeFile(tree.file('a.txt.theirs'), 'theirs\n');
    await rename(tree.file('a.txt.theirs'), tree.file('a.txt'));
    const logger = new RecordingLogger();
    expect(await recoverSpool(tree.dir, { logger })).toBe(1);
    expect(await readFile(tree.file('a.txt'), 'utf8')).toBe('theirs\n');
    expect(await readFile(tree.file('c.txt'), 'utf8')).toBe('old c\n');
    expect(await readFile(tree.file('d.txt'), 'utf8')).toBe('old d\n');
    expect((await readdir(tree.dir, { recursive: true })).sort()).toEqual(['a.txt', 'b', 'c.txt', 'd.txt']);
    expect(logger.at('warn')).toMatchObject([
      { msg: 'spool cleaned up a commit interrupted by a crash before it replaced any file' },
    ]);
  });

  it('never replays an unauthenticated journal of version 1: it is left in place and SPOOL_JOURNAL_UNTRUSTED', async () => {
    await using tree = await tempTree({ 'a.txt': 'new a\n', '.ordo-spool/old-1/0': 'old a\n' });
    const dead = await new Promise<number>((resolve) => {
      const exited = execFile(process.execPath, ['-e', '']);
      exited.on('exit', () => resolve(exited.pid as number));
    });
    const journal = {
      version: 1,
      pid: dead,
      host: hostname(),
      files: [
        {
          abs: await realpath(tree.file('a.txt')),
          tmp: path.join(await realpath(tree.dir), '.a.txt.ordo-0.tmp'),
          backup: path.join(await realpath(tree.dir), '.ordo-spool', 'old-1', '0'),
        },
      ],
    };
    await writeFile(tree.file('.ordo-spool/old-1.json'), JSON.stringify(journal));
    const error = await recoverSpool(tree.dir).catch((e: unknown) => e);
    expect(isOrdoError(error, 'SPOOL_JOURNAL_UNTRUSTED')).toBe(true);
    expect((error as Error).message).toMatch(/old-1\.json \(an unauthenticated journal of version 1\)/);
    // createSpool reports it on every operation, and replays nothing.
    await using spool = createSpool({ root: tree.dir });
    expect(await codeOf(spool.read('a.txt'))).toBe('SPOOL_JOURNAL_UNTRUSTED');
    expect(await readFile(tree.file('a.txt'), 'utf8')).toBe('new a\n');
    expect((await readdir(tree.dir, { recursive: true })).sort()).toEqual([
      '.ordo-spool',
      '.ordo-spool/old-1',
      '.ordo-spool/old-1.json',
      '.ordo-spool/old-1/0',
      'a.txt',
    ]);
  });

  it('after spool.prepare(): recovery removes the prepared journal and temp files and touches no file', async () => {
    await using tree = await tempTree({ 'a.txt': 'old a\n', 'c.txt': 'old c\n', 'd.txt': 'old d\n' });
    expect(await crashingCommit(tree.dir, 'after-prepare')).toBe('SIGKILL');
    const left = await readdir(tree.dir, { recursive: true });
    // The preparation is on disk (three temp files and a journal), no file is replaced.
    expect(left.filter((p) => p.endsWith('.tmp'))).toHaveLength(3);
    expect(left).toContain('.ordo-spool');
    expect(await readFile(tree.file('a.txt'), 'utf8')).toBe('old a\n');
    expect(await recoverSpool(tree.dir)).toBe(1);
    expect((await readdir(tree.dir, { recursive: true })).sort()).toEqual(['a.txt', 'b', 'c.txt', 'd.txt']);
    expect(await readFile(tree.file('d.txt'), 'utf8')).toBe('old d\n');
  });

  it('a prepared commit killed between renames is rolled back like any other', async () => {
    await using tree = await tempTree({ 'a.txt': 'old a\n', 'c.txt': 'old c\n', 'd.txt': 'old d\n' });
    expect(await crashingCommit(tree.dir, 'prepared-between-renames')).toBe('SIGKILL');
    expect(await readFile(tree.file('a.txt'), 'utf8')).toBe('new a\n');
    expect(await recoverSpool(tree.dir)).toBe(1);
    expect(await readFile(tree.file('a.txt'), 'utf8')).toBe('old a\n');
    expect(await readFile(tree.file('c.txt'), 'utf8')).toBe('old c\n');
    expect(await readFile(tree.file('d.txt'), 'utf8')).toBe('old d\n');
    expect((await readdir(tree.dir)).sort()).toEqual(['a.txt', 'b', 'c.txt', 'd.txt']);
  });
});
