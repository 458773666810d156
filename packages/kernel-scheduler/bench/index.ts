/**
 * Benchmarks of @ordo/kernel-scheduler against its anchors, measured in the same run:
 *   1. per-task overhead on 20,000 no-op tasks vs raw p-limit (and p-queue);
 *   2. wall time of 400 I/O-like tasks (seeded 1–20 ms latency, concurrency 16) vs unordered p-limit and
 *      vs running the batches serially;
 *   3. trace hashing cost per record;
 *   4. heap after 10,000 runs with maxRuns 100 vs after 100 runs.
 * Prints the ratios and writes JSON to bench/results/. Run with `pnpm --filter @ordo/kernel-scheduler bench`.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import pLimit from 'p-limit';
import PQueue from 'p-queue';
import { chainDigest, createScheduler, planOrder, resultDigest, type Task } from '../src/index.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const resultsDir = new URL('./results/', import.meta.url);
mkdirSync(resultsDir, { recursive: true });
const machine = {
  date: new Date().toISOString(),
  node: process.version,
  cpu: cpus()[0]?.model ?? 'unknown',
  cores: cpus().length,
  memoryGiB: Math.round(totalmem() / 2 ** 30),
};

function write(name: string, data: Record<string, unknown>): void {
  const load = { loadAverage1m: round(loadavg()[0] as number, 1) };
  writeFileSync(
    new URL(`${name}.json`, resultsDir),
    `${JSON.stringify({ ...machine, ...load, ...data }, null, 2)}\n`,
  );
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] as number;
};
const round = (value: number, digits = 2) => Number(value.toFixed(digits));

/** A seeded PRNG (mulberry32), so latencies are the same on every run. */
function prng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

async function time(fn: () => Promise<unknown>): Promise<number> {
  const start = performance.now();
  await fn();
  return performance.now() - start;
}

/** Wall and CPU milliseconds of `fn`. CPU time (user + system, all threads) suffers less from a busy machine. */
async function timeBoth(fn: () => Promise<unknown>): Promise<{ wall: number; cpu: number }> {
  const cpu = process.cpuUsage();
  const wall = await time(fn);
  const used = process.cpuUsage(cpu);
  return { wall, cpu: (used.user + used.system) / 1000 };
}

// 1. Per-task overhead on no-op tasks.
async function noopOverhead() {
  const n = 20_000;
  const concurrency = 16;
  const rounds = 11;
  const noop = async () => {};
  const tasks: Task[] = Array.from({ length: n }, (_, i) => ({ id: `task-${i}`, run: noop }));
  const contenders: Record<string, () => Promise<unknown>> = {
    'p-limit': () => {
      const limit = pLimit(concurrency);
      return Promise.all(tasks.map(() => limit(noop)));
    },
    'p-queue': () => {
      const queue = new PQueue({ concurrency });
      return Promise.all(tasks.map(() => queue.add(noop)));
    },
    ordo: () => createScheduler({ concurrency, seed: 'bench' }).schedule(tasks),
  };
  const perTask = (samples: Record<string, number[]>) =>
    Object.fromEntries(
      Object.entries(samples).map(([name, ms]) => [name, round((median(ms) * 1000) / n, 3)]),
    );
  const ratio = (us: Record<string, number>, anchor: string) =>
    round((us.ordo as number) / (us[anchor] as number));
  /**
   * `warm`: rounds back to back, as in a host that keeps running (the heap stays sized for the work).
   * `cold`: a full GC before every round, so each run first has to grow the heap again; ordo keeps a record,
   * a trace entry and a digest per task, so it pays for that growth and p-limit, which keeps nothing, does not.
   */
  const measure = async (heap: 'warm' | 'cold') => {
    const wall: Record<string, number[]> = { 'p-limit': [], 'p-queue': [], ordo: [] };
    const cpu: Record<string, number[]> = { 'p-limit': [], 'p-queue': [], ordo: [] };
    for (let r = 0; r < rounds + 1; r++) {
      for (const [name, fn] of Object.entries(contenders)) {
        if (heap === 'cold') gc();
        const ms = await timeBoth(fn);
        if (r === 0) continue; // round 0 warms the JIT up
        wall[name]?.push(ms.wall);
        cpu[name]?.push(ms.cpu);
      }
    }
    const wallUs = perTask(wall);
    const cpuUs = perTask(cpu);
    const vsPLimit = { wall: ratio(wallUs, 'p-limit'), cpu: ratio(cpuUs, 'p-limit') };
    console.log(
      `no-op x${n}, ${heap} heap (median of ${rounds}): ordo ${wallUs.ordo} us/task wall, ${cpuUs.ordo} cpu; p-limit ${wallUs['p-limit']} / ${cpuUs['p-limit']}; p-queue ${wallUs['p-queue']} / ${cpuUs['p-queue']}` +
        ` -> ${vsPLimit.wall}x p-limit wall, ${vsPLimit.cpu}x cpu (target <= 1.5x)`,
    );
    return {
      perTaskWallUs: wallUs,
      perTaskCpuUs: cpuUs,
      ratioVsPLimit: vsPLimit,
      ratioVsPQueue: { wall: ratio(wallUs, 'p-queue'), cpu: ratio(cpuUs, 'p-queue') },
      met: { wall: vsPLimit.wall <= 1.5, cpu: vsPLimit.cpu <= 1.5 },
    };
  };
  const warm = await measure('warm');
  const cold = await measure('cold');
  write('noop-overhead', {
    benchmark: 'noop-overhead',
    tasks: n,
    concurrency,
    rounds,
    target: 'ordo <= 1.5x p-limit',
    warm,
    cold,
  });
}

