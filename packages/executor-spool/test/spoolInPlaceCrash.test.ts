import { execFile, spawn } from 'node:child_process';
import {
  chmod,
  mkdir,
  readdir,
  readFile,
  realpath,
  rename,
  rm,
  stat,
  truncate,
  writeFile,
} from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { RecordingLogger } from '@ordo/contracts/testing';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { tempDir } from '../../../vitest.tempDirs.js';
import { createSpool, recoverSpool } from '../src/index.js';
import { rootKey, seal, TRAILER_BYTES } from '../src/internal/journalKey.js';
import { tempTree } from './spoolFixtures.js';
import type { CrashPlan } from './spoolInPlaceCrashChild.js';

const child = fileURLToPath(new URL('./spoolInPlaceCrashChild.ts', import.meta.url));

/** Runs the plan in a child process; resolves with the signal that ended it (`null`: it finished). */
async function runChild(plan: CrashPlan): Promise<string | null> {
  const planFile = path.join(await tempDir('ordo-spool-plan-'), 'plan.json');
  await writeFile(planFile, JSON.stringify(plan));
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      ['--conditions=@ordo/source', '--import', 'tsx', child, planFile],
      { cwd: path.dirname(child) },
      (error, _stdout, stderr) => {
        const signal = (error as { signal?: string } | null)?.signal ?? null;
        if (error && !signal) reject(new Error(`the child failed: ${stderr}`));
        else resolve(signal);
      },
    );
  });
}

/**
 * Crashes a commit of `plan` while it writes its rollback journal (the child is killed at once, then the
 * journal is cut short by 3 bytes, as a crash mid-write leaves it); returns the journal's name.
 */
async function tornJournal(root: string, plan: Omit<CrashPlan, 'root' | 'crashAt'>): Promise<string> {
  expect(await runChild({ ...plan, root, crashAt: -1 })).toBe('SIGKILL');
  const [journal] = (await readdir(path.join(root, '.ordo-spool'))) as [string];
  const file = path.join(root, '.ordo-spool', journal);
  await truncate(file, (await stat(file)).size - 3);
  return journal;
}

type FileState = { bytes: Uint8Array; mode: number } | null;

const PATHS = ['a.txt', 'b.bin', 'd/c.txt', 'd/e/f.txt', 'g.txt'] as const;

/** Each candidate path as it is on disk (`null`: absent), and every regular file under `dir`. */
async function snapshot(dir: string) {
  const files: Record<string, FileState> = {};
  for (const p of PATHS) {
    try {
      const [bytes, info] = await Promise.all([readFile(path.join(dir, p)), stat(path.join(dir, p))]);
      files[p] = { bytes: new Uint8Array(bytes), mode: info.mode & 0o7777 };
    } catch {
      files[p] = null;
    }
  }
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  const regular = entries
    .filter((e) => e.isFile())
    .map((e) => path.relative(dir, path.join(e.parentPath, e.name)))
    .sort();
  return { files, regular };
}

const fileState = fc.option(
  fc.record({
    bytes: fc.uint8Array({ maxLength: 64 }),
    mode: fc.constantFrom(0o644, 0o600, 0o755, 0o640, 0o4755),
  }),
  { nil: null },
);
const edit = fc.option(fc.option(fc.uint8Array({ maxLength: 64 }), { nil: null }), { nil: undefined });

