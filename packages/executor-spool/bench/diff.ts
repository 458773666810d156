/**
 * Diff benchmarks, end to end as a user runs them: createSpool + stage the new content + diff(), against
 * jsdiff's createTwoFilesPatch on the same strings (alternating in one process after warm-up), and against
 * `git diff --no-index` as a process for the large rewrite. Writes bench/results/diff.json.
 * Run with `pnpm --filter @ordo/executor-spool bench diff`; `DIFF_BENCH_RUNS=3` for a quick check.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { createTwoFilesPatch } from 'diff';
import { createSpool, DiffCache } from '../src/index.js';
import { blobId } from '../src/internal/content.js';
import { round, writeResults } from './util.js';

const run = promisify(execFile);
const RUNS = Number(process.env.DIFF_BENCH_RUNS ?? 9);
const WARMUP = 2;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

async function time(fn: () => Promise<unknown> | unknown): Promise<number> {
  const start = performance.now();
  await fn();
  return performance.now() - start;
}

interface Case {
  name: string;
  before: string;
  after: string;
  target: string;
  /** Whether jsdiff runs too (its Myers is O(N·D): minutes on the large rewrite, so it is left out there). */
  jsdiff: boolean;
}

const code = (i: number) => `  const value${i} = compute(${i}, 'item-${i % 997}');`;

function cases(): Case[] {
  const base100k = Array.from({ length: 100_000 }, (_, i) => code(i));
  const scattered = [...base100k];
  for (let k = 0; k < 10; k++) scattered[Math.floor(((k + 0.5) * 100_000) / 10)] = `  // edited line ${k}`;
  const base10k = Array.from({ length: 10_000 }, (_, i) => code(i));
  const everyTenth = base10k.map((l, i) => (i % 10 === 5 ? `  // changed ${i}` : l));
  const base20k = Array.from({ length: 20_000 }, (_, i) => code(i));
  const rewrite = base20k.map((l, i) =>
    Math.floor(i / 100) % 2 ? `  export const upgraded${i} = next(${i});` : l,
  );
  const text = (lines: string[]) => `${lines.join('\n')}\n`;
  return [
    {
      name: '100,000 lines, 10 scattered single-line edits',
      before: text(base100k),
      after: text(scattered),
      target: '>= 5x jsdiff',
      jsdiff: true,
    },
    {
      name: '10,000 lines, every 10th line changed',
      before: text(base10k),
      after: text(everyTenth),
      target: '>= 3x jsdiff',
      jsdiff: true,
    },
    {
      name: '20,000 lines, half replaced in blocks of 100 (a library upgrade)',
      before: text(base20k),
      after: text(rewrite),
      target: 'within 2x of git diff --no-index',
      jsdiff: false,
    },
  ];
}

/** `git diff --no-index` of two files as a process, wall time including its start. */
async function gitDiff(dir: string): Promise<void> {
  try {
    await run('git', ['diff', '--no-index', '--no-color', 'a.txt', 'b.txt'], {
      cwd: dir,
      env: { ...process.env, GIT_CONFIG_NOSYSTEM: '1', GIT_CONFIG_GLOBAL: '/dev/null', HOME: dir },
      maxBuffer: 1 << 28,
    });
  } catch (error) {
    if ((error as { code?: number }).code !== 1) throw error;
  }
}

async function bench(c: Case) {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'ordo-diff-bench-'));
  await writeFile(path.join(dir, 'a.txt'), c.before);
  await writeFile(path.join(dir, 'b.txt'), c.after);
  const ordo: number[] = [];
  const jsdiff: number[] = [];
  const git: number[] = [];
  const first: number[] = [];
  const hashes: number[] = [];
  const again: number[] = [];
  let ordoPatch = '';
  let jsdiffPatch = '';
  for (let k = 0; k < WARMUP + RUNS; k++) {
    if (k === WARMUP) for (const list of [ordo, jsdiff, git, first, again, hashes]) list.length = 0;
    const ours = async () => {
      // What a user does: a spool over the tree, the edit staged, its diff (no memo).
      await using spool = createSpool({ root: dir, diffCache: false });
      await spool.write('a.txt', c.after);
      ordoPatch = await spool.diff();
    };
    const theirs = () => {
      if (!c.jsdiff) return;
      jsdiffPatch = createTwoFilesPatch('a/a.txt', 'b/a.txt', c.before, c.after);
    };
    // Alternating order, so drifting load falls on both.
    if (k % 2) {
      ordo.push(await time(ours));
      jsdiff.push(await time(theirs));
    } else {
      jsdiff.push(await time(theirs));
      ordo.push(await time(ours));
    }
    git.push(await time(() => gitDiff(dir)));
    await using cached = createSpool({ root: dir, diffCache: new DiffCache() });
    await cached.write('a.txt', c.after);
    first.push(await time(() => cached.diff()));
    // The floor under any git-identical diff: the blob ids of both sides its `index` line carries.
    const beforeBytes = Buffer.from(c.before);
    const afterBytes = Buffer.from(c.after);
    hashes.push(await time(() => blobId(beforeBytes) + blobId(afterBytes)));
    again.push(await time(() => cached.diff()));
  }
  await rm(dir, { recursive: true, force: true });
  const count = (patch: string, re: RegExp) => (patch.match(re) ?? []).length;
  const result = {
    case: c.name,
    lines: c.before.split('\n').length - 1,
    bytes: c.before.length,
    ordoStageAndDiffMs: round(median(ordo)),
    jsdiffMs: c.jsdiff ? round(median(jsdiff)) : null,
    gitDiffNoIndexMs: round(median(git)),
    speedupVsJsdiff: c.jsdiff ? round(median(jsdiff) / median(ordo)) : null,
    ratioToGit: round(median(ordo) / median(git)),
    target: c.target,
    hunks: { ordo: count(ordoPatch, /^@@/gm), jsdiff: count(jsdiffPatch, /^@@/gm) },
    changedLines: {
      ordo: count(ordoPatch, /^[-+](?![-+]{2} )/gm),
      jsdiff: count(jsdiffPatch, /^[-+](?![-+]{2} )/gm),
    },
    firstDiffMs: round(median(first)),
    blobIdsOfBothSidesMs: round(median(hashes)),
    repeatDiffMs: round(median(again)),
    memoSpeedup: round(median(first) / median(again)),
  };
  console.log(
    `${c.name}: ordo stage + diff ${result.ordoStageAndDiffMs} ms, jsdiff ${result.jsdiffMs} ms (${result.speedupVsJsdiff}x), git diff --no-index ${result.gitDiffNoIndexMs} ms (ordo/git ${result.ratioToGit}); repeat diff ${result.memoSpeedup}x faster than the first; blob ids of both sides ${result.blobIdsOfBothSidesMs} ms [target ${c.target}]`,
  );
  return result;
}

/** Runs every case; returns the results. */
export async function benchDiff() {
  const load = os.loadavg().map((x) => round(x));
  const results = [];
  for (const c of cases()) results.push(await bench(c));
  await writeResults('diff', {
    runs: RUNS,
    warmupRuns: WARMUP,
    loadAverageAtStart: load,
    loadAverageAtEnd: os.loadavg().map((x) => round(x)),
    method:
      'medians; ordo = createSpool + write(new text) + diff() with the old file on disk, no memo; jsdiff = createTwoFilesPatch on the same two strings, alternating order; git = git diff --no-index of the two files as a process',
    results,
  });
  return results;
}

if (import.meta.url === `file://${process.argv[1]}`) await benchDiff();
