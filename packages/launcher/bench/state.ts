// StateStore against write-file-atomic (npm's atomic writer, the usual way to persist a JSON state).
// 1. A stream of state changes made durable: StateStore (coalesced) vs write-file-atomic after every change.
// 2. One atomic write of a 1000-task state: ordo's writer (temp + fsync + rename + backup link) vs
//    write-file-atomic (temp + fsync + rename).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setImmediate as tick } from 'node:timers/promises';
import writeFileAtomicAnchor from 'write-file-atomic';
import { StateStore } from '../src/index.js';
import { writeFileAtomic } from '../src/internal/atomicWrite.js';

export interface BenchResult {
  name: string;
  unit: string;
  ordo: number;
  anchor: number;
  /** anchor / ordo: above 1, ordo is faster. */
  ratio: number;
  notes: string;
}

const STREAM_CHANGES = 500;
const YIELD_EVERY = 5;
const WRITE_ROUNDS = 30;
const TASKS_IN_STATE = 1_000;

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] as number;
};

async function streamOrdo(dir: string): Promise<{ ms: number; writes: number }> {
  const store = await StateStore.open({ file: join(dir, 'ordo.json'), writeDelayMs: 0 });
  let writes = 0;
  store.on('written', () => writes++);
  const start = performance.now();
  store.recordLevelStarted(0);
  for (let i = 0; i < STREAM_CHANGES; i++) {
    store.recordTaskCreated(`t${i}`, 0);
    if (i % YIELD_EVERY === 0) await tick(); // the host does other work between events
  }
  await store.close();
  return { ms: performance.now() - start, writes };
}

async function streamAnchor(dir: string): Promise<{ ms: number; writes: number }> {
  const file = join(dir, 'anchor.json');
  const state = { schemaVersion: 1, tasks: [] as object[] };
  const start = performance.now();
  for (let i = 0; i < STREAM_CHANGES; i++) {
    state.tasks.push({ taskId: `t${i}`, level: 0, createdAt: new Date().toISOString() });
    await writeFileAtomicAnchor(file, JSON.stringify(state));
    if (i % YIELD_EVERY === 0) await tick();
  }
  return { ms: performance.now() - start, writes: STREAM_CHANGES };
}

async function singleWrites(dir: string): Promise<{ ordo: number; anchor: number; bytes: number }> {
  const store = await StateStore.open({ file: join(dir, 'big.json'), writeDelayMs: 3_600_000 });
  store.recordLevelStarted(
    0,
    Array.from({ length: TASKS_IN_STATE }, (_, i) => `task-${i}`),
  );
  const text = `${JSON.stringify(store.state)}\n`;
  await store.close();
  const ordo: number[] = [];
  const anchor: number[] = [];
  for (let round = 0; round < WRITE_ROUNDS; round++) {
    let start = performance.now();
    await writeFileAtomic(join(dir, 'ordo-single.json'), text, { backup: true });
    ordo.push(performance.now() - start);
    start = performance.now();
    await writeFileAtomicAnchor(join(dir, 'anchor-single.json'), text);
    anchor.push(performance.now() - start);
  }
  return { ordo: median(ordo), anchor: median(anchor), bytes: Buffer.byteLength(text) };
}

export async function benchState(): Promise<BenchResult[]> {
  const dir = await mkdtemp(join(tmpdir(), 'ordo-bench-state-'));
  try {
    const ordoStream = await streamOrdo(dir);
    const anchorStream = await streamAnchor(dir);
    const single = await singleWrites(dir);
    return [
      {
        name: `persist a stream of ${STREAM_CHANGES} state changes`,
        unit: 'ms total',
        ordo: ordoStream.ms,
        anchor: anchorStream.ms,
        ratio: anchorStream.ms / ordoStream.ms,
        notes: `ordo coalesced them into ${ordoStream.writes} writes; the anchor wrote ${anchorStream.writes}`,
      },
      {
        name: `one atomic write of a ${TASKS_IN_STATE}-task state (${Math.round(single.bytes / 1024)} KiB)`,
        unit: 'ms median',
        ordo: single.ordo,
        anchor: single.anchor,
        ratio: single.anchor / single.ordo,
        notes: `median of ${WRITE_ROUNDS}; ordo also links the previous file as the backup`,
      },
    ];
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
