import { type ChildProcess, spawn } from 'node:child_process';
import { lstat, mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { isOrdoError } from '@ordo/contracts';
import { describe, expect, it } from 'vitest';
import { tempDir } from '../../../vitest.tempDirs.js';
import { createSpool, type SpoolCommitMode } from '../src/index.js';

/*
 * Issue 14, item 5: a second process swapping a directory for a symlink to an outside directory while the
 * spool stages, commits and reads. Before the fix, commits overwrote and created outside files (both modes)
 * and reads returned outside bytes. Now every path goes through the root's descriptors: a swap is refused
 * (SPOOL_PATH_ESCAPE, or a conflict), and nothing outside is ever written or read.
 */

const FILES = 6;
/** Commits per mode and reads per run (raise them to hunt for rarer races). */
const COMMITS = Number(process.env.SPOOL_RACE_COMMITS ?? 300);
const READS = Number(process.env.SPOOL_RACE_READS ?? 1500);

/**
 * The swapper: a real second process that loops `dir` -> `dir.real`, `dir.link` (a symlink to `outside`)
 * -> `dir`, then back, as fast as it can, until killed.
 */
const SWAPPER = `
const fs = require('node:fs');
const [root] = process.argv.slice(1);
const dir = root + '/dir', real = root + '/dir.real', link = root + '/dir.link';
const step = (from, to) => { try { fs.renameSync(from, to); } catch {} };
process.stdout.write('ready\\n');
for (;;) {
  step(dir, real);
  step(link, dir);
  step(dir, link);
  step(real, dir);
}
`;

async function startSwapper(root: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['-e', SWAPPER, root], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    child.once('error', reject);
    child.stdout?.once('data', () => resolve());
  });
  return child;
}

async function stopSwapper(child: ChildProcess, root: string): Promise<void> {
  if (child.exitCode === null && child.signalCode === null) {
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
  }
  // Put the tree back as it was: `dir` the real directory, `dir.link` the symlink.
  const isLink = async (p: string) => (await lstat(p).catch(() => undefined))?.isSymbolicLink();
  if (await isLink(path.join(root, 'dir'))) await rename(path.join(root, 'dir'), path.join(root, 'dir.link'));
  if ((await lstat(path.join(root, 'dir.real')).catch(() => undefined))?.isDirectory()) {
    // A directory a commit made at `dir` while the real one was away: kept aside.
    if (await lstat(path.join(root, 'dir')).catch(() => undefined))
      await rename(path.join(root, 'dir'), path.join(root, 'dir.made'));
    await rename(path.join(root, 'dir.real'), path.join(root, 'dir'));
  }
}

/** Every file under `dir` with its bytes and inode: what must not change. */
async function snapshot(dir: string) {
  const out: Record<string, string> = {};
  for (const name of (await readdir(dir, { recursive: true })).sort()) {
    const p = path.join(dir, name);
    const info = await stat(p);
    out[name] = info.isFile() ? `${info.ino}:${info.mtimeMs}:${await readFile(p, 'utf8')}` : 'dir';
  }
  return out;
}

async function scene() {
  const root = await tempDir('ordo-spool-race-');
  const outside = await tempDir('ordo-spool-race-outside-');
  await mkdir(path.join(root, 'dir'));
  for (let k = 0; k < FILES; k++) {
    await writeFile(path.join(root, 'dir', `f${k}.txt`), `inside ${k}\n`);
    await writeFile(path.join(outside, `f${k}.txt`), `OUTSIDE ${k}\n`);
  }
  const { symlink } = await import('node:fs/promises');
  await symlink(outside, path.join(root, 'dir.link'));
  return { root, outside, before: await snapshot(outside) };
}

