import { execFileSync } from 'node:child_process';
import { mkdir, readFile, stat } from 'node:fs/promises';
import { createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import { createSpool } from '../src/index.js';
import { codeOf, tempTree } from './spoolFixtures.js';

/*
 * Issue 14, item 6: `write`, `replace` and `remove` on a FIFO blocked forever, and four of them starved
 * libuv's thread pool. Every file the spool reads is opened with O_NONBLOCK and checked with fstat first.
 */

const drain = async (stream: AsyncIterable<Buffer>) => {
  for await (const _ of stream);
};

describe('a path that is not a regular file', () => {
  it('a FIFO: every operation is SPOOL_NOT_REGULAR at once, eight at a time, and the thread pool stays free', async () => {
    await using tree = await tempTree({ 'a.txt': 'a\n' });
    execFileSync('mkfifo', [tree.file('pipe'), tree.file('pipe2')]);
    await using spool = createSpool({ root: tree.dir });
    // More than libuv's 4 threads: blocking opens would leave none for the readFile below.
    const calls = [
      spool.write('pipe', 'x'),
      spool.replace('pipe2', () => 'x'),
      spool.remove('pipe'),
      spool.read('pipe2'),
      spool.exists('pipe'),
      drain(spool.stream('pipe2')),
      spool.batch([{ op: 'write', path: 'pipe', data: 'x' }]),
      spool.batch([{ op: 'remove', path: 'pipe2' }]),
    ];
    const codes = await Promise.all(calls.map(codeOf));
    expect(codes).toEqual(Array(calls.length).fill('SPOOL_NOT_REGULAR'));
    expect(await readFile(tree.file('a.txt'), 'utf8')).toBe('a\n');
    expect(spool.touched()).toEqual([]);
    expect((await stat(tree.file('pipe'))).isFIFO()).toBe(true);
    const error = await spool.write('pipe', 'x').catch((e: unknown) => e);
    expect((error as Error).message).toMatch(
      /pipe is a FIFO \(named pipe\); the spool reads and stages regular files only/,
    );
    expect((error as { details: unknown }).details).toEqual({ path: 'pipe', kind: 'a FIFO (named pipe)' });
  });

  it('a directory, a unix socket: SPOOL_NOT_REGULAR (a directory is not staged as a file)', async () => {
    await using tree = await tempTree({ 'dir/inner.txt': 'i\n' });
    await using spool = createSpool({ root: tree.dir });
    for (const call of [
      spool.write('dir', 'x'),
      spool.replace('dir', () => 'x'),
      spool.remove('dir'),
      spool.read('dir'),
    ])
      expect(await codeOf(call)).toBe('SPOOL_NOT_REGULAR');
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(tree.file('sock'), resolve));
    try {
      expect(await codeOf(spool.write('sock', 'x'))).toBe('SPOOL_NOT_REGULAR');
      expect(await codeOf(spool.read('sock'))).toBe('SPOOL_NOT_REGULAR');
      expect(await codeOf(spool.exists('sock'))).toBe('SPOOL_NOT_REGULAR');
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
    expect(await readFile(tree.file('dir/inner.txt'), 'utf8')).toBe('i\n');
  });

  it('a FIFO put in place of a staged file before the commit: a conflict in both modes, never a hang', async () => {
    for (const commitMode of ['rename', 'in-place'] as const) {
      await using tree = await tempTree({ 'a.txt': 'a\n', 'b.txt': 'b\n' });
      await using spool = createSpool({ root: tree.dir, commitMode });
      await spool.write('a.txt', 'new a\n');
      await spool.write('b.txt', 'new b\n');
      const { rm } = await import('node:fs/promises');
      await rm(tree.file('b.txt'));
      execFileSync('mkfifo', [tree.file('b.txt')]);
      expect(await codeOf(spool.commit())).toBe('SPOOL_CONFLICT');
      expect(await readFile(tree.file('a.txt'), 'utf8')).toBe('a\n');
      expect((await stat(tree.file('b.txt'))).isFIFO()).toBe(true);
    }
  });

  it('a directory where a file is staged as new: the commit refuses and writes nothing', async () => {
    await using tree = await tempTree({ 'a.txt': 'a\n' });
    await using spool = createSpool({ root: tree.dir, commitMode: 'in-place' });
    await spool.write('new.txt', 'n\n');
    await mkdir(tree.file('new.txt'));
    expect(await codeOf(spool.commit())).toBe('SPOOL_CONFLICT');
    expect((await stat(tree.file('new.txt'))).isDirectory()).toBe(true);
  });
});

describe('hostile path shapes get ordo errors, never raw ones', () => {
  it('a symlink loop, a file used as a directory, overlong names: a clear code for every operation', async () => {
    await using tree = await tempTree({ 'a.txt': 'a\n' });
    const { symlink } = await import('node:fs/promises');
    await symlink('loop', tree.file('loop'));
    await using spool = createSpool({ root: tree.dir });
    const cases: Array<[string, string]> = [
      ['loop/x.txt', 'SPOOL_PATH_ESCAPE'],
      ['loop', 'SPOOL_PATH_ESCAPE'],
      ['a.txt/x.txt', 'SPOOL_INVALID_ARGUMENT'],
      [`${'n'.repeat(256)}.txt`, 'SPOOL_INVALID_ARGUMENT'],
      [`${'d/'.repeat(2100)}x`, 'SPOOL_INVALID_ARGUMENT'],
    ];
    for (const [p, code] of cases) {
      for (const call of [
        spool.write(p, 'x'),
        spool.replace(p, () => 'x'),
        spool.remove(p),
        spool.read(p),
        spool.exists(p),
        drain(spool.stream(p)),
      ])
        expect([p.slice(0, 20), await codeOf(call)]).toEqual([p.slice(0, 20), code]);
    }
    expect(spool.touched()).toEqual([]);
  });

  it('a file put where a staged file’s directory was: the commit is a conflict, in both modes', async () => {
    for (const commitMode of ['rename', 'in-place'] as const) {
      await using tree = await tempTree({ 'd/x.txt': 'x\n' });
      await using spool = createSpool({ root: tree.dir, commitMode });
      await spool.write('d/x.txt', 'new\n');
      const { rm, writeFile } = await import('node:fs/promises');
      await rm(tree.file('d'), { recursive: true });
      await writeFile(tree.file('d'), 'a file now\n');
      expect(await codeOf(spool.commit())).toBe('SPOOL_CONFLICT');
      expect(await readFile(tree.file('d'), 'utf8')).toBe('a file now\n');
    }
  });

  it('the root swapped for another directory after createSpool: every operation is refused', async () => {
    await using tree = await tempTree({ 'root/a.txt': 'a\n', 'other/a.txt': 'OTHER\n' });
    const { rename } = await import('node:fs/promises');
    await using spool = createSpool({ root: tree.file('root') });
    await spool.write('a.txt', 'new\n');
    await rename(tree.file('root'), tree.file('root.away'));
    await rename(tree.file('other'), tree.file('root'));
    expect(await codeOf(spool.commit())).toBe('SPOOL_PATH_ESCAPE');
    expect(await codeOf(spool.read('b.txt'))).toBe('SPOOL_PATH_ESCAPE');
    expect(await readFile(tree.file('root/a.txt'), 'utf8')).toBe('OTHER\n');
    expect(await readFile(tree.file('root.away/a.txt'), 'utf8')).toBe('a\n');
  });
});
