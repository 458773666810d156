import { chmod, readdir, readFile, rename, rm, stat, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { ManualClock, RecordingLogger } from '@ordo/contracts/testing';
import { describe, expect, it } from 'vitest';
import { createSpool, type SpoolError } from '../src/index.js';
import { codeOf, tempTree } from './spoolFixtures.js';

async function* chunks(...parts: string[]) {
  for (const part of parts) yield part;
}

describe('staging', () => {
  it('reads staged content, else the disk, and never writes before commit', async () => {
    await using tree = await tempTree({ 'a.txt': 'disk\n' });
    await using spool = createSpool({ root: tree.dir });
    expect(await spool.readText('a.txt')).toBe('disk\n');
    await spool.write('a.txt', 'staged\n');
    await spool.write('b/c.txt', new Uint8Array([104, 105]));
    await spool.write('d.txt', chunks('str', 'eam'));
    expect(await spool.readText('a.txt')).toBe('staged\n');
    expect(await spool.readText('b/c.txt')).toBe('hi');
    expect(await spool.readText('d.txt')).toBe('stream');
    expect(await readFile(tree.file('a.txt'), 'utf8')).toBe('disk\n');
    expect(await readdir(tree.dir)).toEqual(['a.txt']);
    expect(spool.touched()).toEqual([
      { path: 'a.txt', kind: 'modified', size: 7, baseSize: 5 },
      { path: 'b/c.txt', kind: 'added', size: 2, baseSize: 0 },
      { path: 'd.txt', kind: 'added', size: 6, baseSize: 0 },
    ]);
  });

  it('replace, remove and exists follow the staged state', async () => {
    await using tree = await tempTree({ 'a.txt': 'one\n', 'b.txt': 'bee\n' });
    await using spool = createSpool({ root: tree.dir });
    await spool.replace('a.txt', (text) => `${text}two\n`);
    await spool.replace('new.txt', (text) => (text === undefined ? 'created\n' : 'wrong'));
    await spool.remove('b.txt');
    expect(await spool.readText('a.txt')).toBe('one\ntwo\n');
    expect(await spool.exists('b.txt')).toBe(false);
    expect(await spool.exists('new.txt')).toBe(true);
    expect(await spool.exists('none.txt')).toBe(false);
    expect(await codeOf(spool.read('b.txt'))).toBe('SPOOL_NOT_FOUND');
    expect(await codeOf(spool.read('none.txt'))).toBe('SPOOL_NOT_FOUND');
    await spool.replace('a.txt', () => null);
    expect(spool.touched().map((t) => [t.path, t.kind])).toEqual([
      ['a.txt', 'deleted'],
      ['b.txt', 'deleted'],
      ['new.txt', 'added'],
    ]);
  });

  it('drops an edit that brings a file back to its disk content', async () => {
    await using tree = await tempTree({ 'a.txt': 'same\n' });
    await using spool = createSpool({ root: tree.dir });
    await spool.write('a.txt', 'changed\n');
    await spool.write('a.txt', 'same\n');
    await spool.write('n.txt', 'x');
    await spool.remove('n.txt');
    expect(spool.touched()).toEqual([]);
  });

  it('batch coalesces the edits of a path into its final state, and drops what equals the base', async () => {
    await using tree = await tempTree({ 'a.txt': 'a\n', 'b.txt': 'b\n' });
    await using spool = createSpool({ root: tree.dir });
    let replacerCalls = 0;
    const neverRead = {
      [Symbol.asyncIterator]() {
        throw new Error('an overwritten write must not be materialized');
      },
    };
    await spool.batch([
      { op: 'write', path: 'a.txt', data: neverRead as unknown as AsyncIterable<string> },
      { op: 'write', path: 'a.txt', data: 'A\n' },
      {
        op: 'replace',
        path: 'a.txt',
        fn: (t) => {
          replacerCalls++;
          return `${t}A2\n`;
        },
      },
      { op: 'write', path: 'b.txt', data: 'changed\n' },
      { op: 'replace', path: 'b.txt', fn: () => 'b\n' },
      { op: 'write', path: 'c.txt', data: 'c\n' },
      { op: 'remove', path: 'c.txt' },
      { op: 'replace', path: './d//e.txt', fn: (t) => `${t ?? ''}e\n` },
    ]);
    expect(replacerCalls).toBe(1);
    expect(await spool.readText('a.txt')).toBe('A\nA2\n');
    expect(spool.touched().map((t) => `${t.kind} ${t.path}`)).toEqual(['modified a.txt', 'added d/e.txt']);
  });

  it('batch is all or nothing: a bad path or a failing replacer stages none of it', async () => {
    await using tree = await tempTree({ 'a.txt': 'a\n' });
    await using spool = createSpool({ root: tree.dir });
    expect(
      await codeOf(
        spool.batch([
          { op: 'write', path: 'a.txt', data: 'x' },
          { op: 'write', path: '../escape', data: 'x' },
        ]),
      ),
    ).toBe('SPOOL_PATH_ESCAPE');
    await expect(
      spool.batch([
        { op: 'write', path: 'a.txt', data: 'x' },
        {
          op: 'replace',
          path: 'b.txt',
          fn: () => {
            throw new Error('replacer failed');
          },
        },
      ]),
    ).rejects.toThrow('replacer failed');
    expect(await codeOf(spool.batch([{ op: 'move', path: 'a.txt' } as never]))).toBe(
      'SPOOL_INVALID_ARGUMENT',
    );
    expect(spool.touched()).toEqual([]);
  });

  it('runs the operations on one path in order, even when the first is slower', async () => {
    await using tree = await tempTree();
    await using spool = createSpool({ root: tree.dir, concurrency: 4 });
    let release: () => void = () => {};
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    async function* slow() {
      await gate;
      yield 'first';
    }
    const first = spool.write('f.txt', slow());
    const second = spool.replace('f.txt', (t) => `${t} then second`);
    const other = spool.write('g.txt', 'disjoint paths do not wait');
    await other;
    release();
    await Promise.all([first, second]);
    expect(await spool.readText('f.txt')).toBe('first then second');
  });

  it('runs disjoint paths in parallel, never more than `concurrency` at once', async () => {
    await using tree = await tempTree();
    await using spool = createSpool({ root: tree.dir, concurrency: 3 });
    let running = 0;
    let peak = 0;
    let release: () => void = () => {};
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const writes = Array.from({ length: 8 }, (_, i) =>
      spool.replace(`f${i}.txt`, async () => {
        peak = Math.max(peak, ++running);
        await gate;
        running--;
        return `${i}`;
      }),
    );
    while (peak < 3) await new Promise((resolve) => setImmediate(resolve));
    release();
    await Promise.all(writes);
    expect(peak).toBe(3);
    expect(spool.touched()).toHaveLength(8);
  });

  it('refuses bad arguments with clear errors', async () => {
    await using tree = await tempTree();
    expect(() => createSpool({ root: '' })).toThrow(/root/);
    expect(() => createSpool({ root: tree.dir, maxFileBytes: -1 })).toThrow(/maxFileBytes/);
    expect(() => createSpool({ root: tree.dir, diff: { context: Number.NaN } })).toThrow(/diff.context/);
    expect(() => createSpool({ root: tree.dir, validators: ['no' as never] })).toThrow(/functions/);
    await using missing = createSpool({ root: path.join(tree.dir, 'nope') });
    expect(await codeOf(missing.read('a'))).toBe('SPOOL_INVALID_ARGUMENT');
    await using spool = createSpool({ root: tree.dir });
    expect(await codeOf(spool.write('a', 42 as never))).toBe('SPOOL_INVALID_ARGUMENT');
    expect(await codeOf(spool.write('', 'x'))).toBe('SPOOL_INVALID_ARGUMENT');
    expect(await codeOf(spool.replace('a', 'x' as never))).toBe('SPOOL_INVALID_ARGUMENT');
  });

  it('fails with SPOOL_CLOSED after close, and honours an aborted signal', async () => {
    await using tree = await tempTree();
    const spool = createSpool({ root: tree.dir });
    const aborted = AbortSignal.abort(new Error('stop'));
    await expect(spool.write('a', 'x', { signal: aborted })).rejects.toThrow('stop');
    await spool.close();
    expect(await codeOf(spool.write('a', 'x'))).toBe('SPOOL_CLOSED');
  });
});

describe('path safety', () => {
  const attacks = [
    '/etc/passwd',
    '../outside.txt',
    'a/../../outside.txt',
    'a/b/../../../x',
    'nul\0byte',
    '..\\..\\windows',
    'a\\b',
    'C:/windows/system32',
    'c:evil',
    '.',
    './',
    'a/..',
    '.ordo-spool/journal.json',
  ];
  for (const attack of attacks) {
    it(`refuses ${JSON.stringify(attack)}`, async () => {
      await using tree = await tempTree();
      await using spool = createSpool({ root: tree.dir });
      for (const call of [
        spool.write(attack, 'x'),
        spool.read(attack),
        spool.remove(attack),
        spool.exists(attack),
      ]) {
        expect(await codeOf(call)).toBe('SPOOL_PATH_ESCAPE');
      }
      expect(spool.touched()).toEqual([]);
    });
  }

  it('refuses symlinks that lead outside the root, and follows those that stay inside', async () => {
    await using outside = await tempTree({ 'secret.txt': 'secret\n' });
    await using tree = await tempTree({ 'inside/real.txt': 'real\n' });
    await symlink(outside.dir, tree.file('out'));
    await symlink(outside.file('secret.txt'), tree.file('leak.txt'));
    await symlink(tree.file('inside'), tree.file('alias'));
    await symlink(path.join(outside.dir, 'missing'), tree.file('dangling'));
    await using spool = createSpool({ root: tree.dir });
    expect(await codeOf(spool.read('out/secret.txt'))).toBe('SPOOL_PATH_ESCAPE');
    expect(await codeOf(spool.write('out/new.txt', 'x'))).toBe('SPOOL_PATH_ESCAPE');
    expect(await codeOf(spool.read('leak.txt'))).toBe('SPOOL_PATH_ESCAPE');
    expect(await codeOf(spool.write('dangling', 'x'))).toBe('SPOOL_PATH_ESCAPE');
    expect(await spool.readText('alias/real.txt')).toBe('real\n');
  });

  it('checks again at commit: a directory swapped for an outside symlink after staging is refused', async () => {
    await using outside = await tempTree();
    await using tree = await tempTree({ 'dir/a.txt': 'a\n' });
    await using spool = createSpool({ root: tree.dir });
    await spool.write('dir/b.txt', 'b\n');
    await rename(tree.file('dir'), tree.file('moved'));
    await symlink(outside.dir, tree.file('dir'));
    expect(await codeOf(spool.commit())).toBe('SPOOL_PATH_ESCAPE');
    expect(await readdir(outside.dir)).toEqual([]);
  });
});

describe('size limits and spilling', () => {
  it('refuses files over maxFileBytes on read and on write', async () => {
    await using tree = await tempTree({ 'big.txt': 'x'.repeat(100) });
    await using spool = createSpool({ root: tree.dir, maxFileBytes: 50 });
    expect(await codeOf(spool.read('big.txt'))).toBe('SPOOL_TOO_LARGE');
    expect(await codeOf(spool.replace('big.txt', () => 'small'))).toBe('SPOOL_TOO_LARGE');
    expect(await codeOf(spool.write('new.txt', 'y'.repeat(51)))).toBe('SPOOL_TOO_LARGE');
    expect(await codeOf(spool.write('new.txt', chunks('y'.repeat(30), 'y'.repeat(30))))).toBe(
      'SPOOL_TOO_LARGE',
    );
    expect(spool.touched()).toEqual([]);
  });

  it('spills content above the threshold to temp files, and removes them on reset, commit and close', async () => {
    await using tree = await tempTree({ 'a.txt': 'small\n' });
    await using spills = await tempTree();
    const spool = createSpool({ root: tree.dir, spillThresholdBytes: 16, spillDir: spills.dir });
    const spillFiles = async () => {
      const [dir] = await readdir(spills.dir);
      return dir ? readdir(path.join(spills.dir, dir)) : [];
    };
    await spool.write('a.txt', 'a'.repeat(100));
    await spool.write('b.txt', chunks('b'.repeat(10), 'b'.repeat(10), 'b'.repeat(10)));
    await spool.write('c.txt', 'tiny');
    expect(await spillFiles()).toHaveLength(2);
    expect(await spool.readText('b.txt')).toBe('b'.repeat(30));
    const streamed: string[] = [];
    for await (const chunk of spool.stream('a.txt')) streamed.push(chunk.toString());
    expect(streamed.join('')).toBe('a'.repeat(100));
    await spool.write('a.txt', 'a'.repeat(101));
    expect(await spillFiles()).toHaveLength(2);
    await spool.reset(['b.txt']);
    expect(await spillFiles()).toHaveLength(1);
    expect(spool.touched().map((t) => t.path)).toEqual(['a.txt', 'c.txt']);
    await spool.commit();
    expect(await spillFiles()).toHaveLength(0);
    expect(await readFile(tree.file('a.txt'), 'utf8')).toBe('a'.repeat(101));
    await spool.write('d.txt', 'd'.repeat(100));
    await spool.close();
    expect(await readdir(spills.dir)).toEqual([]);
  });
});

describe('commit', () => {
  it('writes adds, modifies and deletes, keeps modes, and empties the spool', async () => {
    await using tree = await tempTree({ 'run.sh': '#!/bin/sh\n', 'gone.txt': 'x', 'same.txt': 'same' });
    await chmod(tree.file('run.sh'), 0o750);
    const before = await stat(tree.file('same.txt'));
    const clock = new ManualClock();
    await using spool = createSpool({
      root: tree.dir,
      clock,
      testHooks: { beforeReplace: () => clock.advance(7) },
    });
    await spool.write('run.sh', '#!/bin/sh\necho hi\n');
    await spool.write('deep/new/file.txt', 'new\n');
    await spool.remove('gone.txt');
    const result = await spool.commit();
    expect(result.committed.map((c) => `${c.kind} ${c.path}`)).toEqual([
      'added deep/new/file.txt',
      'deleted gone.txt',
      'modified run.sh',
    ]);
    expect(result.bytesWritten).toBe(4 + 18);
    expect(result.durationMs).toBe(21);
    expect(await readFile(tree.file('run.sh'), 'utf8')).toBe('#!/bin/sh\necho hi\n');
    expect((await stat(tree.file('run.sh'))).mode & 0o777).toBe(0o750);
    expect(await readFile(tree.file('deep/new/file.txt'), 'utf8')).toBe('new\n');
    expect((await readdir(tree.dir)).sort()).toEqual(['deep', 'run.sh', 'same.txt']);
    expect((await stat(tree.file('same.txt'))).mtimeMs).toBe(before.mtimeMs);
    expect(spool.touched()).toEqual([]);
    expect(await spool.commit()).toEqual({ committed: [], bytesWritten: 0, durationMs: 0 });
  });

  it('refuses with SPOOL_CONFLICT when a file changed on disk since it was staged, and writes nothing', async () => {
    await using tree = await tempTree({ 'a.txt': 'a\n', 'b.txt': 'b\n' });
    await using spool = createSpool({ root: tree.dir });
    await spool.write('a.txt', 'mine a\n');
    await spool.write('b.txt', 'mine b\n');
    await writeFile(tree.file('b.txt'), 'theirs\n');
    const error = (await spool.commit().catch((e: unknown) => e)) as SpoolError;
    expect(error.code).toBe('SPOOL_CONFLICT');
    expect(error.details).toMatchObject({ path: 'b.txt', paths: ['b.txt'] });
    expect(error.message).toMatch(/b\.txt changed on disk/);
    expect(await readFile(tree.file('a.txt'), 'utf8')).toBe('a\n');
    expect(await readFile(tree.file('b.txt'), 'utf8')).toBe('theirs\n');
    expect(await codeOf(spool.diff('b.txt'))).toBe('SPOOL_CONFLICT');
    await spool.reset(['b.txt']);
    await spool.commit();
    expect(await readFile(tree.file('a.txt'), 'utf8')).toBe('mine a\n');
  });

  it('conflicts when a file staged as new was created meanwhile', async () => {
    await using tree = await tempTree();
    await using spool = createSpool({ root: tree.dir });
    await spool.write('n.txt', 'mine\n');
    await writeFile(tree.file('n.txt'), 'theirs\n');
    expect(await codeOf(spool.commit())).toBe('SPOOL_CONFLICT');
    expect(await readFile(tree.file('n.txt'), 'utf8')).toBe('theirs\n');
  });

  it('two spools racing on one file: exactly one wins, the other gets SPOOL_CONFLICT, the file holds one version', async () => {
    for (let round = 0; round < 10; round++) {
      await using tree = await tempTree({ 'shared.txt': 'base\n'.repeat(1000), 'other.txt': 'o\n' });
      await using one = createSpool({ root: tree.dir });
      await using two = createSpool({ root: tree.dir });
      await one.write('shared.txt', 'one\n'.repeat(1000));
      await one.write('other.txt', 'from one\n');
      await two.write('shared.txt', 'two\n'.repeat(2000));
      const results = await Promise.allSettled([one.commit(), two.commit()]);
      const won = results.filter((r) => r.status === 'fulfilled');
      const lost = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
      expect(won).toHaveLength(1);
      expect(lost).toHaveLength(1);
      expect((lost[0]?.reason as SpoolError).code).toBe('SPOOL_CONFLICT');
      const content = await readFile(tree.file('shared.txt'), 'utf8');
      expect([`${'one\n'.repeat(1000)}`, `${'two\n'.repeat(2000)}`]).toContain(content);
      const winner = results[0]?.status === 'fulfilled' ? 'one' : 'two';
      expect(await readFile(tree.file('other.txt'), 'utf8')).toBe(winner === 'one' ? 'from one\n' : 'o\n');
    }
  });

  it('a crash between renames restores the files already replaced and says so', async () => {
    await using tree = await tempTree({ 'a.txt': 'old a\n', 'c.txt': 'old c\n', 'd.txt': 'old d\n' });
    const logger = new RecordingLogger();
    await using spool = createSpool({
      root: tree.dir,
      logger,
      testHooks: {
        beforeReplace: (_path, index) => {
          if (index === 3) throw new Error('simulated crash');
        },
      },
    });
    await spool.write('a.txt', 'new a\n');
    await spool.write('b/new.txt', 'new b\n');
    await spool.remove('c.txt');
    await spool.write('d.txt', 'new d\n');
    const error = (await spool.commit().catch((e: unknown) => e)) as SpoolError;
    expect(error.code).toBe('SPOOL_COMMIT_FAILED');
    expect(error.message).toMatch(/3 file\(s\) already replaced were restored/);
    expect(error.message).toMatch(/simulated crash/);
    expect(await readFile(tree.file('a.txt'), 'utf8')).toBe('old a\n');
    expect(await readFile(tree.file('c.txt'), 'utf8')).toBe('old c\n');
    expect(await readFile(tree.file('d.txt'), 'utf8')).toBe('old d\n');
    expect((await readdir(tree.dir)).sort()).toEqual(['a.txt', 'c.txt', 'd.txt']);
    expect(spool.touched()).toHaveLength(4);
    expect(logger.at('warn')).toMatchObject([
      { msg: 'spool commit failed and was rolled back', fields: { restored: 3 } },
    ]);
  });

  it('a failure while writing the replacement files leaves the tree untouched', async () => {
    await using tree = await tempTree({ 'a.txt': 'a\n' });
    await using spills = await tempTree();
    await using spool = createSpool({ root: tree.dir, spillThresholdBytes: 10, spillDir: spills.dir });
    await spool.write('a.txt', 'new\n');
    await spool.write('sub/dir/x.txt', 'x\n');
    await spool.write('z/big.txt', 'spilled content');
    const [dir] = await readdir(spills.dir);
    await rm(path.join(spills.dir, dir as string), { recursive: true });
    const error = (await spool.commit().catch((e: unknown) => e)) as SpoolError;
    expect(error.code).toBe('SPOOL_COMMIT_FAILED');
    expect(error.message).toMatch(/no file of the tree was touched/);
    expect(await readFile(tree.file('a.txt'), 'utf8')).toBe('a\n');
    expect(await readdir(tree.dir)).toEqual(['a.txt']);
  });
});

describe('rollback from backups', () => {
  it('restores replaced and deleted files from their hard-link backups; a retry then commits', async () => {
    await using tree = await tempTree({
      'a.txt': 'old a\n'.repeat(10),
      'b.txt': 'old b\n'.repeat(10),
      'c.txt': 'old c\n',
    });
    await using spool = createSpool({
      root: tree.dir,
      spillThresholdBytes: 8,
      testHooks: {
        beforeReplace: (p) => {
          if (p === 'c.txt') throw new Error('simulated crash');
        },
      },
    });
    await spool.write('a.txt', 'new a\n'.repeat(10));
    await spool.remove('b.txt');
    await spool.write('c.txt', 'new c\n');
    expect(await codeOf(spool.commit())).toBe('SPOOL_COMMIT_FAILED');
    expect(await readFile(tree.file('a.txt'), 'utf8')).toBe('old a\n'.repeat(10));
    expect(await readFile(tree.file('b.txt'), 'utf8')).toBe('old b\n'.repeat(10));
    expect(await readFile(tree.file('c.txt'), 'utf8')).toBe('old c\n');
    expect((await readdir(tree.dir)).sort()).toEqual(['a.txt', 'b.txt', 'c.txt']);
    await using retry = createSpool({ root: tree.dir, spillThresholdBytes: 8 });
    await retry.write('a.txt', 'new a\n'.repeat(10));
    await retry.remove('b.txt');
    await retry.commit();
    expect((await readdir(tree.dir)).sort()).toEqual(['a.txt', 'c.txt']);
    expect(await readFile(tree.file('a.txt'), 'utf8')).toBe('new a\n'.repeat(10));
  });
});

it('copies written bytes: reusing the array after write() changes nothing', async () => {
  await using tree = await tempTree();
  await using spool = createSpool({ root: tree.dir });
  const bytes = new Uint8Array([97, 98]);
  await spool.write('a.txt', bytes);
  bytes[0] = 122;
  expect(await spool.readText('a.txt')).toBe('ab');
});