/** Tallies what each call ended with; errors that are not ordo errors are kept in `raw` (the test wants none). */
function tally() {
  const codes = new Map<string, number>();
  const raw: string[] = [];
  return {
    codes,
    raw,
    record(error: unknown) {
      if (!isOrdoError(error)) {
        raw.push(String(error));
        return;
      }
      codes.set(error.code, (codes.get(error.code) ?? 0) + 1);
    },
    ok() {
      codes.set('ok', (codes.get('ok') ?? 0) + 1);
    },
  };
}

/**
 * What every race here must show: no outside byte seen, the outside files untouched, and that the race did
 * happen (swaps were refused) while operations still went through between swaps.
 */
async function expectNoEscape(
  s: Awaited<ReturnType<typeof scene>>,
  outsideSeen: readonly string[],
  seen: ReturnType<typeof tally>,
): Promise<void> {
  expect(outsideSeen).toEqual([]);
  expect(await snapshot(s.outside)).toEqual(s.before);
  expect(seen.codes.get('SPOOL_PATH_ESCAPE') ?? 0).toBeGreaterThan(0);
  expect(seen.codes.get('ok') ?? 0).toBeGreaterThan(0);
}

// Hundreds of operations beside a child that keeps a core busy: slow on a loaded machine.
describe(
  'a second process swapping a directory for a symlink to outside the root',
  { timeout: 90_000 },
  () => {
    it.each([
      'rename',
      'in-place',
    ] as SpoolCommitMode[])('many %s commits: zero outside files created or changed, zero outside bytes seen', async (commitMode) => {
      const s = await scene();
      const swapper = await startSwapper(s.root);
      const seen = tally();
      const outsideSeen: string[] = [];
      try {
        for (let i = 0; i < COMMITS; i++) {
          const rel = `dir/f${i % FILES}.txt`;
          await using spool = createSpool({ root: s.root, commitMode, fsync: false });
          try {
            // Only existing files are edited: a missing `dir` (renamed away this instant) stages nothing.
            const fn = (text: string | undefined) => {
              if (text?.includes('OUTSIDE')) outsideSeen.push(`replace ${rel}`);
              return text === undefined ? null : `spool ${i}\n`;
            };
            // Every other round through batch(), which walks one tree for all its paths.
            if (i % 2 === 0) await spool.replace(rel, fn);
            else await spool.batch([{ op: 'replace', path: rel, fn }]);
            const diff = await spool.diff();
            if (diff.includes('OUTSIDE')) outsideSeen.push(`diff ${rel}`);
            await spool.commit();
            seen.ok();
          } catch (error) {
            seen.record(error);
          }
        }
      } finally {
        await stopSwapper(swapper, s.root);
      }
      await expectNoEscape(s, outsideSeen, seen);
      // Every committed file holds what a spool wrote, or its first content.
      for (let k = 0; k < FILES; k++)
        expect(await readFile(path.join(s.root, 'dir', `f${k}.txt`), 'utf8')).toMatch(
          /^(spool \d+|inside \d)\n$/,
        );
      await rm(s.root, { recursive: true, force: true });
    });

    it('many reads, streams and exists: never a byte of the outside files', async () => {
      const s = await scene();
      const swapper = await startSwapper(s.root);
      const seen = tally();
      const outsideSeen: string[] = [];
      try {
        await using spool = createSpool({ root: s.root });
        for (let i = 0; i < READS; i++) {
          const rel = `dir/f${i % FILES}.txt`;
          try {
            if (i % 3 === 0) {
              const bytes = await spool.read(rel);
              if (bytes.includes('OUTSIDE')) outsideSeen.push(`read ${rel}`);
            } else if (i % 3 === 1) {
              for await (const chunk of spool.stream(rel))
                if (chunk.includes('OUTSIDE')) outsideSeen.push(`stream ${rel}`);
            } else await spool.exists(rel);
            seen.ok();
          } catch (error) {
            seen.record(error);
          }
        }
      } finally {
        await stopSwapper(swapper, s.root);
      }
      expect(seen.raw).toEqual([]);
      await expectNoEscape(s, outsideSeen, seen);
    });
  },
);
