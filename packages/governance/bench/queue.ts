import { TaskPriority } from '@ordo/contracts';
import PQueue, { PriorityQueue as PQueuePriorityQueue } from 'p-queue';
import { PriorityQueue, type QueueItem } from '../src/index.js';
import { compare, fmt, writeResult } from './harness.js';

const PAIRS = 1_000_000;
const BATCH = 1_000;
const TASKS = 100_000;

/** Priorities spread over the five levels in a fixed, repeatable pattern. */
const items: QueueItem[] = Array.from({ length: BATCH }, (_, i) => ({
  id: `t${i}`,
  priority: ((i * 7) % 5) as TaskPriority,
}));
/** p-queue runs higher numbers first; ordo runs CRITICAL (0) first. */
const pqPriority = (p: TaskPriority) => TaskPriority.HEARTBEAT - p;
/** p-queue holds functions: made once, so neither side allocates per operation. */
const runs = items.map((item) => ({
  run: async () => item,
  options: { priority: pqPriority(item.priority), id: item.id },
}));

/**
 * 1,000,000 enqueue/dequeue pairs on ordo's PriorityQueue against p-queue's priority queue (the class
 * PQueue keeps its tasks in), in two shapes: one in, one out; and batches of 1,000 in then 1,000 out.
 * Then 100,000 tasks end to end: ordo's queue with a `take()` consumer against PQueue.add with priorities.
 * Target: ordo at least 2x faster on the pairs.
 */
export async function benchQueue(): Promise<boolean> {
  const pairs = await compare(PAIRS, {
    ordo: () => {
      const queue = new PriorityQueue({ maxDepth: BATCH });
      for (let i = 0; i < PAIRS; i++) {
        queue.enqueue(items[i % BATCH] as QueueItem);
        queue.dequeue();
      }
    },
    'p-queue': () => {
      const queue = new PQueuePriorityQueue();
      for (let i = 0; i < PAIRS; i++) {
        const { run, options } = runs[i % BATCH] as (typeof runs)[number];
        queue.enqueue(run, options);
        queue.dequeue();
      }
    },
  });
  const batches = await compare(PAIRS, {
    ordo: () => {
      const queue = new PriorityQueue({ maxDepth: BATCH });
      for (let round = 0; round < PAIRS / BATCH; round++) {
        for (const item of items) queue.enqueue(item);
        for (let i = 0; i < BATCH; i++) queue.dequeue();
      }
    },
    'p-queue': () => {
      const queue = new PQueuePriorityQueue();
      for (let round = 0; round < PAIRS / BATCH; round++) {
        for (const { run, options } of runs) queue.enqueue(run, options);
        for (let i = 0; i < BATCH; i++) queue.dequeue();
      }
    },
  });
  const endToEnd = await compare(
    TASKS,
    {
      ordo: async () => {
        const queue = new PriorityQueue({ maxDepth: BATCH });
        let done = 0;
        const consumer = (async () => {
          while (done < TASKS) {
            await queue.take();
            done++;
          }
        })();
        for (let round = 0; round < TASKS / BATCH; round++) {
          for (const item of items) queue.enqueue(item);
          while (queue.depth > 0) await Promise.resolve();
        }
        await consumer;
      },
      'p-queue': async () => {
        const queue = new PQueue({ concurrency: 1 });
        for (let round = 0; round < TASKS / BATCH; round++) {
          for (const { run, options } of runs) void queue.add(run, { priority: options.priority });
          await queue.onIdle();
        }
      },
    },
    3,
  );
  const rows = [
    { name: `pairs: enqueue 1, dequeue 1 (${PAIRS.toLocaleString()})`, ns: pairs },
    { name: `pairs: 1,000 in, 1,000 out (${PAIRS.toLocaleString()})`, ns: batches },
    { name: `end to end: take() vs PQueue.add (${TASKS.toLocaleString()} tasks)`, ns: endToEnd },
  ].map((row) => ({ ...row, speedup: (row.ns['p-queue'] as number) / (row.ns.ordo as number) }));
  console.log('\npriority queue vs p-queue (median of 7 rounds; end to end: 3)');
  for (const row of rows) {
    console.log(
      `  ${row.name.padEnd(58)} ordo ${fmt(row.ns.ordo as number).padStart(12)}  p-queue ${fmt(row.ns['p-queue'] as number).padStart(12)}  ${row.speedup.toFixed(2)}x`,
    );
  }
  const met = (rows[0]?.speedup as number) >= 2 && (rows[1]?.speedup as number) >= 2;
  console.log(`  target >= 2x on 1,000,000 enqueue/dequeue pairs: ${met ? 'met' : 'MISSED'}`);
  writeResult('queue', {
    description:
      "PriorityQueue enqueue/dequeue pairs vs p-queue 9.3's PriorityQueue, and end to end vs PQueue.add",
    scenarios: rows.map((r) => ({ name: r.name, nsPerOp: r.ns, speedup: r.speedup })),
    target: '>= 2x faster on 1,000,000 enqueue/dequeue pairs',
    met,
  });
  return met;
}
