/**
 * Load profiles against a real service: a WorkerPool (child processes) behind HTTP admission on 127.0.0.1,
 * as `test/helpers/service.ts` wires it. Agents POST small tasks (allocate 8 MB, hold 40 ms) on a timer.
 *
 *   steady: 1 agent, every 30 s    peak: 10 agents, every 1 s    spike: 20 agents, every 100 ms
 *
 * By default each profile is scaled down to ~20 s so CI runs it in under a minute (steady then fires every
 * 2 s); `--minutes N` runs it for N minutes at the real intervals (a soak). Reports the peak and steady RSS
 * of the whole process tree (from /proc), accepted / 429 / 503 counts, p50/p99 latency, the time to recover
 * after the spike, and the heap growth between the 2nd and the last minute (between the first and last
 * third of a scaled run). Writes bench/results/loadtest-<profile>.json.
 *
 *   pnpm --filter @ordo/governance loadtest -- --profile steady|peak|spike|leak [--minutes N] [--check]
 *     [--retain-kb N (plant a leak: each task keeps N KB in its worker)]
 *
 * `leak` is a continuous moderate load (4 agents, every 500 ms) for the leak run. Every run also records heap
 * (after a forced GC when node runs with --expose-gc) and the floor of the tree's anonymous RSS (least of the
 * last 5 s) once a second and gives the leak verdict of `leakVerdict.ts` (least-squares slope under a stated
 * bound); `--check` exits 1 when it fails.
 * `pnpm soak:load` (bench/soak.ts) runs steady 10 min, peak 5, spike 1 and leak 60; `pnpm soak:ci` a 60 s leak.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { removeTempDirsSync } from '../../../vitest.tempDirs.js';
import { fixtureWorkerEntry } from '../test/helpers/entries.js';
import { hasProc, processTreeMemory } from '../test/helpers/procTree.js';
import { startService } from '../test/helpers/service.js';
import { leakVerdict } from './leakVerdict.js';

const PROFILES = {
  steady: { agents: 1, everyMs: 30_000, scaledEveryMs: 2_000 },
  peak: { agents: 10, everyMs: 1_000, scaledEveryMs: 1_000 },
  spike: { agents: 20, everyMs: 100, scaledEveryMs: 100 },
  leak: { agents: 4, everyMs: 500, scaledEveryMs: 500 },
} as const;
type ProfileName = keyof typeof PROFILES;

const { values } = parseArgs({
  args: process.argv.slice(2).filter((a) => a !== '--'),
  options: {
    profile: { type: 'string', default: 'steady' },
    minutes: { type: 'string' },
    seconds: { type: 'string', default: '20' },
    check: { type: 'boolean', default: false },
    'retain-kb': { type: 'string', default: '0' },
  },
});
const name = values.profile as ProfileName;
// A leak to plant: every task keeps this many KB in its worker, to show what the verdict catches.
const retainKb = Number(values['retain-kb']);
if (!(Number.isInteger(retainKb) && retainKb >= 0))
  throw new Error('--retain-kb must be a whole number >= 0');
const profile = PROFILES[name];
if (!profile) throw new Error(`--profile must be one of ${Object.keys(PROFILES).join(', ')}`);
const soak = values.minutes !== undefined;
const durationMs = soak ? Number(values.minutes) * 60_000 : Number(values.seconds) * 1_000;
const everyMs = soak ? profile.everyMs : profile.scaledEveryMs;
// A spike is a burst: load for the first half, then watch the service recover.
const loadMs = name === 'spike' ? durationMs / 2 : durationMs;

/*
 * The leak run's workers collect after each task (--expose-gc; the fixture calls gc()) and malloc returns
 * each freed 8 MB block to the kernel at once (a fixed mmap threshold: glibc's adaptive one keeps freed
 * blocks on its heap). Otherwise a worker's RSS says how many dead blocks await a GC, a swing of tens of MB
 * that a 60 s slope cannot tell from a leak; retained memory still shows.
 */
