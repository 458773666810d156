/**
 * Benchmark of @ordo/runtime against its anchor, measured in the same run: a 60-task, 4-level feature of
 * I/O-bound tasks (each sleeps 50 ms inside the worker and writes one file) on 4 subprocess workers.
 *   - scheduling efficiency: (sum of task sleep ÷ workers) ÷ end-to-end wall time (target ≥ 85 %);
 *   - the parent's RSS after warm-up, workers excluded (target < 96 MB);
 *   - overhead per task of the whole path (queue, snapshot, IPC, spool, state, journal) against the anchor:
 *     the same 60 tasks through p-limit(4) over 4 workers of the same command, level by level, each result's
 *     file written directly, no spool, no state.
 * Writes bench/results/runtime.json. Run with `pnpm --filter @ordo/runtime bench`.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { WorkerPool } from '@ordo/governance';
import { SubprocessLauncher } from '@ordo/launcher';
import pLimit from 'p-limit';
import { createRuntime, type PlanInput, workerCommand } from '../src/index.js';
import { fromWire, type TaskPayload, type TaskResult } from '../src/internal/taskWire.js';

const TASKS = 60;
const LEVELS = 4;
const WORKERS = 4;
const SLEEP_MS = 50;
const ROUNDS = 5;
const taskModule = fileURLToPath(new URL('./tasks.mjs', import.meta.url));

const median = (values: number[]) =>
  [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] as number;
const round = (value: number, digits = 2) => Number(value.toFixed(digits));
const mb = (bytes: number) => round(bytes / 2 ** 20, 1);

/** Level k holds tasks k*15 … k*15+14; each depends on the task of the same column one level up. */
function benchPlan(name: string): PlanInput {
  const perLevel = TASKS / LEVELS;
  return {
    feature: name,
    tasks: Array.from({ length: TASKS }, (_, i) => {
      const level = Math.floor(i / perLevel);
      const file = `out/t${i}.txt`;
      return {
        id: `t${i}`,
        deps: level === 0 ? [] : [`t${i - perLevel}`],
        files: [file],
        run: { module: taskModule, input: { ms: SLEEP_MS, path: file } },
      };
    }),
  };
}

/** The anchor: the same tasks over 4 workers with p-limit(4), level by level, files written directly. */
async function anchorRun(pool: WorkerPool<TaskPayload, unknown>, ws: string, name: string): Promise<number> {
  const plan = benchPlan(name);
  const limit = pLimit(WORKERS);
  const start = performance.now();
  for (let level = 0; level < LEVELS; level++) {
    const tasks = plan.tasks.slice(level * (TASKS / LEVELS), (level + 1) * (TASKS / LEVELS));
    await Promise.all(
      tasks.map((task) =>
        limit(async () => {
          {
            const payload: TaskPayload = {
              feature: name,
              taskId: task.id,
              workspace: ws,
              files: [],
              absent: [],
              run: {
                kind: 'module',
                module: taskModule,
                export: 'default',
                input: (task.run as { input: unknown }).input,
              },
            };
            const result = (await pool.run(payload)) as TaskResult;
            if (result.status !== 'ok') throw new Error('anchor task failed');
            for (const edit of result.edits) {
              const file = path.join(ws, edit.path);
              await mkdir(path.dirname(file), { recursive: true });
              if (edit.content) await writeFile(file, fromWire(edit.content));
            }
          }
        }),
      ),
    );
  }
  return performance.now() - start;
}

interface RssProbe {
  status: string;
  rssAfter: number;
  rssPeak: number;
  heapUsed: number;
  heapTotal: number;
}

/**
 * The parent's RSS as a host sees it: the built package (dist/) under plain node, in a child process, so
 * neither tsx nor this script's anchor is counted. `undefined` when dist/ is missing (run the build first).
 */
async function probeBuiltRss(nodeFlags: readonly string[] = []): Promise<RssProbe | undefined> {
  if (!existsSync(new URL('../dist/index.js', import.meta.url))) return undefined;
  const probe = fileURLToPath(new URL('./rss-probe.mjs', import.meta.url));
  const { stdout } = await promisify(execFile)(process.execPath, [
    ...nodeFlags,
    probe,
    JSON.stringify(benchPlan('rss')),
    String(WORKERS),
  ]);
  return JSON.parse(stdout.trim().split('\n').at(-1) as string) as RssProbe;
}

