/**
 * The diff benchmark by the method its issue first named, kept for comparison: ordo (createSpool + write +
 * diff, no memo) and jsdiff's createTwoFilesPatch on the same strings in ONE process, alternating, after 2
 * warm-up calls each, medians of 9. bench/diff.ts (one fresh process per contender) is the figure the README
 * quotes; this one shows what sharing a process with the anchor does to it. Writes
 * bench/results/diff-alternating.json.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createTwoFilesPatch } from 'diff';
import { createSpool } from '../src/index.js';
import { diffCases } from './diffCases.js';
import { loadAverage, median, round, time, writeResults } from './util.js';

const RUNS = 9;
const WARMUP = 2;

/** Runs the cases that have a jsdiff figure; returns the results. */
export async function benchDiffAlternating() {
  const loadAverageAtStart = loadAverage();
  const results = [];
  for (const c of diffCases().filter((c) => c.jsdiff)) {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'ordo-diff-alt-'));
    try {
      await writeFile(path.join(dir, 'a.txt'), c.before);
      const ordo: number[] = [];
      const jsdiff: number[] = [];
      const ours = async () => {
        await using spool = createSpool({ root: dir, diffCache: false });
        await spool.write('a.txt', c.after);
        await spool.diff();
      };
      const theirs = () => createTwoFilesPatch('a/a.txt', 'b/a.txt', c.before, c.after);
      for (let k = 0; k < WARMUP + RUNS; k++) {
        if (k === WARMUP) for (const list of [ordo, jsdiff]) list.length = 0;
        if (k % 2) {
          ordo.push(await time(ours));
          jsdiff.push(await time(theirs));
        } else {
          jsdiff.push(await time(theirs));
          ordo.push(await time(ours));
        }
      }
      const result = {
        case: c.name,
        ordoStageAndDiffMs: round(median(ordo)),
        jsdiffMs: round(median(jsdiff)),
        speedupVsJsdiff: round(median(jsdiff) / median(ordo)),
        samples: { ordo: ordo.map(round), jsdiff: jsdiff.map(round) },
      };
      console.log(
        `${c.name} (one process, alternating): ordo ${result.ordoStageAndDiffMs} ms, jsdiff ${result.jsdiffMs} ms (${result.speedupVsJsdiff}x)`,
      );
      results.push(result);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }
  await writeResults('diff-alternating', {
    runs: RUNS,
    warmupRuns: WARMUP,
    loadAverageAtStart,
    method:
      'one process, ordo and jsdiff alternating (order flipped each round), 2 warm-up calls each, medians of 9; for comparison with bench/diff.ts, which runs each contender in its own fresh process',
    results,
  });
  return results;
}

if (import.meta.url === `file://${process.argv[1]}`) await benchDiffAlternating();