const leakRun = name === 'leak';
const service = await startService({
  entry: await fixtureWorkerEntry(),
  maxWorkers: 2,
  heapMB: 128,
  queueDepth: 50,
  ...(leakRun ? { execArgv: ['--expose-gc'], env: { MALLOC_MMAP_THRESHOLD_: String(1024 * 1024) } } : {}),
});
const counts = { accepted: 0, tooMany: 0, unavailable: 0, failed: 0 };
const latencies: number[] = [];
const rss: { at: number; bytes: number }[] = [];
const heap: { at: number; bytes: number }[] = [];
const started = performance.now();
const elapsed = () => performance.now() - started;

const anon: { at: number; bytes: number }[] = [];
const rssSeries: { at: number; bytes: number }[] = [];
const heapSeries: { at: number; bytes: number }[] = [];
const gc = (globalThis as { gc?: () => void }).gc;
/*
 * The tree RSS the leak verdict reads is the floor of its anonymous part (RssAnon: heap, stacks, malloc;
 * file-backed pages are the binary and libraries paged in as code first runs, which grew ~8 MB in a minute
 * with no leak): the least of the 250 ms samples of the last 5 s. Each task allocates 8 MB in a worker, so a
 * single sample swings with what is in flight (a 60 s slope through those swings failed the bound on a run
 * with no leak); retained memory raises the floor.
 */
const FLOOR_WINDOW_MS = 5_000;
const anonFloor = (now: number) => {
  let floor = Number.POSITIVE_INFINITY;
  for (let i = anon.length - 1; i >= 0 && (anon[i] as { at: number }).at >= now - FLOOR_WINDOW_MS; i--) {
    floor = Math.min(floor, (anon[i] as { bytes: number }).bytes);
  }
  return Number.isFinite(floor) ? floor : processTreeMemory().anon;
};
let ticks = 0;
const sampler = setInterval(() => {
  if (hasProc) {
    const memory = processTreeMemory();
    const at = elapsed();
    rss.push({ at, bytes: memory.rss });
    anon.push({ at, bytes: memory.anon });
  }
  heap.push({ at: elapsed(), bytes: process.memoryUsage().heapUsed });
  // Once a second: the series the leak verdict reads (heap after a GC when --expose-gc is on).
  if (ticks++ % 4 === 0) {
    gc?.();
    heapSeries.push({ at: Math.round(elapsed()), bytes: process.memoryUsage().heapUsed });
    if (hasProc) rssSeries.push({ at: Math.round(elapsed()), bytes: anonFloor(elapsed()) });
  }
}, 250);

const inFlight = new Set<Promise<void>>();
async function request(): Promise<void> {
  const t0 = performance.now();
  try {
    const response = await fetch(`${service.url}/tasks`, {
      method: 'POST',
      body: JSON.stringify({ op: 'alloc', mb: 8, holdMs: 40, retainKb }),
    });
    await response.arrayBuffer();
    if (response.status === 200) {
      counts.accepted++;
      latencies.push(performance.now() - t0);
    } else if (response.status === 429) counts.tooMany++;
    else if (response.status === 503) counts.unavailable++;
    else counts.failed++;
  } catch {
    counts.failed++;
  }
}
const agents = Array.from({ length: profile.agents }, (_, i) =>
  setTimeout(
    () => {
      const fire = () => {
        if (elapsed() >= loadMs) return;
        const p = request().finally(() => inFlight.delete(p));
        inFlight.add(p);
      };
      fire();
      agents[i] = setInterval(fire, everyMs);
    },
    (everyMs / profile.agents) * i, // spread the agents over the interval
  ),
);

await new Promise((resolve) => setTimeout(resolve, loadMs));
for (const agent of agents) clearInterval(agent);
const loadEndedAt = elapsed();

