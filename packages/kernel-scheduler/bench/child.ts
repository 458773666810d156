/**
 * One contender of one benchmark, in a fresh process: `bench/index.ts` starts this file once per contender
 * and round and reads the single JSON line it prints. Never run by the tests.
 *
 *   child.ts overhead <ordo|ordo-untraced|p-limit|p-queue> <tasks> <warmup> <iterations>
 *   child.ts io <ordo|p-limit|barrier|serial> <tasks>
 *   child.ts latency <ordo|p-limit> <tasks>
 *   child.ts heap <runs>
 */
import { loadavg } from 'node:os';
import pLimit from 'p-limit';
import PQueue from 'p-queue';
import { createScheduler, planOrder, type Task } from '../src/index.js';
import { CONCURRENCY, ioLatencies, SEED, valueTasks } from './shared.js';

const gc = (globalThis as { gc?: () => void }).gc ?? (() => {});
const [scenario, contender, ...rest] = process.argv.slice(2);
const numbers = rest.map(Number);
let sink: unknown;

function out(data: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify({ ...data, loadAverage1m: loadavg()[0] })}\n`);
}

/** Per-task cost of running `tasks` that return values, the way each library is used. */
async function overhead(name: string, n: number, warmup: number, iterations: number): Promise<void> {
  const tasks = valueTasks(n);
  const runs = tasks.map((task) => task.run as () => Promise<unknown>);
  let once: () => Promise<unknown>;
  if (name === 'ordo' || name === 'ordo-untraced') {
    // One scheduler for the process, as a host keeps one; the trace's final digest is read like a user would.
    const scheduler = createScheduler({ concurrency: CONCURRENCY, seed: SEED, trace: name === 'ordo' });
    once = async () => {
      const run = await scheduler.schedule(tasks);
      sink = run.trace?.digest ?? run.records.length;
    };
  } else if (name === 'p-limit') {
    const limit = pLimit(CONCURRENCY);
    // The cheapest p-limit call: the task's own function, no wrapper closure.
    once = async () => {
      sink = await Promise.all(runs.map((run) => limit(run)));
    };
  } else if (name === 'p-queue') {
    const queue = new PQueue({ concurrency: CONCURRENCY });
    once = async () => {
      sink = await Promise.all(runs.map((run) => queue.add(run)));
    };
  } else throw new Error(`unknown contender ${name}`);
  for (let i = 0; i < warmup; i++) await once();
  const wallUs: number[] = [];
  const cpuUs: number[] = [];
  for (let i = 0; i < iterations; i++) {
    const cpu = process.cpuUsage();
    const start = performance.now();
    await once();
    const wall = performance.now() - start;
    const used = process.cpuUsage(cpu);
    wallUs.push((wall * 1000) / n);
    cpuUs.push((used.user + used.system) / n);
  }
  out({ wallUs, cpuUs });
}

const sleep = (ms: number) => new Promise<number>((resolve) => setTimeout(resolve, ms, ms));

/** Wall time of I/O-like tasks (seeded 1–20 ms), all pools starting them in ordo's planned order. */
async function io(name: string, n: number): Promise<void> {
  const latencies = ioLatencies(n);
  const tasks: Task<number>[] = latencies.map((ms, i) => ({ id: `io-${i}`, run: () => sleep(ms) }));
  const planned = planOrder(tasks, SEED).map((task) => latencies[Number(task.id.slice(3))] as number);
  const start = performance.now();
  if (name === 'ordo') {
    const run = await createScheduler({ concurrency: CONCURRENCY, seed: SEED }).schedule(tasks);
    sink = run.trace.digest;
  } else if (name === 'p-limit') {
    const limit = pLimit(CONCURRENCY);
    sink = await Promise.all(planned.map((ms) => limit(() => sleep(ms))));
  } else if (name === 'barrier') {
    for (let b = 0; b < planned.length; b += CONCURRENCY) {
      await Promise.all(planned.slice(b, b + CONCURRENCY).map(sleep));
    }
  } else if (name === 'serial') {
    for (const ms of planned) await sleep(ms);
  } else throw new Error(`unknown contender ${name}`);
  out({ wallMs: performance.now() - start });
}

/**
 * The latency the scheduler adds before a result reaches the caller: for each task, the time from the
 * moment its work ended (stamped inside the task) to the moment the caller got it (ordo: `onCommit`, in the
 * deterministic order; p-limit: its promise, in completion order).
 */
async function latency(name: string, n: number): Promise<void> {
  const latencies = ioLatencies(n);
  const ended = new Float64Array(n);
  const delivered = new Float64Array(n);
  const tasks: Task<number>[] = latencies.map((ms, i) => ({
    id: `io-${i}`,
    run: async () => {
      await sleep(ms);
      ended[i] = performance.now();
      return i;
    },
  }));
  const start = performance.now();
  if (name === 'ordo') {
    const scheduler = createScheduler({ concurrency: CONCURRENCY, seed: SEED });
    const run = await scheduler.schedule(tasks, {
      onCommit: (record) => {
        delivered[record.value as number] = performance.now();
      },
    });
    sink = run.trace.digest;
  } else if (name === 'p-limit') {
    const limit = pLimit(CONCURRENCY);
    const order = planOrder(tasks, SEED);
    await Promise.all(
      order.map((task) =>
        limit(() => task.run({} as never)).then((i) => {
          delivered[i] = performance.now();
        }),
      ),
    );
  } else throw new Error(`unknown contender ${name}`);
  const wallMs = performance.now() - start;
  const added = Array.from(delivered, (at, i) => at - (ended[i] as number)).sort((a, b) => a - b);
  const pick = (q: number) => added[Math.min(added.length - 1, Math.floor(q * added.length))] as number;
  out({ wallMs, addedMs: { p50: pick(0.5), p95: pick(0.95), p99: pick(0.99), max: pick(1) } });
}

/** Heap after many runs with a bounded history, against after 100 runs. */
async function heap(runs: number): Promise<void> {
  const scheduler = createScheduler({ concurrency: 4, seed: 'heap', history: { maxRuns: 100 } });
  const tasks: Task<{ n: number }>[] = Array.from({ length: 10 }, (_, i) => ({
    id: `t${i}`,
    run: () => {
      if (i === 3) throw new Error('a failure, kept as a checkpoint');
      return { n: i };
    },
  }));
  const heapAfter = async (count: number) => {
    for (let i = 0; i < count; i++) await scheduler.schedule(tasks);
    gc();
    gc();
    return process.memoryUsage().heapUsed;
  };
  const after100 = await heapAfter(100);
  const afterAll = await heapAfter(runs - 100);
  out({ after100, afterAll, historySize: scheduler.history.size });
}

if (scenario === 'overhead') await overhead(contender as string, ...(numbers as [number, number, number]));
else if (scenario === 'io') await io(contender as string, numbers[0] as number);
else if (scenario === 'latency') await latency(contender as string, numbers[0] as number);
else if (scenario === 'heap') await heap(Number(contender));
else throw new Error(`unknown scenario ${scenario}`);
void sink;
