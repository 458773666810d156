import { readdir, readFile, rename, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from '../../../vitest.tempDirs.js';
import { createSpool, type SpoolCommitMode } from '../src/index.js';
import { setDescriptorPathsForTest } from '../src/internal/tree.js';
import { codeOf, tempTree } from './spoolFixtures.js';

/*
 * Where `/proc/self/fd` is missing (not Linux), the spool walks checked paths instead of descriptors: each
 * directory lstat-ed (no symlink, its device and inode) and checked again after the operation. The same
 * behaviour, run here on Linux with descriptors turned off.
 */

beforeAll(() => setDescriptorPathsForTest(false));
afterAll(() => setDescriptorPathsForTest(undefined));

describe('without descriptor paths', () => {
  it.each([
    'rename',
    'in-place',
  ] as SpoolCommitMode[])('stages, diffs, reads and commits (%s)', async (commitMode) => {
    await using tree = await tempTree({ 'a.txt': 'a\n', 'd/b.txt': 'b\n', 'gone.txt': 'g\n' });
    await using spool = createSpool({ root: tree.dir, commitMode });
    await spool.write('a.txt', 'new a\n');
    await spool.replace('d/b.txt', (t) => `${t}more\n`);
    await spool.write('new/deep/c.txt', 'c\n');
    await spool.remove('gone.txt');
    expect(await spool.readText('d/b.txt')).toBe('b\nmore\n');
    expect(await spool.diff('a.txt')).toContain('+new a');
    await spool.commit();
    expect(await readFile(tree.file('a.txt'), 'utf8')).toBe('new a\n');
    expect(await readFile(tree.file('d/b.txt'), 'utf8')).toBe('b\nmore\n');
    expect(await readFile(tree.file('new/deep/c.txt'), 'utf8')).toBe('c\n');
    expect((await readdir(tree.dir)).sort()).toEqual(['a.txt', 'd', 'new']);
    expect(await spool.readText('a.txt')).toBe('new a\n');
  });

  it.each([
    'rename',
    'in-place',
  ] as SpoolCommitMode[])('a directory swapped for an outside symlink after staging is refused, and nothing outside changes (%s)', async (commitMode) => {
    await using tree = await tempTree({ 'dir/a.txt': 'a\n' });
    const outside = await tempDir('ordo-spool-walk-outside-');
    await writeFile(path.join(outside, 'a.txt'), 'OUTSIDE\n');
    await using spool = createSpool({ root: tree.dir, commitMode });
    await spool.write('dir/a.txt', 'new\n');
    await rename(tree.file('dir'), tree.file('dir.real'));
    await symlink(outside, tree.file('dir'));
    expect(await codeOf(spool.commit())).toBe('SPOOL_PATH_ESCAPE');
    expect(await codeOf(spool.read('dir/other.txt'))).toBe('SPOOL_PATH_ESCAPE');
    expect(await readFile(path.join(outside, 'a.txt'), 'utf8')).toBe('OUTSIDE\n');
    expect(await readdir(outside)).toEqual(['a.txt']);
  });

  it('the reserved directory stays unreachable', async () => {
    await using tree = await tempTree({ 'a.txt': 'a\n' });
    await symlink('.', tree.file('alias'));
    await using spool = createSpool({ root: tree.dir });
    expect(await codeOf(spool.write('alias/.ordo-spool/x.rollback', 'x'))).toBe('SPOOL_PATH_ESCAPE');
  });
});
