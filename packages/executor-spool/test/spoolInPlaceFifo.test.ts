import { execFile, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import { mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { tempDir } from '../../../vitest.tempDirs.js';
import { createSpool } from '../src/index.js';
import { rootKey, seal } from '../src/internal/journalKey.js';
import { codeOf, tempTree } from './spoolFixtures.js';

/*
 * An in-place commit opened each file with O_WRONLY|O_TRUNC but without O_NONBLOCK: a FIFO put in a staged
 * file's place after the check hung the commit forever, and four of them took every libuv thread, so every
 * other fs call of the process stalled too; a rollback (after a failure, or by recovery) hung the same way.
 * The open is non-blocking now and checked with fstat: such a file is SPOOL_CONFLICT, never written.
 */

/** Whether `promise` settles within `ms`; if not, opens every FIFO for reading (unblocking any writer). */
async function settlesWithin(promise: Promise<unknown>, ms: number, fifos: readonly string[]) {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'late'>((resolve) => {
    timer = setTimeout(() => resolve('late'), ms);
  });
  const outcome = await Promise.race([promise.then(() => 'settled'), late]);
  clearTimeout(timer);
  if (outcome === 'late') {
    // Non-blocking opens on the main thread: the blocked opens in the pool then return.
    for (const fifo of fifos)
      fs.closeSync(fs.openSync(fifo, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK));
    await promise.catch(() => {});
  }
  return outcome === 'settled';
}

/** A file read on the thread pool, with a deadline: whether the pool still has a thread free. */
const poolFree = async (file: string) =>
  Promise.race([
    readFile(file).then(() => true),
    new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 3000)),
  ]);

const deadPid = () =>
  new Promise<number>((resolve) => {
    const exited = execFile(process.execPath, ['-e', '']);
    exited.on('exit', () => resolve(exited.pid as number));
  });

describe('in-place commits and FIFOs swapped in after the check', () => {
  it('a commit whose files become FIFOs before they are written is SPOOL_CONFLICT, at once, pool free', async () => {
    const names = ['a.txt', 'b.txt', 'c.txt', 'd.txt', 'e.txt', 'f.txt'];
    await using tree = await tempTree(Object.fromEntries(names.map((n) => [n, `${n}\n`])));
    const keyDir = path.join(await tempDir('ordo-spool-keys-'), 'keys');
    const fifos = names.slice(1).map((n) => tree.file(n));
    const spool = createSpool({
      root: tree.dir,
      keyDir,
      commitMode: 'in-place',
      testHooks: {
        // Five of the six files become FIFOs (more than libuv's four threads) just before each is written.
        beforeReplace: async (p: string) => {
          if (p === 'a.txt') return;
          await rm(tree.file(p));
          execFileSync('mkfifo', [tree.file(p)]);
        },
      },
    });
    try {
      for (const n of names) await spool.write(n, 'new\n');
      const commit = codeOf(spool.commit());
      expect(await settlesWithin(commit, 5000, fifos)).toBe(true);
      expect(await commit).toBe('SPOOL_CONFLICT');
      expect(await poolFree(tree.file('a.txt'))).toBe(true);
      // Nothing was written to a FIFO; the file that was written is put back.
      expect(await readFile(tree.file('a.txt'), 'utf8')).toBe('a.txt\n');
      for (const fifo of fifos) expect((await stat(fifo)).isFIFO()).toBe(true);
      expect(spool.touched().length).toBe(names.length);
    } finally {
      await spool.close();
      await rm(path.dirname(keyDir), { recursive: true, force: true });
    }
  });

  it('recovery of a sealed rollback journal whose files are FIFOs now refuses at once, pool free', async () => {
    const names = ['a.txt', 'b.txt', 'c.txt', 'd.txt', 'e.txt'];
    await using tree = await tempTree();
    const keyDir = path.join(await tempDir('ordo-spool-keys-'), 'keys');
    try {
      // A crashed commit's journal (sealed with this root's key), then FIFOs where its files were.
      const key = (await rootKey(await fs.promises.realpath(tree.dir), keyDir)) as Buffer;
      const old = Buffer.from('old\n');
      const header = {
        pid: await deadPid(),
        host: hostname(),
        bodyBytes: old.length * names.length,
        files: names.map((n) => ({ path: n, old: { size: old.length, mode: 0o644 } })),
      };
      await mkdir(tree.file('.ordo-spool'));
      await writeFile(
        tree.file('.ordo-spool/x.rollback'),
        seal(
          key,
          Buffer.concat([
            Buffer.from(`ordo-spool-rollback 2\n${JSON.stringify(header)}\n`),
            ...names.map(() => old),
          ]),
        ),
      );
      const fifos = names.map((n) => tree.file(n));
      execFileSync('mkfifo', fifos);
      await writeFile(tree.file('plain.txt'), 'plain\n');
      const spool = createSpool({ root: tree.dir, keyDir, commitMode: 'in-place' });
      try {
        const read = codeOf(spool.read('plain.txt'));
        expect(await settlesWithin(read, 5000, fifos)).toBe(true);
        expect(await read).toBe('SPOOL_CONFLICT');
        expect(await poolFree(tree.file('plain.txt'))).toBe(true);
        for (const fifo of fifos) expect((await stat(fifo)).isFIFO()).toBe(true);
        // The journal stays for a recovery once the FIFOs are gone.
        expect((await stat(tree.file('.ordo-spool/x.rollback'))).isFile()).toBe(true);
      } finally {
        await spool.close();
      }
    } finally {
      await rm(path.dirname(keyDir), { recursive: true, force: true });
    }
  });
});
