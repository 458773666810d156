/**
 * Child of bench/spool.ts: stages a one-line edit of a 200 MB file, diffs it and commits it, sampling the
 * process's RSS, and prints one JSON line. Run in its own process so the other benchmarks do not blur it.
 */
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createSpool } from '../src/index.js';

const TARGET_BYTES = 200 * 1024 * 1024;
const LINE = (i: number) => `${String(i).padStart(9, '0')} ${'lorem ipsum dolor sit amet '.repeat(3)}\n`;
const LINES = Math.ceil(TARGET_BYTES / LINE(0).length);
const EDITED = Math.floor(LINES * 0.6);

async function* lines(edit: boolean) {
  const batch: string[] = [];
  for (let i = 0; i < LINES; i++) {
    batch.push(edit && i === EDITED ? `${String(i).padStart(9, '0')} this line was edited\n` : LINE(i));
    if (batch.length === 10_000) {
      yield batch.join('');
      batch.length = 0;
    }
  }
  if (batch.length) yield batch.join('');
}

const dir = await mkdtemp(path.join(os.tmpdir(), 'ordo-spool-rss-'));
const file = path.join(dir, 'huge.txt');
await pipeline(lines(false), createWriteStream(file));
const size = (await stat(file)).size;
(globalThis as { gc?: () => void }).gc?.();
await new Promise((resolve) => setTimeout(resolve, 50));
const baseline = process.memoryUsage().rss;
let peak = baseline;
const sample = () => {
  peak = Math.max(peak, process.memoryUsage().rss);
};
const timer = setInterval(sample, 2);
const started = performance.now();
const spool = createSpool({ root: dir, fsync: true });
await spool.write('huge.txt', lines(true));
sample();
const staged = performance.now();
let diffBytes = 0;
let hunk = '';
for await (const chunk of spool.diffStream()) {
  diffBytes += chunk.length;
  if (chunk.startsWith('@@')) hunk = chunk.split('\n')[0] as string;
  sample();
}
const diffed = performance.now();
await spool.commit();
sample();
const committed = performance.now();
clearInterval(timer);
await spool.close();
await rm(dir, { recursive: true, force: true });
console.log(
  JSON.stringify({
    fileMb: Math.round(size / 2 ** 20),
    lines: LINES,
    hunk,
    diffBytes,
    baselineRssMb: Math.round(baseline / 2 ** 20),
    peakRssGrowthMb: Math.round(((peak - baseline) / 2 ** 20) * 10) / 10,
    stageMs: Math.round(staged - started),
    diffMs: Math.round(diffed - staged),
    commitMs: Math.round(committed - diffed),
  }),
);
