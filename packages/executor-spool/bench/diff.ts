/**
 * Diff benchmarks, end to end as a user runs them: createSpool + stage the new content + diff(), against
 * jsdiff's createTwoFilesPatch on the same strings, and against `git diff --no-index` as a process. Each
 * contender runs in its own fresh process (bench/diffContender.ts: warm-up, then 9 timed calls, their median),
 * `ROUNDS` rounds per case with the contenders' order rotating; each figure is the min / median / max of the
 * rounds' medians, with `uptime`'s load before and after. Writes bench/results/diff.json.
 * Run with `pnpm --filter @ordo/executor-spool bench diff`; `DIFF_BENCH_ROUNDS=2 DIFF_BENCH_RUNS=3` for a
 * quick check.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { type DiffCase, diffCases } from './diffCases.js';
import { loadAverage, median, round, writeResults } from './util.js';

const run = promisify(execFile);
const ROUNDS = Number(process.env.DIFF_BENCH_ROUNDS ?? 5);
const contenderScript = fileURLToPath(new URL('./diffContender.ts', import.meta.url));
const spread = (xs: readonly number[]) => ({
  min: round(Math.min(...xs)),
  median: round(median(xs)),
  max: round(Math.max(...xs)),
});
const uptime = () => os.loadavg()[0]?.toFixed(2) as string;

interface ContenderReport {
  contender: string;
  firstCallMs: number;
  samples: number[];
  hunks: number;
  changedLines: number;
  firstDiffMs?: number[];
  repeatDiffMs?: number[];
  blobIdsMs?: number[];
}

/** One contender, one fresh process: tsx with the source condition, as the package's other benchmarks run. */
async function runContender(contender: string, index: number, dir: string): Promise<ContenderReport> {
  const { stdout } = await run(
    process.execPath,
    ['--import', 'tsx', '--conditions=@ordo/source', contenderScript, contender, String(index), dir],
    { cwd: path.dirname(contenderScript), maxBuffer: 1 << 24, env: process.env },
  );
  return JSON.parse(stdout.trim().split('\n').at(-1) as string) as ContenderReport;
}

async function bench(c: DiffCase, index: number) {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'ordo-diff-bench-'));
  try {
    await writeFile(path.join(dir, 'a.txt'), c.before);
    await writeFile(path.join(dir, 'b.txt'), c.after);
    const contenders = c.jsdiff ? ['ordo', 'jsdiff', 'git'] : ['ordo', 'git'];
    const medians = new Map<string, number[]>(contenders.map((name) => [name, []]));
    const firstCalls = new Map<string, number[]>(contenders.map((name) => [name, []]));
    const last = new Map<string, ContenderReport>();
    const ordoExtras = {
      firstDiffMs: [] as number[],
      repeatDiffMs: [] as number[],
      blobIdsMs: [] as number[],
    };
    const loadBefore = uptime();
    for (let r = 0; r < ROUNDS; r++) {
      // The order rotates, so drifting load falls on every contender alike.
      const order = contenders.map((_, i) => contenders[(i + r) % contenders.length] as string);
      for (const name of order) {
        const report = await runContender(name, index, dir);
        medians.get(name)?.push(median(report.samples));
        firstCalls.get(name)?.push(report.firstCallMs);
        last.set(name, report);
        if (name === 'ordo') {
          ordoExtras.firstDiffMs.push(median(report.firstDiffMs ?? []));
          ordoExtras.repeatDiffMs.push(median(report.repeatDiffMs ?? []));
          ordoExtras.blobIdsMs.push(median(report.blobIdsMs ?? []));
        }
      }
    }
    const ordo = medians.get('ordo') as number[];
    const jsdiff = medians.get('jsdiff');
    const git = medians.get('git') as number[];
    const result = {
      case: c.name,
      lines: c.before.split('\n').length - 1,
      bytes: c.before.length,
      load: { before: Number(loadBefore), after: Number(uptime()) },
      ordoStageAndDiffMs: spread(ordo),
      jsdiffMs: jsdiff ? spread(jsdiff) : null,
      gitDiffNoIndexMs: spread(git),
      speedupVsJsdiff: jsdiff ? round(median(jsdiff) / median(ordo)) : null,
      ratioToGit: round(median(ordo) / median(git)),
      // The first call of each fresh process: what a one-shot host pays, cold code included.
      firstCallMs: Object.fromEntries([...firstCalls].map(([name, xs]) => [name, spread(xs)])),
      firstCallSpeedupVsJsdiff: jsdiff
        ? round(median(firstCalls.get('jsdiff') as number[]) / median(firstCalls.get('ordo') as number[]))
        : null,
      target: c.target,
      hunks: Object.fromEntries([...last].map(([name, report]) => [name, report.hunks])),
      changedLines: Object.fromEntries([...last].map(([name, report]) => [name, report.changedLines])),
      firstDiffMs: round(median(ordoExtras.firstDiffMs)),
      blobIdsOfBothSidesMs: round(median(ordoExtras.blobIdsMs)),
      repeatDiffMs: round(median(ordoExtras.repeatDiffMs)),
      memoSpeedup: round(median(ordoExtras.firstDiffMs) / median(ordoExtras.repeatDiffMs)),
    };
    const fmt = (s: { min: number; median: number; max: number }) => `${s.median} ms (${s.min}–${s.max})`;
    console.log(
      `${c.name} [load ${result.load.before} → ${result.load.after}]: ordo stage + diff ${fmt(result.ordoStageAndDiffMs)}` +
        (result.jsdiffMs ? `, jsdiff ${fmt(result.jsdiffMs)} (${result.speedupVsJsdiff}x)` : '') +
        `, git diff --no-index ${fmt(result.gitDiffNoIndexMs)} (ordo/git ${result.ratioToGit}); first call in a fresh process: ${Object.entries(
          result.firstCallMs,
        )
          .map(([name, s]) => `${name} ${fmt(s)}`)
          .join(
            ', ',
          )}; repeat diff ${result.memoSpeedup}x faster than the first; blob ids of both sides ${result.blobIdsOfBothSidesMs} ms [target ${c.target}]`,
    );
    return result;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Runs every case; returns the results. */
export async function benchDiff() {
  const loadAverageAtStart = loadAverage();
  const results = [];
  for (const [index, c] of diffCases().entries()) results.push(await bench(c, index));
  await writeResults('diff', {
    rounds: ROUNDS,
    runsPerProcess: Number(process.env.DIFF_BENCH_RUNS ?? 9),
    loadAverageAtStart,
    method:
      'each contender in its own fresh process per round (order rotating), warm-up of at least 5 calls and 1 s, then 9 timed calls, their median; figures are min / median / max over the rounds. ordo = createSpool + write(new text) + diff() with the old file on disk, no memo; jsdiff = createTwoFilesPatch on the same two strings; git = git diff --no-index of the two files as a process, including its start',
    results,
  });
  return results;
}

if (import.meta.url === `file://${process.argv[1]}`) await benchDiff();
