import { chmod, link, readFile, stat, writeFile } from 'node:fs/promises';
import { isOrdoError } from '@ordo/contracts';
import { RecordingLogger } from '@ordo/contracts/testing';
import { describe, expect, it } from 'vitest';
import { createSpool, type SpoolCommitMode } from '../src/index.js';
import { codeOf, everything, tempTree } from './spoolFixtures.js';

const modeOf = async (file: string) => (await stat(file)).mode & 0o7777;

describe("commitMode 'in-place'", () => {
  for (const fsync of [true, false]) {
    it(`overwrites, creates and deletes files, keeping inodes and modes (fsync ${fsync ? 'on' : 'off'})`, async () => {
      await using tree = await tempTree({ 'a.txt': 'old a\n', 'x/b.sh': '#!/bin/sh\n', 'gone.txt': 'bye\n' });
      await chmod(tree.file('x/b.sh'), 0o750);
      await chmod(tree.file('a.txt'), 0o600);
      const inodeBefore = (await stat(tree.file('a.txt'))).ino;
      await using spool = createSpool({ root: tree.dir, commitMode: 'in-place', fsync });
      await spool.write('a.txt', 'new a\n');
      await spool.write('x/b.sh', '#!/bin/sh\necho hi\n');
      await spool.write('new/deep/c.txt', 'added\n');
      await spool.remove('gone.txt');
      const result = await spool.commit();

      expect(result.committed.map((c) => `${c.kind} ${c.path}`)).toEqual([
        'modified a.txt',
        'deleted gone.txt',
        'added new/deep/c.txt',
        'modified x/b.sh',
      ]);
      expect(await readFile(tree.file('a.txt'), 'utf8')).toBe('new a\n');
      expect(await readFile(tree.file('x/b.sh'), 'utf8')).toBe('#!/bin/sh\necho hi\n');
      expect(await readFile(tree.file('new/deep/c.txt'), 'utf8')).toBe('added\n');
      expect((await stat(tree.file('a.txt'))).ino).toBe(inodeBefore);
      expect(await modeOf(tree.file('a.txt'))).toBe(0o600);
      expect(await modeOf(tree.file('x/b.sh'))).toBe(0o750);
      expect(await everything(tree.dir)).toEqual([
        'a.txt',
        'new',
        'new/deep',
        'new/deep/c.txt',
        'x',
        'x/b.sh',
      ]);
      expect(spool.touched()).toEqual([]);
    });
  }

  it('keeps setuid and setgid bits, which a write by an unprivileged process would clear', async () => {
    await using tree = await tempTree({ tool: 'v1\n' });
    await chmod(tree.file('tool'), 0o6755);
    await using spool = createSpool({ root: tree.dir, commitMode: 'in-place' });
    await spool.write('tool', 'v2\n');
    await spool.commit();
    expect(await modeOf(tree.file('tool'))).toBe(0o6755);
  });

  it('writes through hard links (the inode stays), where rename would split them', async () => {
    await using tree = await tempTree({ 'a.txt': 'old\n' });
    await link(tree.file('a.txt'), tree.file('alias.txt'));
    const results: Record<string, string> = {};
    for (const mode of ['in-place', 'rename'] as SpoolCommitMode[]) {
      await writeFile(tree.file('a.txt'), 'old\n');
      await using spool = createSpool({ root: tree.dir, commitMode: mode });
      await spool.write('a.txt', `new ${mode}\n`);
      await spool.commit();
      results[mode] = await readFile(tree.file('alias.txt'), 'utf8');
      if (mode === 'rename') expect(await readFile(tree.file('a.txt'), 'utf8')).toBe('new rename\n');
    }
    expect(results).toEqual({ 'in-place': 'new in-place\n', rename: 'old\n' });
  });

  it('on a conflict writes nothing at all, names every stale file, and keeps the edits', async () => {
    await using tree = await tempTree({ 'a.txt': 'a\n', 'b.txt': 'b\n', 'c.txt': 'c\n' });
    await using spool = createSpool({ root: tree.dir, commitMode: 'in-place' });
    await spool.write('a.txt', 'A\n');
    await spool.write('b.txt', 'B\n');
    await spool.write('c.txt', 'C\n');
    await spool.write('d.txt', 'D\n');
    await writeFile(tree.file('b.txt'), 'theirs b\n');
    await writeFile(tree.file('d.txt'), 'theirs d\n');
    let caught: unknown;
    await spool.commit().catch((error: unknown) => {
      caught = error;
    });
    expect(isOrdoError(caught, 'SPOOL_CONFLICT')).toBe(true);
    expect((caught as { details: { paths: string[] } }).details.paths).toEqual(['b.txt', 'd.txt']);
    expect(await readFile(tree.file('a.txt'), 'utf8')).toBe('a\n');
    expect(await readFile(tree.file('c.txt'), 'utf8')).toBe('c\n');
    expect(await readFile(tree.file('b.txt'), 'utf8')).toBe('theirs b\n');
    expect(await everything(tree.dir)).toEqual(['a.txt', 'b.txt', 'c.txt', 'd.txt']);
    expect(spool.touched()).toHaveLength(4);
  });

  it('a failure half way puts every file back as it was and says so; the edits stay staged', async () => {
    await using tree = await tempTree({ 'a.txt': 'old a\n', 'b.txt': 'old b\n', 'c.txt': 'old c\n' });
    await chmod(tree.file('c.txt'), 0o640);
    const logger = new RecordingLogger();
    let calls = 0;
    await using spool = createSpool({
      root: tree.dir,
      commitMode: 'in-place',
      concurrency: 1,
      logger,
      testHooks: {
        beforeReplace: () => {
          if (++calls === 4) throw new Error('disk full (injected)');
        },
      },
    });
    await spool.write('a.txt', 'new a\n');
    await spool.remove('c.txt');
    await spool.write('n/added.txt', 'added\n');
    await spool.write('b.txt', 'new b\n');
    let caught: unknown;
    await spool.commit().catch((error: unknown) => {
      caught = error;
    });
    expect(isOrdoError(caught, 'SPOOL_COMMIT_FAILED')).toBe(true);
    expect((caught as Error).message).toContain('the 3 file(s) already written were restored');
    expect(await readFile(tree.file('a.txt'), 'utf8')).toBe('old a\n');
    expect(await readFile(tree.file('b.txt'), 'utf8')).toBe('old b\n');
    expect(await readFile(tree.file('c.txt'), 'utf8')).toBe('old c\n');
    expect(await modeOf(tree.file('c.txt'))).toBe(0o640);
    // In path order, n/added.txt failed before it was created; the journal is gone.
    expect(await everything(tree.dir)).toEqual(['a.txt', 'b.txt', 'c.txt']);
    expect(spool.touched()).toHaveLength(4);
    expect(logger.at('warn')).toMatchObject([{ msg: 'spool commit failed and was rolled back' }]);
  });

  it('does not remove a file someone else created in an added path after the check', async () => {
    await using tree = await tempTree({});
    await using spool = createSpool({
      root: tree.dir,
      commitMode: 'in-place',
      testHooks: { beforeReplace: () => writeFile(tree.file('added.txt'), 'theirs\n') },
    });
    await spool.write('added.txt', 'mine\n');
    expect(await codeOf(spool.commit())).toBe('SPOOL_COMMIT_FAILED');
    expect(await readFile(tree.file('added.txt'), 'utf8')).toBe('theirs\n');
  });

  it('falls back to rename for a commit with a file above spillThresholdBytes', async () => {
    await using tree = await tempTree({ 'small.txt': 'small\n', 'big.txt': 'x'.repeat(100) });
    const inode = async (p: string) => (await stat(tree.file(p))).ino;
    const before = { small: await inode('small.txt'), big: await inode('big.txt') };
    await using spool = createSpool({ root: tree.dir, commitMode: 'in-place', spillThresholdBytes: 64 });
    await spool.write('small.txt', 'SMALL\n');
    await spool.write('big.txt', 'y'.repeat(100));
    await spool.commit();
    // Both replaced by rename: new inodes.
    expect(await inode('small.txt')).not.toBe(before.small);
    expect(await inode('big.txt')).not.toBe(before.big);
    expect(await readFile(tree.file('big.txt'), 'utf8')).toBe('y'.repeat(100));

    await spool.write('small.txt', 'small again\n');
    const small = await inode('small.txt');
    await spool.commit();
    expect(await inode('small.txt')).toBe(small);
  });

  it('refuses an unknown commitMode', async () => {
    await using tree = await tempTree({});
    expect(() => createSpool({ root: tree.dir, commitMode: 'copy' as SpoolCommitMode })).toThrow(
      expect.objectContaining({ code: 'SPOOL_INVALID_ARGUMENT' }),
    );
  });
});
