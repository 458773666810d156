import { TaskPriority } from '@ordo/contracts';
import { beforeAll, describe, expect, it } from 'vitest';
import * as governance from '../src/index.js';
import {
  createCircuitBreaker,
  createMemoryGovernor,
  createMemoryMonitor,
  createPriorityQueue,
  createWorkerPool,
  MemoryMonitor,
} from '../src/index.js';
import type { FixtureTask } from './fixtures/worker.js';
import { fixtureWorkerEntry } from './helpers/entries.js';

/*
 * STYLE.md: a long-lived component (state, and close/start/stop) is made by a createX factory. These
 * tests check that every such class the package exports has one, and that each factory makes a working
 * component.
 */

let entry = '';
beforeAll(async () => {
  entry = await fixtureWorkerEntry();
});

const longLived = (value: unknown): value is abstract new (...args: never[]) => unknown =>
  typeof value === 'function' &&
  /^class\s/.test(Function.prototype.toString.call(value)) &&
  ['close', 'start', 'stop', 'dispose'].some(
    (m) => typeof (value.prototype as Record<string, unknown>)[m] === 'function',
  ) &&
  !(value.prototype instanceof Error);

describe('createX factories', () => {
  it('every exported long-lived class has a createX (or watchX) factory', () => {
    const exports = governance as Record<string, unknown>;
    const classes = Object.entries(exports)
      .filter(([, v]) => longLived(v))
      .map(([name]) => name);
    expect(classes).toEqual(expect.arrayContaining(['CircuitBreaker', 'MemoryMonitor', 'WorkerPool']));
    // ConfigWatcher is also made by watchConfig (which loads the file and starts watching).
    const missing = classes.filter(
      (name) =>
        typeof exports[`create${name}`] !== 'function' &&
        typeof exports[`watch${name.replace(/Watcher$/, '')}`] !== 'function',
    );
    expect(missing).toEqual([]);
  });

  it('createWorkerPool runs a task on a real worker process', async () => {
    const pool = createWorkerPool<FixtureTask, unknown>({ entry, maxWorkers: 1, heapMB: 128 });
    try {
      expect(pool).toBeInstanceOf(governance.WorkerPool);
      expect(await pool.run({ op: 'echo', value: 'hello' })).toBe('hello');
    } finally {
      await pool.close();
    }
  });

  it('createCircuitBreaker opens after its failure threshold', async () => {
    const breaker = createCircuitBreaker({ name: 'factory', failureThreshold: 2 });
    const fail = () => Promise.reject(new Error('down'));
    await expect(breaker.execute(fail)).rejects.toThrow('down');
    await expect(breaker.execute(fail)).rejects.toThrow('down');
    await expect(breaker.execute(() => Promise.resolve(1))).rejects.toMatchObject({ code: 'BREAKER_OPEN' });
  });

  it('createPriorityQueue orders by priority and createMemoryMonitor reads its source', () => {
    const queue = createPriorityQueue({ maxDepth: 2 });
    queue.enqueue({ id: 'low', priority: TaskPriority.LOW });
    queue.enqueue({ id: 'high', priority: TaskPriority.HIGH });
    expect(queue.enqueue({ id: 'x', priority: TaskPriority.LOW })).toMatchObject({ accepted: false });
    expect(queue.dequeue()?.id).toBe('high');
    const usage = { rss: 960, heapUsed: 10, heapTotal: 20, external: 1, arrayBuffers: 0 };
    const monitor = createMemoryMonitor({ limitBytes: 1000, source: () => usage });
    expect(monitor).toBeInstanceOf(MemoryMonitor);
    monitor.sample();
    expect(monitor.level).toBe('emergency');
    const running = new Map();
    const governor = createMemoryGovernor({ monitor, queue, running });
    expect(governor).toBeInstanceOf(governance.MemoryGovernor);
  });
});
