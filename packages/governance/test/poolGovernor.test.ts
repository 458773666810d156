import { isOrdoError, TaskPriority } from '@ordo/contracts';
import { ManualClock } from '@ordo/contracts/testing';
import { beforeAll, describe, expect, it } from 'vitest';
import { MemoryGovernor, MemoryMonitor, WorkerPool, type WorkerPoolEvents } from '../src/index.js';
import type { FixtureTask } from './fixtures/worker.js';
import { fixtureWorkerEntry } from './helpers/entries.js';

let entry = '';
beforeAll(async () => {
  entry = await fixtureWorkerEntry();
});

const LIMIT = 1000;

/** A memory source whose reading (in % of LIMIT) the test sets. */
function settableSource() {
  const state = { percent: 10 };
  const source = () => {
    const rss = (state.percent * LIMIT) / 100;
    return { rss, heapUsed: rss / 2, heapTotal: rss, external: 0, arrayBuffers: 0 };
  };
  return { state, source };
}

async function until(predicate: () => boolean): Promise<void> {
  for (let i = 0; i < 750 && !predicate(); i++) await new Promise((r) => setTimeout(r, 20));
  expect(predicate()).toBe(true);
}

function record<E extends keyof WorkerPoolEvents>(pool: WorkerPool<FixtureTask, unknown>, event: E) {
  const seen: WorkerPoolEvents[E][0][] = [];
  pool.on(event, ((arg: WorkerPoolEvents[E][0]) => seen.push(arg)) as never);
  return seen;
}

function setup() {
  const clock = new ManualClock(0);
  const { state, source } = settableSource();
  const monitor = new MemoryMonitor({ limitBytes: LIMIT, intervalMs: 1_000, source, clock });
  const pool = new WorkerPool<FixtureTask, unknown>({
    entry,
    maxWorkers: 2,
    heapMB: 96,
    clock,
    memory: monitor,
  });
  const governor = new MemoryGovernor({ monitor, queue: pool.queue, running: pool.running, cooldownMs: 1 });
  const level = (percent: number) => {
    state.percent = percent;
    monitor.sample();
  };
  return {
    pool,
    level,
    async [Symbol.asyncDispose]() {
      await governor.close();
      await pool.close({ mode: 'kill' });
      await monitor.close();
    },
  };
}

describe('WorkerPool under a MemoryGovernor (pool.running)', () => {
  it('at critical, preempts the lowest-priority preemptable task: it is queued again and runs to its result', async () => {
    await using parts = setup();
    const { pool, level } = parts;
    const started = record(pool, 'taskStarted');
    const keeper = pool.run({ op: 'sleep', ms: 1_500 }, { id: 'keeper', priority: TaskPriority.LOW });
    // Long enough that a loaded machine still preempts it mid-sleep.
    const victim = pool.run(
      { op: 'sleep', ms: 4_000 },
      { id: 'victim', priority: TaskPriority.NORMAL, preemptable: true },
    );
    await until(() => started.length === 2);
    level(90); // critical: the only preemptable task goes back to the queue
    // It waits while memory is critical (NORMAL is held at critical), and starts again once it falls.
    await until(() => pool.stats().queued === 1);
    level(10);
    pool.pump();
    expect(await victim).toBe('slept');
    expect(await keeper).toBe('slept');
    expect(started.filter((s) => s.taskId === 'victim').map((s) => s.attempt)).toEqual([1, 2]);
    expect(pool.stats()).toMatchObject({ completed: 2, failed: 0, crashes: 0 });
  });

  it('at emergency, kills the lowest-priority running task and its worker (KILLED_MEMORY), and goes on', async () => {
    await using parts = setup();
    const { pool, level } = parts;
    const started = record(pool, 'taskStarted');
    const exits = record(pool, 'workerExited');
    const high = pool.run({ op: 'sleep', ms: 1_000 }, { id: 'high', priority: TaskPriority.HIGH });
    const low = pool.run({ op: 'hang' }, { id: 'low', priority: TaskPriority.LOW });
    await until(() => started.length === 2);
    level(97);
    const error = await low.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isOrdoError(error, 'KILLED_MEMORY')).toBe(true);
    await until(() => exits.length === 1);
    expect(exits[0]).toMatchObject({ reason: 'memory' });
    expect(await high).toBe('slept');
    expect(pool.stats()).toMatchObject({ crashes: 0, degraded: false });
  });
});
