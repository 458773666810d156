import { execFile } from 'node:child_process';
import { chmod, mkdir, readdir, readFile, realpath, symlink, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import path from 'node:path';
import { isOrdoError } from '@ordo/contracts';
import { describe, expect, it } from 'vitest';
import { tempDir } from '../../../vitest.tempDirs.js';
import { createSpool, recoverSpool } from '../src/index.js';
import { rootKey, seal } from '../src/internal/journalKey.js';
import { codeOf, tempTree } from './spoolFixtures.js';

/*
 * Issue 14, item 4: a journal planted in `.ordo-spool/` made the next recovery write or delete files
 * anywhere. The reserved directory is now refused on the resolved path, and recovery replays only journals
 * sealed with this root's key, of the exact schema, with every path inside the root.
 */

/** The pid of a process that has exited (a journal's owner that is surely dead). */
const deadPid = () =>
  new Promise<number>((resolve) => {
    const exited = execFile(process.execPath, ['-e', '']);
    exited.on('exit', () => resolve(exited.pid as number));
  });

/** A v2 rollback journal (as the in-place commit writes it) restoring `files`, sealed with `key` or a forged MAC. */
function rollbackJournal(
  pid: number,
  files: Array<{ path: string; bytes: Buffer | null; mode?: number }>,
  key: Buffer | 'forged',
): Buffer {
  const header = {
    pid,
    host: hostname(),
    bodyBytes: files.reduce((n, f) => n + (f.bytes?.length ?? 0), 0),
    files: files.map((f) => ({
      path: f.path,
      old: f.bytes && { size: f.bytes.length, mode: f.mode ?? 0o755 },
    })),
  };
  const body = Buffer.concat([
    Buffer.from(`ordo-spool-rollback 2\n${JSON.stringify(header)}\n`),
    ...files.flatMap((f) => (f.bytes ? [f.bytes] : [])),
  ]);
  if (key !== 'forged') return seal(key, body);
  return Buffer.concat([body, Buffer.from(`\nordo-journal-mac ${'ab'.repeat(32)}\n`)]);
}

/** The same journal in the old, unauthenticated version 1 with absolute paths (what the exploit planted). */
function oldRollbackJournal(pid: number, abs: string, bytes: Buffer): Buffer {
  const header = {
    pid,
    host: hostname(),
    bodyBytes: bytes.length,
    files: [{ abs, old: { size: bytes.length, mode: 0o755 } }],
  };
  return Buffer.concat([Buffer.from(`ordo-spool-rollback 1\n${JSON.stringify(header)}\n`), bytes]);
}

/** Every entry under `dir`, sorted. */
const listing = async (dir: string) => (await readdir(dir, { recursive: true })).sort();

describe('the reserved directory is refused on the resolved path', () => {
  const attacks = [
    'alias/.ordo-spool/x.rollback',
    'alias/.ordo-spool/x.json',
    'alias/alias/.ordo-spool/x.rollback',
    '.ORDO-SPOOL/x.rollback',
    'Alias/.Ordo-Spool/x.json',
    'sub/.ordo-spool/x.json',
    '.ordo-spool./x.json',
    '\uFF0Eordo-spool/x.json',
    '.ordo\u200C-spool/x.json',
    '.ordo-spool\uFEFF/x.json',
    'journals/x.rollback',
    'journal-link.json',
  ];

  it.each(
    attacks,
  )('write, replace, remove, read, stream and exists refuse %j, and nothing lands in .ordo-spool/', async (p) => {
    await using tree = await tempTree({ 'a.txt': 'a\n', 'sub/keep.txt': 'k\n' });
    await symlink('.', tree.file('alias'));
    await symlink('.', tree.file('Alias'));
    await mkdir(tree.file('.ordo-spool'));
    await symlink('.ordo-spool', tree.file('journals'));
    await symlink('.ordo-spool/x.json', tree.file('journal-link.json'));
    await using spool = createSpool({ root: tree.dir });
    expect(await codeOf(spool.write(p, 'crafted'))).toBe('SPOOL_PATH_ESCAPE');
    expect(await codeOf(spool.replace(p, () => 'crafted'))).toBe('SPOOL_PATH_ESCAPE');
    expect(await codeOf(spool.remove(p))).toBe('SPOOL_PATH_ESCAPE');
    expect(await codeOf(spool.read(p))).toBe('SPOOL_PATH_ESCAPE');
    expect(await codeOf(spool.exists(p))).toBe('SPOOL_PATH_ESCAPE');
    expect(await codeOf(spool.batch([{ op: 'write', path: p, data: 'crafted' }]))).toBe('SPOOL_PATH_ESCAPE');
    expect(
      await codeOf(
        (async () => {
          for await (const _ of spool.stream(p));
        })(),
      ),
    ).toBe('SPOOL_PATH_ESCAPE');
    expect(spool.touched()).toEqual([]);
    expect(await spool.commit()).toMatchObject({ committed: [] });
    // Empty (or removed by the spool's recovery, which finds nothing to do).
    expect(await readdir(tree.file('.ordo-spool')).catch(() => [])).toEqual([]);
  });

  it('the issue exploit end to end (alias -> ., a crafted journal, a commit, a new spool) writes nothing outside', async () => {
    await using tree = await tempTree({ 'a.txt': 'a\n' });
    const outside = await tempDir('ordo-spool-outside-');
    const victim = path.join(outside, 'victim.txt');
    await writeFile(victim, 'precious\n');
    await symlink('.', tree.file('alias'));
    const pid = await deadPid();
    const crafted = Buffer.concat([
      oldRollbackJournal(pid, path.join(outside, 'planted.sh'), Buffer.from('#!/bin/sh\necho pwned\n')),
    ]);
    {
      await using spool = createSpool({ root: tree.dir });
      expect(await codeOf(spool.write('alias/.ordo-spool/x.rollback', crafted))).toBe('SPOOL_PATH_ESCAPE');
      expect(await codeOf(spool.write('alias/.ordo-spool/y.json', '{}'))).toBe('SPOOL_PATH_ESCAPE');
      await spool.commit();
    }
    await using next = createSpool({ root: tree.dir });
    expect(await next.readText('a.txt')).toBe('a\n');
    expect(await listing(outside)).toEqual(['victim.txt']);
    expect(await readFile(victim, 'utf8')).toBe('precious\n');
  });
});

describe('recovery replays only journals it wrote for this root', () => {
  /** A tree with an outside directory next to it, a symlink to that directory inside it, and a dead pid. */
  async function scene() {
    const tree = await tempTree({ 'a.txt': 'a\n', 'b.txt': 'b\n' });
    const outside = await tempDir('ordo-spool-outside-');
    await writeFile(path.join(outside, 'victim.txt'), 'precious\n');
    await symlink(outside, tree.file('out'));
    await mkdir(tree.file('.ordo-spool'));
    return {
      tree,
      outside,
      pid: await deadPid(),
      key: (await rootKey(await realpath(tree.dir), undefined)) as Buffer,
    };
  }

  /** Recovery by createSpool and by recoverSpool: both SPOOL_JOURNAL_UNTRUSTED; the journal stays; nothing changed. */
  async function expectRefused(s: Awaited<ReturnType<typeof scene>>, journal: string, why: RegExp) {
    const before = await listing(s.tree.dir);
    const error = await recoverSpool(s.tree.dir).catch((e: unknown) => e);
    expect(isOrdoError(error, 'SPOOL_JOURNAL_UNTRUSTED')).toBe(true);
    expect((error as Error).message).toMatch(why);
    expect((error as { details: { journals: Array<{ path: string }> } }).details.journals).toEqual([
      expect.objectContaining({ path: path.join(await realpath(s.tree.dir), '.ordo-spool', journal) }),
    ]);
    await using spool = createSpool({ root: s.tree.dir });
    expect(await codeOf(spool.write('a.txt', 'x'))).toBe('SPOOL_JOURNAL_UNTRUSTED');
    expect(await listing(s.tree.dir)).toEqual(before);
    expect(await readFile(s.tree.file('a.txt'), 'utf8')).toBe('a\n');
    expect(await readFile(s.tree.file('b.txt'), 'utf8')).toBe('b\n');
    expect(await listing(s.outside)).toEqual(['victim.txt']);
    expect(await readFile(path.join(s.outside, 'victim.txt'), 'utf8')).toBe('precious\n');
  }

  it('an old unauthenticated rollback journal (version 1, absolute paths) is never replayed', async () => {
    const s = await scene();
    await using _ = s.tree;
    await writeFile(
      s.tree.file('.ordo-spool/1-aaaaaaaaaaaa.00000000.1.rollback'),
      oldRollbackJournal(s.pid, path.join(s.outside, 'planted.sh'), Buffer.from('pwned')),
    );
    await expectRefused(s, '1-aaaaaaaaaaaa.00000000.1.rollback', /unauthenticated journal of version 1/);
  });

  it('a rollback journal with a forged seal is never replayed (a create, an overwrite and a delete)', async () => {
    const s = await scene();
    await using _ = s.tree;
    const journal = rollbackJournal(
      s.pid,
      [
        { path: 'a.txt', bytes: Buffer.from('forged') },
        { path: 'b.txt', bytes: null },
      ],
      'forged',
    );
    await writeFile(s.tree.file('.ordo-spool/x.rollback'), journal);
    await expectRefused(s, 'x.rollback', /seal does not match/);
  });

  it('a rollback journal sealed with another root’s key is never replayed', async () => {
    const s = await scene();
    await using _ = s.tree;
    const other = await tempDir('ordo-spool-other-root-');
    const otherKey = (await rootKey(await realpath(other), undefined)) as Buffer;
    await writeFile(
      s.tree.file('.ordo-spool/x.rollback'),
      rollbackJournal(s.pid, [{ path: 'a.txt', bytes: Buffer.from('forged') }], otherKey),
    );
    await expectRefused(s, 'x.rollback', /seal does not match/);
  });

  it.each([
    ['../outside/planted.sh', /not a path inside the root/],
    ['/etc/planted.sh', /not a path inside the root/],
    ['a/../../planted.sh', /not a path inside the root/],
    ['.ordo-spool/key', /not a path inside the root/],
    ['./a.txt', /not in normal form/],
  ])('even correctly sealed, a rollback journal naming %j is refused by its schema', async (p, why) => {
    const s = await scene();
    await using _ = s.tree;
    await writeFile(
      s.tree.file('.ordo-spool/x.rollback'),
      rollbackJournal(s.pid, [{ path: p, bytes: Buffer.from('pwned') }], s.key),
    );
    await expectRefused(s, 'x.rollback', why);
  });

  it.each([
    [{ extra: 1 }, /unknown key "extra"/],
    [{ bodyBytes: 999 }, /bodyBytes is not the sum/],
    [{ pid: 'x' }, /pid is not a whole number/],
  ])('even correctly sealed, a rollback header with %j is refused', async (patch, why) => {
    const s = await scene();
    await using _ = s.tree;
    const header = {
      pid: s.pid,
      host: hostname(),
      bodyBytes: 1,
      files: [{ path: 'a.txt', old: { size: 1, mode: 0o644 } }],
      ...patch,
    };
    const body = Buffer.from(`ordo-spool-rollback 2\n${JSON.stringify(header)}\nz`);
    await writeFile(s.tree.file('.ordo-spool/x.rollback'), seal(s.key, body));
    await expectRefused(s, 'x.rollback', why);
  });

  it('a sealed journal whose path runs through a symlink to outside the root writes nothing outside', async () => {
    const s = await scene();
    await using _ = s.tree;
    await writeFile(
      s.tree.file('.ordo-spool/x.rollback'),
      rollbackJournal(s.pid, [{ path: 'out/planted.sh', bytes: Buffer.from('pwned') }], s.key),
    );
    expect(await codeOf(recoverSpool(s.tree.dir))).toBe('SPOOL_PATH_ESCAPE');
    expect(await listing(s.outside)).toEqual(['victim.txt']);
    // Left in place for a person to look at.
    expect(await readdir(s.tree.file('.ordo-spool'))).toEqual(['x.rollback']);
  });

  it.each([
    [
      'an unauthenticated version 1 rename journal',
      (s: Awaited<ReturnType<typeof scene>>) => ({
        version: 1,
        pid: s.pid,
        host: hostname(),
        files: [{ abs: path.join(s.outside, 'victim.txt') }],
      }),
      /unauthenticated journal of version 1/,
    ],
    [
      'an unauthenticated version 2 rename journal',
      (s: Awaited<ReturnType<typeof scene>>) => ({
        version: 2,
        pid: s.pid,
        host: hostname(),
        files: [{ abs: path.join(s.outside, 'victim.txt'), tmp: path.join(s.outside, 'x.tmp') }],
      }),
      /unauthenticated journal of version 2/,
    ],
  ])('%s (deleting an outside file) is never replayed', async (_name, make, why) => {
    const s = await scene();
    await using _ = s.tree;
    await writeFile(s.tree.file('.ordo-spool/old-aaaaaaaaaaaa.json'), JSON.stringify(make(s)));
    await writeFile(s.tree.file('.ordo-spool/old-aaaaaaaaaaaa.replacing'), '');
    await expectRefused(s, 'old-aaaaaaaaaaaa.json', why);
  });

  it('a rename journal with a forged seal, or sealed but naming an outside path, is never replayed', async () => {
    const s = await scene();
    await using _ = s.tree;
    const body = (files: unknown) =>
      Buffer.from(JSON.stringify({ version: 3, id: 'm0-aaaaaaaaaaaa', pid: s.pid, host: hostname(), files }));
    const forged = Buffer.concat([
      body([{ path: 'a.txt', backup: true }]),
      Buffer.from(`\nordo-journal-mac ${'00'.repeat(32)}\n`),
    ]);
    await writeFile(s.tree.file('.ordo-spool/m0-aaaaaaaaaaaa.json'), forged);
    await writeFile(s.tree.file('.ordo-spool/m0-aaaaaaaaaaaa.replacing'), '');
    await expectRefused(s, 'm0-aaaaaaaaaaaa.json', /seal does not match/);
    await writeFile(
      s.tree.file('.ordo-spool/m0-aaaaaaaaaaaa.json'),
      seal(s.key, body([{ path: '../victim.txt' }])),
    );
    await expectRefused(s, 'm0-aaaaaaaaaaaa.json', /not a path inside the root/);
  });
});

describe('the journal key', () => {
  it('is made once, 0600, outside the root; a symlink, a readable-by-others or a short key is refused', async () => {
    const keyDir = path.join(await tempDir('ordo-spool-keys-'), 'keys');
    await using tree = await tempTree({ 'a.txt': 'a\n' });
    {
      await using spool = createSpool({ root: tree.dir, keyDir });
      await spool.write('a.txt', 'b\n');
      await spool.commit();
    }
    const keyFile = path.join(keyDir, 'spool-journal.key');
    const { stat, lstat, rm } = await import('node:fs/promises');
    expect((await stat(keyFile)).mode & 0o777).toBe(0o600);
    expect((await stat(keyFile)).size).toBe(32);
    expect(await readdir(tree.dir)).toEqual(['a.txt']);

    // Fresh processes would read the file again: check the refusals on new key dirs.
    const bad = async (prepare: (file: string) => Promise<void>) => {
      const dir = await tempDir('ordo-spool-badkey-');
      await prepare(path.join(dir, 'spool-journal.key'));
      await using spool = createSpool({ root: tree.dir, keyDir: dir });
      await spool.write('a.txt', `${Math.random()}\n`);
      return codeOf(spool.commit());
    };
    const elsewhere = path.join(await tempDir('ordo-spool-keytarget-'), 'k');
    await writeFile(elsewhere, Buffer.alloc(32));
    await chmod(elsewhere, 0o600);
    expect(await bad((f) => symlink(elsewhere, f))).toBe('SPOOL_JOURNAL_UNTRUSTED');
    expect(
      await bad(async (f) => {
        await writeFile(f, Buffer.alloc(32));
        await chmod(f, 0o644);
      }),
    ).toBe('SPOOL_JOURNAL_UNTRUSTED');
    expect(
      await bad(async (f) => {
        await writeFile(f, Buffer.alloc(5));
        await chmod(f, 0o600);
      }),
    ).toBe('SPOOL_JOURNAL_UNTRUSTED');
    expect(await bad((f) => mkdir(f))).toBe('SPOOL_JOURNAL_UNTRUSTED');
    // A key directory others may write (they could swap the key), or a symlink to one.
    const loose = await tempDir('ordo-spool-loosekeys-');
    await chmod(loose, 0o777);
    await using spool = createSpool({ root: tree.dir, keyDir: loose });
    await spool.write('a.txt', 'loose\n');
    expect(await codeOf(spool.commit())).toBe('SPOOL_JOURNAL_UNTRUSTED');
    const linked = path.join(await tempDir('ordo-spool-linkkeys-'), 'k');
    await symlink(keyDir, linked);
    await using viaLink = createSpool({ root: tree.dir, keyDir: linked });
    await viaLink.write('a.txt', 'linked\n');
    expect(await codeOf(viaLink.commit())).toBe('SPOOL_JOURNAL_UNTRUSTED');
    expect((await lstat(elsewhere)).size).toBe(32);
    await rm(keyDir, { recursive: true });
  });
});
