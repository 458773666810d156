// Measures the parent's RSS when the runtime runs from its build (dist/), as a host would use it, not under
// tsx: runs the bench feature as a warm-up, then again while sampling RSS; prints one JSON line.
// argv[2]: the bench plan as JSON.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createRuntime } from '../dist/index.js';

const plan = JSON.parse(process.argv[2]);
const workers = Number(process.argv[3]);
const ws = await mkdtemp(path.join(tmpdir(), 'ordo-bench-rss-'));
const runtime = await createRuntime({ workspace: ws, workers });
await runtime.runFeature({ ...plan, feature: 'rss-warmup' });
await rm(path.join(ws, 'out'), { recursive: true, force: true });
let peak = 0;
const sampler = setInterval(() => {
  peak = Math.max(peak, process.memoryUsage().rss);
}, 20);
const result = await runtime.runFeature({ ...plan, feature: 'rss' });
clearInterval(sampler);
const after = process.memoryUsage().rss;
await runtime.close();
await rm(ws, { recursive: true, force: true });
const { heapUsed, heapTotal } = process.memoryUsage();
process.stdout.write(
  `${JSON.stringify({ status: result.status, rssAfter: after, rssPeak: Math.max(peak, after), heapUsed, heapTotal })}\n`,
);
