import { execFile } from 'node:child_process';
import { appendFile, chmod, mkdir, readdir, readFile, rm, stat, truncate, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { createSpool, type SpoolError } from '../src/index.js';
import { codeOf, everything, tempTree } from './spoolFixtures.js';

const run = promisify(execFile);

describe('commit pipeline: every file checked and prepared before any is replaced', () => {
  it('holds a backup of each existing file and a temp file of each new content when the first rename runs', async () => {
    const files = Object.fromEntries(
      Array.from({ length: 40 }, (_, i) => [`d${i % 4}/f${i}.txt`, `old ${i}\n`]),
    );
    await using tree = await tempTree(files);
    const seen: Array<{ backups: string[]; temps: string[]; targets: string[] }> = [];
    // Taken by the first call; the other calls wait for it, so no file is renamed before it is done.
    let snapshot: Promise<void> | undefined;
    const takeSnapshot = async () => {
      const journalDir = tree.file('.ordo-spool');
      const [backupDir] = (await readdir(journalDir)).filter((n) => !n.endsWith('.json'));
      const backups = await readdir(path.join(journalDir, backupDir as string));
      const all = await everything(tree.dir);
      const temps = await Promise.all(
        all.filter((p) => p.endsWith('.tmp')).map((p) => readFile(tree.file(p), 'utf8')),
      );
      const targets = await Promise.all(Object.keys(files).map((p) => readFile(tree.file(p), 'utf8')));
      const backupTexts = await Promise.all(
        backups.map((b) => readFile(path.join(journalDir, backupDir as string, b), 'utf8')),
      );
      seen.push({ backups: backupTexts, temps, targets });
    };
    await using spool = createSpool({
      root: tree.dir,
      concurrency: 4,
      testHooks: {
        beforeReplace: async () => {
          snapshot ??= takeSnapshot();
          await snapshot;
        },
      },
    });
    for (const [p, text] of Object.entries(files)) await spool.write(p, text.replace('old', 'new'));
    await spool.write('d9/added.txt', 'added\n');
    await spool.commit();
    const [first] = seen;
    expect(first?.backups.sort()).toEqual(Object.values(files).sort());
    expect(first?.temps.sort()).toEqual(
      [...Object.values(files).map((t) => t.replace('old', 'new')), 'added\n'].sort(),
    );
    expect(first?.targets).toEqual(Object.values(files));
    for (const [p, text] of Object.entries(files)) {
      expect(await readFile(tree.file(p), 'utf8')).toBe(text.replace('old', 'new'));
    }
    expect((await everything(tree.dir)).filter((p) => p.includes('.ordo'))).toEqual([]);
  });

  it('a stale file late in path order stops the commit: no temp file, backup or journal is left, nothing replaced', async () => {
    const files = Object.fromEntries(
      Array.from({ length: 30 }, (_, i) => [`f${String(i).padStart(2, '0')}.txt`, `${i}\n`]),
    );
    await using tree = await tempTree(files);
    await using spool = createSpool({ root: tree.dir, concurrency: 3 });
    for (const p of Object.keys(files)) await spool.write(p, `mine ${p}\n`);
    // First in path order, so its directories are made before the stale file is found, then removed.
    await spool.write('a-new/dir/added.txt', 'added\n');
    await writeFile(tree.file('f29.txt'), 'theirs\n');
    const error = (await spool.commit().catch((e: unknown) => e)) as SpoolError;
    expect(error.code).toBe('SPOOL_CONFLICT');
    expect(error.details).toMatchObject({ paths: ['f29.txt'] });
    expect(await everything(tree.dir)).toEqual(Object.keys(files).sort());
    for (const [p, text] of Object.entries(files)) {
      expect(await readFile(tree.file(p), 'utf8')).toBe(p === 'f29.txt' ? 'theirs\n' : text);
    }
    expect(spool.touched()).toHaveLength(31);
  });

  it('names every stale file, in path order', async () => {
    await using tree = await tempTree({ 'a.txt': 'a\n', 'b.txt': 'b\n', 'c.txt': 'c\n', 'd.txt': 'd\n' });
    await using spool = createSpool({ root: tree.dir, concurrency: 1 });
    for (const p of ['a.txt', 'b.txt', 'c.txt', 'd.txt']) await spool.write(p, 'mine\n');
    await writeFile(tree.file('d.txt'), 'theirs\n');
    await writeFile(tree.file('b.txt'), 'theirs\n');
    const error = (await spool.commit().catch((e: unknown) => e)) as SpoolError;
    expect(error.details).toMatchObject({ path: 'b.txt', paths: ['b.txt', 'd.txt'] });
    expect(await readFile(tree.file('a.txt'), 'utf8')).toBe('a\n');
  });
});

describe('conflict check of the commit', () => {
  const changes: Array<[string, (file: string) => Promise<unknown>]> = [
    ['grew by an append', (file) => appendFile(file, 'more\n')],
    ['was truncated to a prefix', (file) => truncate(file, 2)],
    ['got other bytes of the same size', (file) => writeFile(file, 'BASE\nbase\n')],
    ['was emptied', (file) => writeFile(file, '')],
    [
      'became a directory',
      async (file) => {
        await rm(file);
        await mkdir(file);
      },
    ],
    ['was removed', (file) => rm(file)],
  ];
  for (const [what, change] of changes) {
    it(`refuses with SPOOL_CONFLICT when the file ${what} since it was staged`, async () => {
      await using tree = await tempTree({ 'a.txt': 'base\nbase\n', 'other.txt': 'o\n' });
      await using spool = createSpool({ root: tree.dir });
      await spool.write('a.txt', 'mine\n');
      await spool.write('other.txt', 'mine too\n');
      await change(tree.file('a.txt'));
      expect(await codeOf(spool.commit())).toBe('SPOOL_CONFLICT');
      expect(await readFile(tree.file('other.txt'), 'utf8')).toBe('o\n');
    });
  }

  it('an empty file staged against its empty base commits', async () => {
    await using tree = await tempTree({ 'empty.txt': '' });
    await using spool = createSpool({ root: tree.dir });
    await spool.write('empty.txt', 'now full\n');
    await spool.commit();
    expect(await readFile(tree.file('empty.txt'), 'utf8')).toBe('now full\n');
  });

  it('a FIFO put in place of a staged file is a conflict, not a hang', async () => {
    await using tree = await tempTree({ 'a.txt': 'base\n' });
    await using spool = createSpool({ root: tree.dir });
    await spool.write('a.txt', 'mine\n');
    await rm(tree.file('a.txt'));
    await run('mkfifo', [tree.file('a.txt')]);
    expect(await codeOf(spool.commit())).toBe('SPOOL_CONFLICT');
    expect((await stat(tree.file('a.txt'))).isFIFO()).toBe(true);
  });

  it('a directory created where a new file was staged is a conflict', async () => {
    await using tree = await tempTree();
    await using spool = createSpool({ root: tree.dir });
    await spool.write('n.txt', 'mine\n');
    await mkdir(tree.file('n.txt'));
    expect(await codeOf(spool.commit())).toBe('SPOOL_CONFLICT');
  });

  it('files above the spill threshold are checked by streaming them', async () => {
    await using tree = await tempTree({ 'big.txt': 'x'.repeat(100), 'big2.txt': 'y'.repeat(100) });
    await using spool = createSpool({ root: tree.dir, spillThresholdBytes: 16 });
    await spool.write('big.txt', 'z'.repeat(100));
    await spool.write('big2.txt', 'w'.repeat(100));
    await writeFile(tree.file('big2.txt'), `${'y'.repeat(99)}Y`);
    const error = (await spool.commit().catch((e: unknown) => e)) as SpoolError;
    expect(error.details).toMatchObject({ paths: ['big2.txt'] });
    await spool.reset(['big2.txt']);
    await spool.commit();
    expect(await readFile(tree.file('big.txt'), 'utf8')).toBe('z'.repeat(100));
  });
});

describe('modes of replaced files', () => {
  it('keeps every mode, in a directory with files of one mode and of several', async () => {
    const modes: Record<string, number> = {
      'same/a': 0o644,
      'same/b': 0o644,
      'same/c': 0o644,
      'mixed/private': 0o600,
      'mixed/group-write': 0o664,
      'mixed/group-write-2': 0o664,
      'mixed/exec': 0o755,
      'mixed/setuid': 0o4755,
      'mixed/world': 0o666,
    };
    await using tree = await tempTree(Object.fromEntries(Object.keys(modes).map((p) => [p, `old ${p}\n`])));
    for (const [p, mode] of Object.entries(modes)) await chmod(tree.file(p), mode);
    await using spool = createSpool({ root: tree.dir, concurrency: 2 });
    for (const p of Object.keys(modes)) await spool.write(p, `new ${p}\n`);
    await spool.commit();
    for (const [p, mode] of Object.entries(modes)) {
      expect({ p, mode: (await stat(tree.file(p))).mode & 0o7777 }).toEqual({ p, mode });
      expect(await readFile(tree.file(p), 'utf8')).toBe(`new ${p}\n`);
    }
  });

  it('keeps modes that the umask of a child process would strip', async () => {
    await using tree = await tempTree({ 'a.sh': 'old\n', 'b.sh': 'old\n', 'c.txt': 'old\n' });
    await chmod(tree.file('a.sh'), 0o775);
    await chmod(tree.file('b.sh'), 0o775);
    await chmod(tree.file('c.txt'), 0o666);
    const script = [
      "import { createSpool } from './src/index.ts';",
      'process.umask(0o077);',
      'const spool = createSpool({ root: process.argv[1] });',
      "for (const p of ['a.sh', 'b.sh', 'c.txt']) await spool.write(p, 'new\\n');",
      'await spool.commit();',
    ].join('\n');
    await run(
      process.execPath,
      ['--conditions=@ordo/source', '--import', 'tsx', '--input-type=module', '-e', script, tree.dir],
      { cwd: fileURLToPath(new URL('..', import.meta.url)) },
    );
    expect((await stat(tree.file('a.sh'))).mode & 0o777).toBe(0o775);
    expect((await stat(tree.file('b.sh'))).mode & 0o777).toBe(0o775);
    expect((await stat(tree.file('c.txt'))).mode & 0o777).toBe(0o666);
    expect(await readFile(tree.file('c.txt'), 'utf8')).toBe('new\n');
  });
});
