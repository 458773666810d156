/**
 * Worker pool throughput: 2,000 tiny tasks through ordo's WorkerPool (child processes, line-delimited JSON
 * over pipes) vs piscina (worker threads, MessagePort) with the same worker count, measured in the same run.
 * Target: ordo ≥ 0.5× piscina while keeping process isolation. Writes bench/results/pool.json.
 *
 * `pnpm --filter @ordo/governance bench:pool [-- --tasks 2000 --rounds 5 --workers 2]`
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { Piscina } from 'piscina';
import { WorkerPool } from '../src/index.js';

const { values } = parseArgs({
  options: {
    tasks: { type: 'string', default: '2000' },
    rounds: { type: 'string', default: '5' },
    workers: { type: 'string', default: '2' },
  },
});
const TASKS = Number(values.tasks);
const ROUNDS = Number(values.rounds);
const WORKERS = Number(values.workers);
const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));
const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;

const ordo = new WorkerPool<number, number>({
  entry: here('./fixtures/tinyWorker.ts'),
  execArgv: ['--import', tsx, '--conditions=@ordo/source'],
  maxWorkers: WORKERS,
  heapMB: 128,
});
const piscina = new Piscina({
  filename: pathToFileURL(here('./fixtures/piscinaWorker.mjs')).href,
  minThreads: WORKERS,
  maxThreads: WORKERS,
});

async function batch(run: (n: number) => Promise<number>, n: number): Promise<number> {
  const started = performance.now();
  const results = await Promise.all(Array.from({ length: n }, (_, i) => run(i)));
  const ms = performance.now() - started;
  if (results[n - 1] !== n) throw new Error('wrong result');
  return ms;
}

const runOrdo = (n: number) => ordo.run(n);
const runPiscina = (n: number) => piscina.run(n) as Promise<number>;

// Warm up: start every worker and let the JITs settle.
await batch(runOrdo, 400);
await batch(runPiscina, 400);

const ordoMs: number[] = [];
const piscinaMs: number[] = [];
for (let round = 0; round < ROUNDS; round++) {
  // Alternate the order so neither side always runs on a cooler machine.
  if (round % 2 === 0) {
    ordoMs.push(await batch(runOrdo, TASKS));
    piscinaMs.push(await batch(runPiscina, TASKS));
  } else {
    piscinaMs.push(await batch(runPiscina, TASKS));
    ordoMs.push(await batch(runOrdo, TASKS));
  }
}
await ordo.close();
await piscina.destroy();

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
const perSecond = (ms: number) => Math.round((TASKS / ms) * 1_000);
const ordoRate = perSecond(median(ordoMs));
const piscinaRate = perSecond(median(piscinaMs));
const ratio = Number((ordoRate / piscinaRate).toFixed(3));
const result = {
  name: 'pool-throughput',
  date: new Date().toISOString(),
  machine: {
    cpus: os.cpus().length,
    loadavg: os.loadavg().map((l) => Number(l.toFixed(2))),
    node: process.version,
  },
  tasks: TASKS,
  rounds: ROUNDS,
  workers: WORKERS,
  note: 'ordo WorkerPool runs child processes (JSON lines over pipes); piscina runs worker threads (MessagePort)',
  ordo: {
    medianMs: Number(median(ordoMs).toFixed(1)),
    tasksPerSecond: ordoRate,
    roundsMs: ordoMs.map(Math.round),
  },
  piscina: {
    medianMs: Number(median(piscinaMs).toFixed(1)),
    tasksPerSecond: piscinaRate,
    roundsMs: piscinaMs.map(Math.round),
  },
  ratio,
  target: 0.5,
  met: ratio >= 0.5,
};
console.log(`pool throughput, ${TASKS} tiny tasks, ${WORKERS} workers (median of ${ROUNDS} rounds)`);
console.log('  ordo WorkerPool = processes; piscina = threads');
console.log(`  ordo:    ${ordoRate} tasks/s (${result.ordo.medianMs} ms)`);
console.log(`  piscina: ${piscinaRate} tasks/s (${result.piscina.medianMs} ms)`);
console.log(`  ratio ordo/piscina: ${ratio}× (target ≥ 0.5×: ${result.met ? 'met' : 'missed'})`);
mkdirSync(here('./results'), { recursive: true });
writeFileSync(here('./results/pool.json'), `${JSON.stringify(result, null, 2)}\n`);
