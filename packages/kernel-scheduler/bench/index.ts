/**
 * Benchmarks of @ordo/kernel-scheduler against its anchors. Every contender runs in its own fresh process
 * (`bench/child.ts`), contenders alternate within each round, and each figure is reported as min / median /
 * max over the rounds with the load average around it:
 *   overhead  per-task cost of 20,000 tasks that return numbers and small objects: ordo with the trace,
 *             ordo with `trace: false`, p-limit, p-queue (target: ordo <= 1.2x p-limit, untraced <= 1.0x);
 *   io        wall time of 400 tasks of seeded 1–20 ms at concurrency 16 vs p-limit and the ideal packing
 *             (target <= 1.10x), and vs batches (serial, with a barrier);
 *   latency   the latency ordo adds before a result reaches the caller, 10,000 such tasks at concurrency 16
 *             (p50/p95/p99/max), beside p-limit's;
 *   trace     trace hashing per record (in this process);
 *   heap      heap after 10,000 runs with maxRuns 100 vs after 100 runs.
 * Writes bench/results/<name>.json. `pnpm bench` runs all (about 2–3 minutes on a quiet 2-core machine);
 * `pnpm bench --quick` (or BENCH_QUICK=1) is a short run that proves it works; names pick a subset.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { fileURLToPath } from 'node:url';
import { canonicalJson, chainDigest, planOrder, resultDigest } from '../src/index.js';
import { TraceBuilder } from '../src/trace.js';

let sinkTrace: unknown;

import { CONCURRENCY, ioLatencies, SEED } from './shared.js';

const args = process.argv.slice(2);
const quick = args.includes('--quick') || process.env.BENCH_QUICK === '1';
const only = args.filter((a) => !a.startsWith('--'));
const wanted = (name: string) => only.length === 0 || only.includes(name);

const packageDir = fileURLToPath(new URL('..', import.meta.url));
const resultsDir = new URL('./results/', import.meta.url);
mkdirSync(resultsDir, { recursive: true });
const machine = {
  date: new Date().toISOString(),
  node: process.version,
  cpu: cpus()[0]?.model ?? 'unknown',
  cores: cpus().length,
  memoryGiB: Math.round(totalmem() / 2 ** 30),
  quick,
};
const round = (value: number, digits = 2) => Number(value.toFixed(digits));
const load = () => round(loadavg()[0] as number, 2);

/** Runs one contender in a fresh Node process and returns the JSON it printed. */
function child<T>(...childArgs: (string | number)[]): T & { loadAverage1m: number } {
  const output = execFileSync(
    process.execPath,
    [
      '--import',
      'tsx/esm',
      '--conditions=@ordo/source',
      '--expose-gc',
      'bench/child.ts',
      ...childArgs.map(String),
    ],
    { cwd: packageDir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] },
  );
  return JSON.parse(output.trim().split('\n').pop() as string);
}