// 2. I/O-bound tasks: seeded 1–20 ms latency.
async function ioWallTime() {
  const n = 400;
  const concurrency = 16;
  const rounds = 7;
  const serialRounds = 2;
  const random = prng(7);
  const latencies = Array.from({ length: n }, () => 1 + Math.floor(random() * 20));
  const io = (ms: number) => new Promise<number>((resolve) => setTimeout(() => resolve(ms), ms));
  const tasks: Task<number>[] = latencies.map((ms, i) => ({ id: `io-${i}`, run: () => io(ms) }));
  const plannedLatencies = planOrder(tasks, 'bench').map(
    (task) => latencies[Number(task.id.slice(3))] as number,
  );
  const batches = Array.from({ length: Math.ceil(n / concurrency) }, (_, b) =>
    plannedLatencies.slice(b * concurrency, (b + 1) * concurrency),
  );
  const contenders: Record<string, () => Promise<unknown>> = {
    ordo: () => createScheduler({ concurrency, seed: 'bench' }).schedule(tasks),
    // Started in ordo's planned order, so both pack the same latencies into their slots: the difference is
    // the cost of ordered commits and the trace, not a luckier order.
    'p-limit (unordered)': () => {
      const limit = pLimit(concurrency);
      return Promise.all(plannedLatencies.map((ms) => limit(() => io(ms))));
    },
    'batches, each run serially': async () => {
      for (const batch of batches) for (const ms of batch) await io(ms);
    },
    'batches with a barrier': async () => {
      for (const batch of batches) await Promise.all(batch.map(io));
    },
  };
  const samples: Record<string, number[]> = Object.fromEntries(Object.keys(contenders).map((k) => [k, []]));
  const cpuSamples: Record<string, number[]> = Object.fromEntries(
    Object.keys(contenders).map((k) => [k, []]),
  );
  for (let r = 0; r < rounds; r++) {
    for (const [name, fn] of Object.entries(contenders)) {
      // The serial baseline takes ~5 s a round and barely varies: two rounds of it are enough.
      if (name === 'batches, each run serially' && r >= serialRounds) continue;
      const ms = await timeBoth(fn);
      samples[name]?.push(ms.wall);
      cpuSamples[name]?.push(ms.cpu);
    }
  }
  const cpuMs = Object.fromEntries(
    Object.entries(cpuSamples).map(([name, ms]) => [name, round(median(ms), 1)]),
  );
  const wallMs = Object.fromEntries(
    Object.entries(samples).map(([name, ms]) => [name, round(median(ms), 1)]),
  );
  const ordo = wallMs.ordo as number;
  const vsPLimit = round(ordo / (wallMs['p-limit (unordered)'] as number), 3);
  const vsSerial = round((wallMs['batches, each run serially'] as number) / ordo, 1);
  const vsBarrier = round((wallMs['batches with a barrier'] as number) / ordo, 2);
  const result = {
    benchmark: 'io-wall-time',
    tasks: n,
    concurrency,
    rounds,
    serialRounds,
    latencyMs: '1-20, seeded',
    wallMs,
    cpuMs,
    ordoOverPLimit: vsPLimit,
    speedupOverSerialBatches: vsSerial,
    speedupOverBarrierBatches: vsBarrier,
    targets: { 'within 10% of p-limit': vsPLimit <= 1.1, '>= 8x faster than serial batches': vsSerial >= 8 },
  };
  write('io-wall-time', result);
  console.log(
    `I/O x${n} @${concurrency}: ordo ${ordo} ms, p-limit ${wallMs['p-limit (unordered)']} ms (${vsPLimit}x, target <= 1.1x), serial batches ${wallMs['batches, each run serially']} ms (${vsSerial}x faster, target >= 8x), barrier batches ${wallMs['batches with a barrier']} ms (${vsBarrier}x); cpu ordo ${cpuMs.ordo} ms, p-limit ${cpuMs['p-limit (unordered)']} ms`,
  );
}

