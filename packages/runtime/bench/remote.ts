/**
 * Benchmark of remote workers (`ordo worker --connect` over the runtime's worker endpoint, a unix socket on
 * this machine), against anchors measured in the same run:
 *   - scaling: a feature of 48 independent I/O-bound tasks (each sleeps 100 ms in the worker and writes one
 *     file) on 1 and on 4 remote workers; throughput ratio 4 ÷ 1 (target ≥ 3.4);
 *   - per-task overhead: 60 tasks that do nothing (sleep 0) on 1 remote worker and on 1 subprocess worker;
 *     ratio remote ÷ subprocess of the time per task (target ≤ 1.5).
 * Every figure carries the 1-minute load average (`uptime`) measured with it. Writes
 * bench/results/remote.json. Run with `tsx --conditions=@ordo/source bench/remote.ts` in packages/runtime.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRuntime, type PlanInput, type Runtime, workerCommand } from '../src/index.js';

const ROUNDS = 3;
const taskModule = fileURLToPath(new URL('./tasks.mjs', import.meta.url));
const bin = fileURLToPath(new URL('../src/cli/bin.ts', import.meta.url));
const median = (values: number[]) =>
  [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] as number;
const round = (value: number, digits = 2) => Number(value.toFixed(digits));
const load = () => round(loadavg()[0] as number);

function plan(name: string, tasks: number, ms: number): PlanInput {
  return {
    feature: name,
    tasks: Array.from({ length: tasks }, (_, i) => ({
      id: `t${i}`,
      files: [`out/t${i}.txt`],
      run: { module: taskModule, input: { ms, path: `out/t${i}.txt` } },
    })),
  };
}

/** Median wall time (ms) of `ROUNDS` runs of the plan, after one warm-up run. */
async function timeRuns(runtime: Runtime, tasks: number, ms: number, label: string): Promise<number> {
  await runtime.runFeature(plan(`${label}-warm`, tasks, ms));
  const times: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const start = performance.now();
    const result = await runtime.runFeature(plan(`${label}-${r}`, tasks, ms));
    times.push(performance.now() - start);
    if (result.status !== 'succeeded') throw new Error(`${label}: ${result.status}`);
  }
  return median(times);
}

/** A runtime on `n` remote workers (real `ordo worker --connect` processes), closed with its workers. */
async function withRemote<T>(n: number, fn: (runtime: Runtime) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(path.join(tmpdir(), 'ordo-bench-remote-'));
  const ws = path.join(dir, 'ws');
  mkdirSync(ws);
  const children: ChildProcess[] = [];
  try {
    await using runtime = await createRuntime({
      workspace: ws,
      workers: { count: n, remote: { listen: `unix://${path.join(dir, 'w.sock')}` } },
    });
    const endpoint = runtime.workerEndpoint;
    if (!endpoint) throw new Error('no endpoint');
    const { args } = workerCommand();
    for (let i = 0; i < n; i++) {
      children.push(
        spawn(
          process.execPath,
          [
            ...args.slice(0, -1),
            bin,
            'worker',
            '--connect',
            endpoint.url,
            '--token-file',
            endpoint.tokenFile,
          ],
          { stdio: 'ignore' },
        ),
      );
    }
    while (endpoint.stats().waiting < n) await new Promise((r) => setTimeout(r, 50));
    return await fn(runtime);
  } finally {
    for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
    await rm(dir, { recursive: true, force: true });
  }
}

async function withSubprocess<T>(n: number, fn: (runtime: Runtime) => Promise<T>): Promise<T> {
  const ws = await mkdtemp(path.join(tmpdir(), 'ordo-bench-local-'));
  try {
    await using runtime = await createRuntime({ workspace: ws, workers: n });
    return await fn(runtime);
  } finally {
    await rm(ws, { recursive: true, force: true });
  }
}

const SCALE_TASKS = 48;
const SCALE_MS = 100;
const OVERHEAD_TASKS = 60;

const one = await withRemote(1, (r) => timeRuns(r, SCALE_TASKS, SCALE_MS, 'scale1'));
const oneLoad = load();
const four = await withRemote(4, (r) => timeRuns(r, SCALE_TASKS, SCALE_MS, 'scale4'));
const fourLoad = load();
const remoteTiny = await withRemote(1, (r) => timeRuns(r, OVERHEAD_TASKS, 0, 'tiny-remote'));
const remoteTinyLoad = load();
const localTiny = await withSubprocess(1, (r) => timeRuns(r, OVERHEAD_TASKS, 0, 'tiny-local'));
const localTinyLoad = load();

const scaling = one / four;
const overhead = remoteTiny / OVERHEAD_TASKS / (localTiny / OVERHEAD_TASKS);
const results = {
  date: new Date().toISOString(),
  machine: { cpus: cpus().length, model: cpus()[0]?.model, node: process.version },
  rounds: ROUNDS,
  scaling: {
    tasks: SCALE_TASKS,
    sleepMs: SCALE_MS,
    oneWorker: { wallMs: round(one), tasksPerSecond: round((SCALE_TASKS / one) * 1000), load1: oneLoad },
    fourWorkers: { wallMs: round(four), tasksPerSecond: round((SCALE_TASKS / four) * 1000), load1: fourLoad },
    ratio: round(scaling),
    target: 3.4,
    pass: scaling >= 3.4,
  },
  overhead: {
    tasks: OVERHEAD_TASKS,
    remote: { msPerTask: round(remoteTiny / OVERHEAD_TASKS), load1: remoteTinyLoad },
    subprocess: { msPerTask: round(localTiny / OVERHEAD_TASKS), load1: localTinyLoad },
    ratio: round(overhead),
    target: 1.5,
    pass: overhead <= 1.5,
  },
};
mkdirSync(new URL('./results/', import.meta.url), { recursive: true });
writeFileSync(new URL('./results/remote.json', import.meta.url), `${JSON.stringify(results, null, 2)}\n`);
process.stdout.write(
  `remote workers: 4 vs 1 throughput ${results.scaling.ratio}x (target >= 3.4; load ${oneLoad} / ${fourLoad}); ` +
    `per-task ${results.overhead.remote.msPerTask} ms remote vs ${results.overhead.subprocess.msPerTask} ms subprocess = ${results.overhead.ratio}x (target <= 1.5; load ${remoteTinyLoad} / ${localTinyLoad})\n`,
);
