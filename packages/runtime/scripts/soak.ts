/**
 * `pnpm soak`: the long kill -9 / `--resume` run (not in CI). The issue's plan (15 shell tasks in 4
 * levels) on 3 subprocess workers: `ordo run` SIGKILLed at a random moment (and, with `--kill-points`,
 * also at a random test-only commit step), then `ordo run --resume` (itself killed at random now and then)
 * until it exits 0; each trial's workspace bytes, trace digest, `.ordo-spool` residue and leftover worker
 * processes are compared with an uninterrupted run of the same plan.
 *
 * Usage: pnpm soak [--trials 40] [--workers 3] [--seed 1] [--kill-points]
 * Exits 1 when any trial differs.
 */
import { parseArgs } from 'node:util';
import { KILL_STEPS } from '../src/internal/testKillPoint.js';
import { FIFTEEN_TASKS, killAndResume, planWorkspace, referenceRun } from '../test/support/crashTrial.js';

const { values } = parseArgs({
  options: {
    trials: { type: 'string', default: '40' },
    workers: { type: 'string', default: '3' },
    seed: { type: 'string', default: String(Date.now() % 100_000) },
    'kill-points': { type: 'boolean', default: false },
  },
});
const say = (line: string | undefined) => process.stdout.write(`${line ?? ''}\n`);
const trials = Number(values.trials);
const workers = Number(values.workers);
let seed = Number(values.seed);
/** mulberry32: a reproducible run for a given --seed. */
const random = () => {
  seed = (seed + 0x6d2b79f5) | 0;
  let t = seed;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
};

say(`soak: ${trials} trials, ${workers} workers, seed ${values.seed}`);
// Twice: the first warms tsx's cache, the second times the kill window.
await referenceRun(FIFTEEN_TASKS, workers);
const reference = await referenceRun(FIFTEEN_TASKS, workers);
say(
  `reference: ${reference.ms} ms, trace ${reference.traceDigest?.slice(0, 12)}, tree ${reference.tree.slice(0, 12)}`,
);

const kill = () =>
  values['kill-points'] && random() < 0.5
    ? { killAt: `${KILL_STEPS[Math.floor(random() * KILL_STEPS.length)]}:${1 + Math.floor(random() * 15)}` }
    : { killAfterMs: Math.floor(random() * reference.ms) };

let bad = 0;
for (let trial = 1; trial <= trials; trial++) {
  await using ws = await planWorkspace(FIFTEEN_TASKS);
  const first = kill();
  const then = Array.from({ length: 3 }, () => (random() < 0.3 ? kill() : {}));
  const t0 = Date.now();
  const { state, runs } = await killAndResume(ws.dir, workers, first, then);
  const problems: string[] = [];
  if (state.tree !== reference.tree) problems.push('workspace bytes differ');
  if (state.traceDigest !== reference.traceDigest) problems.push(`trace ${state.traceDigest ?? 'none'}`);
  if (state.spoolLeft) problems.push('.ordo-spool left');
  if (state.processesLeft.length > 0) problems.push(`processes left: ${state.processesLeft.join(',')}`);
  const how = runs.map((r) => (r.signal ? 'killed' : `exit ${r.code}`)).join(' → ');
  say(
    `trial ${trial}: ${JSON.stringify(first)} ${how} (${Date.now() - t0} ms)${problems.length ? ` FAIL: ${problems.join('; ')}` : ' ok'}`,
  );
  if (problems.length > 0) {
    bad++;
    const last = runs.at(-1);
    say(last?.stderr.slice(-2000));
  }
}
say(`soak: ${bad} of ${trials} trials differ`);
process.exitCode = bad > 0 ? 1 : 0;