// 3. Trace hashing per record.
function traceHashing() {
  const n = 100_000;
  const value = { file: 'src/index.ts', lines: 120, ok: true };
  const ids = Array.from({ length: n }, (_, seq) => `task-${seq}`);
  const chainOnly = () => {
    let previous = '0'.repeat(64);
    const digest = resultDigest('ok', undefined, undefined);
    for (let seq = 0; seq < n; seq++) {
      previous = chainDigest(previous, { seq, id: ids[seq] as string, status: 'ok', resultDigest: digest });
    }
  };
  const withResult = () => {
    let previous = '0'.repeat(64);
    for (let seq = 0; seq < n; seq++) {
      const digest = resultDigest('ok', value, undefined);
      previous = chainDigest(previous, { seq, id: ids[seq] as string, status: 'ok', resultDigest: digest });
    }
  };
  const measure = (fn: () => void) => {
    fn(); // warm-up
    const wall: number[] = [];
    const cpu: number[] = [];
    for (let r = 0; r < 5; r++) {
      const usage = process.cpuUsage();
      const start = performance.now();
      fn();
      wall.push(performance.now() - start);
      const used = process.cpuUsage(usage);
      cpu.push((used.user + used.system) / 1000);
    }
    return { wallUs: round((median(wall) * 1000) / n, 3), cpuUs: round((median(cpu) * 1000) / n, 3) };
  };
  const chain = measure(chainOnly);
  const full = measure(withResult);
  write('trace-hashing', {
    benchmark: 'trace-hashing',
    records: n,
    perRecordChainLinkOnly: chain,
    perRecordWithObjectResult: { ...full, value },
  });
  console.log(
    `trace hashing per record: chain link ${chain.cpuUs} us cpu (${chain.wallUs} wall); with an object result digested ${full.cpuUs} us cpu (${full.wallUs} wall)`,
  );
}

// 4. Heap after many runs with a bounded history.
async function historyHeap() {
  const scheduler = createScheduler({ concurrency: 4, seed: 'heap', history: { maxRuns: 100 } });
  const tasks: Task<{ n: number }>[] = Array.from({ length: 10 }, (_, i) => ({
    id: `t${i}`,
    run: () => {
      if (i === 3) throw new Error('a failure, kept as a checkpoint');
      return { n: i };
    },
  }));
  const heapAfter = async (runs: number) => {
    for (let i = 0; i < runs; i++) await scheduler.schedule(tasks);
    gc();
    gc();
    return process.memoryUsage().heapUsed;
  };
  const after100 = await heapAfter(100);
  const after10k = await heapAfter(9_900);
  const ratio = round(after10k / after100, 3);
  const result = {
    benchmark: 'history-heap',
    tasksPerRun: tasks.length,
    maxRuns: 100,
    heapUsedAfter100RunsMiB: round(after100 / 2 ** 20),
    heapUsedAfter10000RunsMiB: round(after10k / 2 ** 20),
    ratio,
    target: '<= 1.2x',
    met: ratio <= 1.2,
    historySize: scheduler.history.size,
  };
  write('history-heap', result);
  console.log(
    `heap: ${result.heapUsedAfter100RunsMiB} MiB after 100 runs, ${result.heapUsedAfter10000RunsMiB} MiB after 10,000 (${ratio}x, target <= 1.2x: ${result.met ? 'met' : 'MISSED'})`,
  );
}

console.log(`@ordo/kernel-scheduler bench on ${machine.cpu} (${machine.cores} cores), Node ${machine.node}`);
// `pnpm bench noop trace` runs only those; no argument runs all four.
const only = process.argv.slice(2);
const wanted = (name: string) => only.length === 0 || only.includes(name);
if (wanted('noop')) await noopOverhead();
if (wanted('io')) await ioWallTime();
if (wanted('trace')) traceHashing();
if (wanted('heap')) await historyHeap();