// Recovery: until the queue is empty, /health answers 200 and a probe task is admitted.
let recoveredAt: number | undefined;
while (elapsed() < durationMs + 30_000) {
  await Promise.all(inFlight);
  const health = await fetch(`${service.url}/health`);
  await health.arrayBuffer();
  if (health.status === 200 && service.pool.stats().queued === 0) {
    const probe = await fetch(`${service.url}/tasks`, { method: 'POST', body: '{"op":"echo","value":1}' });
    await probe.arrayBuffer();
    if (probe.status === 200) {
      recoveredAt = elapsed();
      break;
    }
  }
  await new Promise((resolve) => setTimeout(resolve, 50));
}
if (elapsed() < durationMs) await new Promise((resolve) => setTimeout(resolve, durationMs - elapsed()));
clearInterval(sampler);
await service.close();
// The fixture worker was bundled into a temp dir for this run: remove it (no vitest cleanup runs here).
removeTempDirsSync();

const pct = (xs: number[], p: number) => {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted.length === 0
    ? null
    : Number(
        (sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number).toFixed(1),
      );
};
const MB = 1024 * 1024;
const toMB = (b: number | null) => (b === null ? null : Number((b / MB).toFixed(1)));
const rssBytes = rss.map((s) => s.bytes);
// Heap growth: mean heapUsed in the 2nd minute vs the last minute (soak), or first vs last third (scaled).
const windowMs = soak && durationMs >= 3 * 60_000 ? 60_000 : durationMs / 3;
const mean = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : 0);
const early = heap.filter((s) => s.at >= (soak ? 60_000 : 0) && s.at < (soak ? 60_000 : 0) + windowMs);
const late = heap.filter((s) => s.at >= durationMs - windowMs);
// Warm-up: the first minute of a soak, the first 10 s of a short run (workers start, JIT, caches fill).
const verdict = leakVerdict(
  { heap: heapSeries, rss: rssSeries },
  soak && durationMs >= 10 * 60_000 ? 60_000 : 10_000,
);
// A run with a planted leak is kept apart from the clean run's results.
const resultName = retainKb > 0 ? `loadtest-${name}-planted` : `loadtest-${name}`;
const result = {
  name: resultName,
  date: new Date().toISOString(),
  machine: {
    cpus: os.cpus().length,
    loadavg: os.loadavg().map((l) => Number(l.toFixed(2))),
    node: process.version,
  },
  profile: name,
  agents: profile.agents,
  everyMs,
  scaled: !soak,
  plantedLeakKbPerTask: retainKb,
  durationSeconds: durationMs / 1_000,
  loadSeconds: Number((loadEndedAt / 1_000).toFixed(1)),
  requests: counts.accepted + counts.tooMany + counts.unavailable + counts.failed,
  ...counts,
  latencyMs: { p50: pct(latencies, 50), p99: pct(latencies, 99) },
  treeRssMB: hasProc ? { peak: toMB(Math.max(...rssBytes)), steady: toMB(pct(rssBytes, 50)) } : null,
  recoverySeconds:
    recoveredAt === undefined ? null : Number(((recoveredAt - loadEndedAt) / 1_000).toFixed(2)),
  heapGrowthMB: toMB(mean(late.map((s) => s.bytes)) - mean(early.map((s) => s.bytes))),
  heapWindows: soak && durationMs >= 3 * 60_000 ? '2nd minute vs last minute' : 'first third vs last third',
  heapAfterGc: gc !== undefined,
  verdict,
  rssSeries: "the floor (least of the last 5 s) of the process tree's anonymous RSS (RssAnon)",
  series: { heap: heapSeries, rss: rssSeries },
};
const { series: _series, ...summary } = result;
console.log(JSON.stringify(summary, null, 2));
const dir = fileURLToPath(new URL('./results/', import.meta.url));
mkdirSync(dir, { recursive: true });
writeFileSync(`${dir}${resultName}.json`, `${JSON.stringify(result, null, 2)}\n`);
if (values.check && !verdict.pass) {
  const judged = [
    { label: 'heap', series: verdict.heap },
    { label: 'tree anonymous RSS floor', series: verdict.rss },
  ];
  const failed = judged
    .filter(({ series }) => series !== undefined && !series.pass)
    .map(
      ({ label, series }) => `${label} ${series?.slopeMBPerHour} MB/h (allowed ${series?.allowedMBPerHour})`,
    );
  console.error(`loadtest ${name}: leak verdict failed: ${failed.join(', ')}`);
  process.exitCode = 1;
}