async function main(): Promise<void> {
  const idealMs = (TASKS * SLEEP_MS) / WORKERS;
  const levelBoundMs = LEVELS * Math.ceil(TASKS / LEVELS / WORKERS) * SLEEP_MS;

  // The anchor's workers: the runtime's worker entry, started by the same launcher class.
  const { command, args } = workerCommand();
  const launcher = new SubprocessLauncher({ command, args });
  const anchorPool = new WorkerPool<TaskPayload, unknown>({ launcher, maxWorkers: WORKERS });
  await anchorPool.start(); // the warm-up run below starts the rest

  const runtimeWs = await mkdtemp(path.join(tmpdir(), 'ordo-bench-runtime-'));
  const anchorWs = await mkdtemp(path.join(tmpdir(), 'ordo-bench-anchor-'));
  const runtime = await createRuntime({ workspace: runtimeWs, workers: WORKERS });
  // Warm-up: workers started, modules loaded, JIT warm, on both sides.
  await runtime.runFeature(benchPlan('warmup'));
  await anchorRun(anchorPool, anchorWs, 'warmup');
  globalThis.gc?.();

  let peakRss = process.memoryUsage().rss;
  const sampler = setInterval(() => {
    peakRss = Math.max(peakRss, process.memoryUsage().rss);
  }, 20);
  const runtimeMs: number[] = [];
  const anchorMs: number[] = [];
  const execMs: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    await rm(path.join(runtimeWs, 'out'), { recursive: true, force: true });
    await rm(path.join(anchorWs, 'out'), { recursive: true, force: true });
    const start = performance.now();
    const result = await runtime.runFeature(benchPlan(`bench-${r}`));
    runtimeMs.push(performance.now() - start);
    if (result.status !== 'succeeded')
      throw new Error(
        `bench feature ${result.status}: ${JSON.stringify(result.tasks.filter((t) => t.status !== 'committed').slice(0, 3))}`,
      );
    execMs.push(result.metrics.totalTaskMs);
    anchorMs.push(await anchorRun(anchorPool, anchorWs, `bench-${r}`));
  }
  clearInterval(sampler);
  const rssAfter = process.memoryUsage().rss;

  await runtime.close();
  await anchorPool.close();
  await launcher.close();
  await rm(runtimeWs, { recursive: true, force: true });
  await rm(anchorWs, { recursive: true, force: true });

  const built = await probeBuiltRss();
  // The same with V8's young generation capped: what the runtime holds, without the default semi-space slack.
  const builtSmallYoung = await probeBuiltRss(['--max-semi-space-size=4']);
  const wall = median(runtimeMs);
  const anchor = median(anchorMs);
  const results = {
    tasks: TASKS,
    levels: LEVELS,
    workers: WORKERS,
    sleepMs: SLEEP_MS,
    rounds: ROUNDS,
    idealMs,
    levelBoundMs,
    runtimeWallMs: round(wall),
    anchorWallMs: round(anchor),
    schedulingEfficiency: round(idealMs / wall, 3),
    anchorEfficiency: round(idealMs / anchor, 3),
    efficiencyVsLevelBound: round(levelBoundMs / wall, 3),
    runtimeVsAnchor: round(wall / anchor, 3),
    overheadPerTaskMs: round((wall - anchor) / TASKS, 2),
    measuredTaskExecMsPerTask: round(median(execMs) / TASKS, 1),
    builtParentRssMb: built ? mb(built.rssAfter) : null,
    builtParentPeakRssMb: built ? mb(built.rssPeak) : null,
    builtParentHeapUsedMb: built ? mb(built.heapUsed) : null,
    builtParentHeapTotalMb: built ? mb(built.heapTotal) : null,
    builtSemiSpace4RssMb: builtSmallYoung ? mb(builtSmallYoung.rssAfter) : null,
    sourceParentRssMb: mb(rssAfter),
    sourceParentPeakRssMb: mb(peakRss),
    targets: { schedulingEfficiency: 0.85, parentRssMb: 96 },
    samples: { runtimeMs: runtimeMs.map((v) => round(v)), anchorMs: anchorMs.map((v) => round(v)) },
  };
  const machine = {
    date: new Date().toISOString(),
    node: process.version,
    cpu: cpus()[0]?.model ?? 'unknown',
    cores: cpus().length,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    loadAverage1m: round(loadavg()[0] as number, 1),
  };
  const dir = new URL('./results/', import.meta.url);
  mkdirSync(dir, { recursive: true });
  writeFileSync(new URL('runtime.json', dir), `${JSON.stringify({ ...machine, ...results }, null, 2)}\n`);
  console.log(
    [
      `runtime  ${results.runtimeWallMs} ms (ideal ${idealMs} ms, level bound ${levelBoundMs} ms) → efficiency ${(results.schedulingEfficiency * 100).toFixed(1)} % (target ≥ 85 %)`,
      `anchor   ${results.anchorWallMs} ms (p-limit(4), same workers, no spool/state) → efficiency ${(results.anchorEfficiency * 100).toFixed(1)} %`,
      `overhead ${results.overheadPerTaskMs} ms per task (runtime ÷ anchor = ${results.runtimeVsAnchor})`,
      built
        ? `parent RSS (built, plain node) ${results.builtParentRssMb} MB after the run, peak ${results.builtParentPeakRssMb} MB (target < 96 MB, workers excluded)`
        : 'parent RSS (built): dist/ missing, run `pnpm nx run @ordo/runtime:build` first',
      builtSmallYoung ? `parent RSS (built, --max-semi-space-size=4) ${results.builtSemiSpace4RssMb} MB` : '',
      `parent RSS (this tsx process, source) ${results.sourceParentRssMb} MB, peak ${results.sourceParentPeakRssMb} MB`,
    ].join('\n'),
  );
}

await main();