describe('a process killed in the middle of an in-place commit', () => {
  it('is rolled back by the next recovery: every file gets its old bytes and mode back, created files go', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.tuple(...PATHS.map(() => fileState)),
        fc.tuple(...PATHS.map(() => edit)),
        fc.integer({ min: -1, max: PATHS.length }),
        fc.integer({ min: 1, max: 4 }),
        fc.boolean(),
        async (initial, edits, crashAt, concurrency, fsync) => {
          await using tree = await tempTree({});
          for (const [i, p] of PATHS.entries()) {
            const state = initial[i];
            if (!state) continue;
            await mkdir(path.dirname(tree.file(p)), { recursive: true });
            await writeFile(tree.file(p), state.bytes);
            await chmod(tree.file(p), state.mode);
          }
          const before = await snapshot(tree.dir);
          const plan: CrashPlan = {
            root: tree.dir,
            edits: PATHS.flatMap((p, i) => {
              const e = edits[i];
              return e === undefined ? [] : [{ path: p, data: e && Buffer.from(e).toString('base64') }];
            }),
            crashAt,
            concurrency,
            fsync,
          };
          const signal = await runChild(plan);
          if (signal === null) {
            // The crash point lay past the last file: the commit went through.
            for (const [i, p] of PATHS.entries()) {
              const e = edits[i];
              if (e === undefined) continue;
              expect((await snapshot(tree.dir)).files[p]?.bytes ?? null).toEqual(e);
            }
            expect(await recoverSpool(tree.dir)).toBe(0);
            return;
          }
          expect(signal).toBe('SIGKILL');
          const journals = await readdir(tree.file('.ordo-spool'));
          expect(journals.filter((n) => n.endsWith('.rollback'))).toHaveLength(1);
          expect(await recoverSpool(tree.dir)).toBe(1);
          expect(await snapshot(tree.dir)).toEqual(before);
          expect(await recoverSpool(tree.dir)).toBe(0);
        },
      ),
      { numRuns: 25 },
    );
  }, 240_000);

  it('a torn journal (the crash came while it was written) is removed and nothing is put back', async () => {
    await using tree = await tempTree({ 'a.txt': 'old a\n', 'b.txt': 'old b\n' });
    await tornJournal(tree.dir, {
      edits: [
        { path: 'a.txt', data: Buffer.from('new a\n').toString('base64') },
        { path: 'b.txt', data: null },
      ],
      concurrency: 2,
      fsync: true,
    });
    // Someone else changes a file before any recovery runs: a torn journal must not undo that.
    await writeFile(tree.file('a.txt'), 'theirs\n');
    const logger = new RecordingLogger();
    await using spool = createSpool({ root: tree.dir, logger });
    expect(await spool.readText('a.txt')).toBe('theirs\n');
    expect(await readFile(tree.file('b.txt'), 'utf8')).toBe('old b\n');
    expect(await readdir(tree.dir)).toEqual(['a.txt', 'b.txt']);
    expect(logger.at('warn')).toMatchObject([
      { msg: 'spool removed a rollback journal torn by a crash before the commit touched any file' },
    ]);
  });

  it('a torn journal whose name says pid 0 is a dead writer’s, not a live one (kill(0, 0) succeeds)', async () => {
    await using tree = await tempTree({ 'a.txt': 'old a\n' });
    const journal = await tornJournal(tree.dir, {
      edits: [{ path: 'a.txt', data: Buffer.from('new a\n').toString('base64') }],
      concurrency: 1,
      fsync: false,
    });
    const forged = journal.replace(/\.\d+\.rollback$/, '.0.rollback');
    expect(forged).not.toBe(journal);
    await rename(tree.file(`.ordo-spool/${journal}`), tree.file(`.ordo-spool/${forged}`));
    expect(await recoverSpool(tree.dir)).toBe(1);
    expect(
      (await readdir(tree.file('.ordo-spool')).catch(() => [])).filter((n) => n.endsWith('.rollback')),
    ).toEqual([]);
    expect(await readFile(tree.file('a.txt'), 'utf8')).toBe('old a\n');
  });

  it('a complete journal is rolled back by the next createSpool on the root, with both deletes and adds', async () => {
    await using tree = await tempTree({ 'a.txt': 'old a\n', 'gone.txt': 'kept\n', 'zz.txt': 'old zz\n' });
    await chmod(tree.file('gone.txt'), 0o604);
    // Killed before the fourth file (in path order: a.txt, gone.txt, z/new.txt, zz.txt) is touched.
    const killed = await runChild({
      root: tree.dir,
      edits: [
        { path: 'a.txt', data: Buffer.from('new a\n').toString('base64') },
        { path: 'gone.txt', data: null },
        { path: 'z/new.txt', data: Buffer.from('new\n').toString('base64') },
        { path: 'zz.txt', data: Buffer.from('new zz\n').toString('base64') },
      ],
      crashAt: 3,
      concurrency: 1,
      fsync: false,
    });
    expect(killed).toBe('SIGKILL');
    expect(await readFile(tree.file('a.txt'), 'utf8')).toBe('new a\n');
    expect(await readdir(tree.dir)).not.toContain('gone.txt');
    expect(await readFile(tree.file('z/new.txt'), 'utf8')).toBe('new\n');
    await using spool = createSpool({ root: tree.dir });
    expect(await spool.readText('a.txt')).toBe('old a\n');
    expect(await spool.readText('gone.txt')).toBe('kept\n');
    expect((await stat(tree.file('gone.txt'))).mode & 0o7777).toBe(0o604);
    expect(await spool.exists('z/new.txt')).toBe(false);
    expect(await spool.readText('zz.txt')).toBe('old zz\n');
    // The directory the commit made stays.
    expect((await readdir(tree.dir, { recursive: true })).sort()).toEqual([
      'a.txt',
      'gone.txt',
      'z',
      'zz.txt',
    ]);
  });

  it('leaves the journal of a live process alone, and rolls it back once that process is gone', async () => {
    await using tree = await tempTree({ 'a.txt': 'old a\n' });
    const signal = await runChild({
      root: tree.dir,
      edits: [{ path: 'a.txt', data: Buffer.from('new a\n').toString('base64') }],
      crashAt: -1,
      concurrency: 1,
      fsync: false,
    });
    expect(signal).toBe('SIGKILL');
    await writeFile(tree.file('a.txt'), 'half writ');
    // Hand the journal to a live process, in its name and in its header.
    const sleeper = spawn('sleep', ['60']);
    const live = sleeper.pid as number;
    const [name] = await readdir(tree.file('.ordo-spool'));
    const data = await readFile(tree.file(`.ordo-spool/${name}`));
    // Relabelled and sealed again with the root's key, as that process would have written it.
    const body = data.subarray(0, data.length - TRAILER_BYTES);
    const key = (await rootKey(await realpath(tree.dir), undefined)) as Buffer;
    const relabelled = seal(
      key,
      Buffer.from(body.toString('latin1').replace(/"pid":\d+/, `"pid":${live}`), 'latin1'),
    );
    await rm(tree.file(`.ordo-spool/${name}`));
    await writeFile(
      tree.file(`.ordo-spool/${(name as string).replace(/\.\d+\.rollback$/, `.${live}.rollback`)}`),
      relabelled,
    );
    try {
      expect(await recoverSpool(tree.dir)).toBe(0);
      expect(await readFile(tree.file('a.txt'), 'utf8')).toBe('half writ');
    } finally {
      sleeper.kill('SIGKILL');
      await new Promise((resolve) => sleeper.once('exit', resolve));
    }
    expect(await recoverSpool(tree.dir)).toBe(1);
    expect(await readFile(tree.file('a.txt'), 'utf8')).toBe('old a\n');
    expect(await readdir(tree.dir)).toEqual(['a.txt']);
  });
});