const median = (values: readonly number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length / 2;
  return sorted.length % 2
    ? (sorted[Math.floor(mid)] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
};
const spread = (values: readonly number[], digits = 3) => ({
  min: round(Math.min(...values), digits),
  median: round(median(values), digits),
  max: round(Math.max(...values), digits),
});

function write(name: string, data: Record<string, unknown>): void {
  writeFileSync(new URL(`${name}.json`, resultsDir), `${JSON.stringify({ ...machine, ...data }, null, 2)}\n`);
}

/** Rotates the contenders each round, so none always runs first or last. */
const rotated = <T>(list: readonly T[], by: number) => list.map((_, i) => list[(i + by) % list.length] as T);

function overhead() {
  const n = quick ? 5_000 : 20_000;
  const rounds = quick ? 3 : 7;
  const warmup = quick ? 6 : 4;
  const iterations = quick ? 3 : 5;
  const contenders = ['ordo', 'ordo-untraced', 'p-limit', 'p-queue'] as const;
  const wall: Record<string, number[]> = Object.fromEntries(contenders.map((c) => [c, []]));
  const cpu: Record<string, number[]> = Object.fromEntries(contenders.map((c) => [c, []]));
  const loads: number[] = [load()];
  for (let r = 0; r < rounds; r++) {
    for (const name of rotated(contenders, r)) {
      const result = child<{ wallUs: number[]; cpuUs: number[] }>('overhead', name, n, warmup, iterations);
      // The median of the process's measured iterations (after its warm-up ones).
      wall[name]?.push(median(result.wallUs));
      cpu[name]?.push(median(result.cpuUs));
      loads.push(round(result.loadAverage1m));
    }
  }
  const paired = (of: string, anchor: string, samples: Record<string, number[]>) =>
    spread(
      (samples[of] as number[]).map((v, r) => v / ((samples[anchor] as number[])[r] as number)),
      3,
    );
  const ratio = (of: string, samples: Record<string, number[]>) =>
    round(median(samples[of] as number[]) / median(samples['p-limit'] as number[]), 3);
  const result = {
    benchmark: 'overhead',
    tasks: n,
    concurrency: CONCURRENCY,
    rounds,
    iterationsPerProcess: {
      warmup,
      measured: iterations,
      kept: 'the median of the measured iterations of each process',
    },
    values: 'async tasks returning numbers and { id, ok, size } objects, built like the README',
    perTaskWallUs: Object.fromEntries(contenders.map((c) => [c, spread(wall[c] as number[])])),
    perTaskCpuUs: Object.fromEntries(contenders.map((c) => [c, spread(cpu[c] as number[])])),
    ratioOfMedians: {
      traced: { wall: ratio('ordo', wall), cpu: ratio('ordo', cpu) },
      untraced: { wall: ratio('ordo-untraced', wall), cpu: ratio('ordo-untraced', cpu) },
    },
    ratioPerRound: {
      traced: { wall: paired('ordo', 'p-limit', wall), cpu: paired('ordo', 'p-limit', cpu) },
      untraced: {
        wall: paired('ordo-untraced', 'p-limit', wall),
        cpu: paired('ordo-untraced', 'p-limit', cpu),
      },
    },
    targets: { traced: '<= 1.2x p-limit', untraced: '<= 1.0x p-limit' },
    loadAverage1m: spread(loads, 2),
  };
  write('overhead', result);
  const us = (c: string) =>
    `${round(median(wall[c] as number[]), 3)} us wall / ${round(median(cpu[c] as number[]), 3)} cpu`;
  console.log(
    `overhead x${n} (${rounds} rounds, load ${result.loadAverage1m.min}-${result.loadAverage1m.max}): ` +
      `ordo ${us('ordo')}, untraced ${us('ordo-untraced')}, p-limit ${us('p-limit')}, p-queue ${us('p-queue')}\n` +
      `  traced ${result.ratioOfMedians.traced.wall}x wall ${result.ratioOfMedians.traced.cpu}x cpu (target <= 1.2); ` +
      `untraced ${result.ratioOfMedians.untraced.wall}x wall ${result.ratioOfMedians.untraced.cpu}x cpu (target <= 1.0)`,
  );
}

/** The makespan of the planned latencies on `CONCURRENCY` slots, each task to the first free slot: no overhead at all. */
function idealMakespan(latencies: readonly number[]): number {
  const slots = new Array<number>(CONCURRENCY).fill(0);
  for (const ms of latencies) {
    let best = 0;
    for (let s = 1; s < slots.length; s++) if ((slots[s] as number) < (slots[best] as number)) best = s;
    slots[best] = (slots[best] as number) + ms;
  }
  return Math.max(...slots);
}

function io() {
  const n = 400;
  const rounds = quick ? 2 : 5;
  const contenders = ['ordo', 'p-limit', 'barrier'];
  const wall: Record<string, number[]> = { ordo: [], 'p-limit': [], barrier: [], serial: [] };
  const loads: number[] = [load()];
  for (let r = 0; r < rounds; r++) {
    for (const name of rotated(contenders, r)) {
      const result = child<{ wallMs: number }>('io', name, n);
      wall[name]?.push(result.wallMs);
      loads.push(round(result.loadAverage1m));
    }
  }
  // The serial baseline takes about 4.2 s and hardly varies: one run (none in a quick run: it is the sum).
  const latencies = ioLatencies(n);
  const planned = planOrder(
    latencies.map((ms, i) => ({ id: `io-${i}`, ms })),
    SEED,
  ).map((task) => task.ms);
  const sum = planned.reduce((a, b) => a + b, 0);
  if (!quick) wall.serial?.push(child<{ wallMs: number }>('io', 'serial', n).wallMs);
  const ideal = idealMakespan(planned);
  const med = (c: string) => median(wall[c] as number[]);
  const result = {
    benchmark: 'io-wall-time',
    tasks: n,
    concurrency: CONCURRENCY,
    rounds,
    latencyMs: '1-20, seeded',
    wallMs: Object.fromEntries(
      Object.entries(wall)
        .filter(([, v]) => v.length > 0)
        .map(([c, v]) => [c, spread(v, 1)]),
    ),
    idealMs: ideal,
    sumOfLatenciesMs: sum,
    ordoOverIdeal: round(med('ordo') / ideal, 3),
    ordoOverPLimit: round(med('ordo') / med('p-limit'), 3),
    pLimitOverIdeal: round(med('p-limit') / ideal, 3),
    speedupOverSerial: round((quick ? sum : med('serial')) / med('ordo'), 1),
    speedupOverBarrierBatches: round(med('barrier') / med('ordo'), 2),
    targets: { 'ordo <= 1.10x ideal': round(med('ordo') / ideal, 3) <= 1.1 },
    loadAverage1m: spread(loads, 2),
  };
  write('io-wall-time', result);
  console.log(
    `io x${n} @${CONCURRENCY}: ordo ${round(med('ordo'), 1)} ms, p-limit ${round(med('p-limit'), 1)} ms, ideal ${ideal} ms -> ` +
      `${result.ordoOverIdeal}x ideal (target <= 1.10), ${result.ordoOverPLimit}x p-limit; ` +
      `${result.speedupOverSerial}x faster than serial, ${result.speedupOverBarrierBatches}x than barrier batches ` +
      `(load ${result.loadAverage1m.min}-${result.loadAverage1m.max})`,
  );
}

function latency() {
  const n = quick ? 2_000 : 10_000;
  const rounds = quick ? 1 : 2;
  const added: Record<string, { p50: number; p95: number; p99: number; max: number }[]> = {
    ordo: [],
    'p-limit': [],
  };
  const loads: number[] = [load()];
  for (let r = 0; r < rounds; r++) {
    for (const name of rotated(['ordo', 'p-limit'], r)) {
      const result = child<{ addedMs: { p50: number; p95: number; p99: number; max: number } }>(
        'latency',
        name,
        n,
      );
      added[name]?.push(result.addedMs);
      loads.push(round(result.loadAverage1m));
    }
  }
  const summary = (c: string) => {
    const list = added[c] ?? [];
    return {
      p50: spread(
        list.map((a) => a.p50),
        2,
      ),
      p95: spread(
        list.map((a) => a.p95),
        2,
      ),
      p99: spread(
        list.map((a) => a.p99),
        2,
      ),
      max: spread(
        list.map((a) => a.max),
        2,
      ),
    };
  };
  const result = {
    benchmark: 'latency',
    tasks: n,
    concurrency: CONCURRENCY,
    rounds,
    latencyMs: '1-20, seeded',
    measures:
      "per task: from the end of its work (stamped in the task) to the caller's hands (ordo: onCommit, in the deterministic order; p-limit: its promise, in completion order)",
    addedMs: { ordo: summary('ordo'), 'p-limit': summary('p-limit') },
    budget: 'p95 <= 250 ms',
    loadAverage1m: spread(loads, 2),
  };
  write('latency', result);
  console.log(
    `latency x${n} @${CONCURRENCY}: ordo adds p50 ${result.addedMs.ordo.p50.median} ms, p95 ${result.addedMs.ordo.p95.median} ms, ` +
      `p99 ${result.addedMs.ordo.p99.median} ms, max ${result.addedMs.ordo.max.median} ms (budget p95 <= 250 ms); ` +
      `p-limit p95 ${result.addedMs['p-limit'].p95.median} ms (load ${result.loadAverage1m.min}-${result.loadAverage1m.max})`,
  );
}

function traceHashing() {
  const n = quick ? 20_000 : 100_000;
  const object = { file: 'src/index.ts', lines: 120, ok: true };
  const ids = Array.from({ length: n }, (_, seq) => `task-${seq}`);
  const order = ids;
  const options = { failFast: false, taskTimeoutMs: null, mode: 'flat' } as const;
  // Version 3, as a run builds it: the result digest, then the entry fed to the one chain stream.
  const chain = (value: (seq: number) => unknown) => () => {
    const builder = new TraceBuilder('bench', options, order);
    for (let seq = 0; seq < n; seq++) {
      builder.append(ids[seq] as string, 'ok', resultDigest('ok', value(seq), undefined));
    }
    sinkTrace = builder.finish().digest;
  };
  // Version 2 (the previous format): one sha256 call per chain link.
  const chainV2 = () => {
    let previous = '0'.repeat(64);
    const digest = resultDigest('ok', undefined, undefined);
    for (let seq = 0; seq < n; seq++) {
      previous = chainDigest(previous, { seq, id: ids[seq] as string, status: 'ok', resultDigest: digest });
    }
    sinkTrace = previous;
  };
  const measure = (fn: () => void) => {
    fn();
    const cpu: number[] = [];
    for (let r = 0; r < 5; r++) {
      const usage = process.cpuUsage();
      fn();
      const used = process.cpuUsage(usage);
      cpu.push((used.user + used.system) / n);
    }
    return spread(cpu, 3);
  };
  const result = {
    benchmark: 'trace-hashing',
    records: n,
    perRecordCpuUs: {
      'chain link, no result': measure(chain(() => undefined)),
      'version 2 chain link, no result (the previous format)': measure(chainV2),
      'chain link + number result': measure(chain((seq) => seq)),
      'chain link + small object result': measure(chain(() => object)),
      'canonicalJson of the small object alone': measure(() => {
        for (let i = 0; i < n; i++) canonicalJson(object);
      }),
    },
    loadAverage1m: load(),
  };
  if (typeof sinkTrace !== 'string') throw new Error('the trace bench produced no digest');
  write('trace-hashing', result);
  console.log(
    `trace hashing per record (cpu us, median): ${Object.entries(result.perRecordCpuUs)
      .map(([k, v]) => `${k} ${v.median}`)
      .join('; ')} (load ${result.loadAverage1m})`,
  );
}

function heap() {
  const runs = quick ? 1_000 : 10_000;
  const loadBefore = load();
  const result = child<{ after100: number; afterAll: number; historySize: number }>('heap', runs);
  const ratio = round(result.afterAll / result.after100, 3);
  write('history-heap', {
    benchmark: 'history-heap',
    tasksPerRun: 10,
    maxRuns: 100,
    runs,
    heapUsedAfter100RunsMiB: round(result.after100 / 2 ** 20),
    heapUsedAfterAllRunsMiB: round(result.afterAll / 2 ** 20),
    ratio,
    target: '<= 1.2x',
    met: ratio <= 1.2,
    historySize: result.historySize,
    loadAverage1m: { before: loadBefore, after: round(result.loadAverage1m) },
  });
  console.log(
    `heap: ${round(result.after100 / 2 ** 20)} MiB after 100 runs, ${round(result.afterAll / 2 ** 20)} MiB after ${runs} (${ratio}x, target <= 1.2x)`,
  );
}

console.log(
  `@ordo/kernel-scheduler bench${quick ? ' (quick)' : ''} on ${machine.cpu} (${machine.cores} cores), Node ${machine.node}, load ${load()}`,
);
const started = performance.now();
if (wanted('overhead')) overhead();
if (wanted('io')) io();
if (wanted('latency')) latency();
if (wanted('trace')) traceHashing();
if (wanted('heap')) heap();
console.log(`done in ${round((performance.now() - started) / 1000, 1)} s, load ${load()}`);
