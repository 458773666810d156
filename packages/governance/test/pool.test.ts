import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isOrdoError, TaskPriority } from '@ordo/contracts';
import { heapSizeLimitFor, ManualClock, processAlive, RecordingLogger } from '@ordo/contracts/testing';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PriorityQueue, type QueueItem, WorkerPool, type WorkerPoolEvents } from '../src/index.js';
import type { FixtureTask } from './fixtures/worker.js';
import { fixture, fixtureWorkerEntry } from './helpers/entries.js';

const dir = mkdtempSync(join(tmpdir(), 'ordo-pool-'));
let entry = '';
beforeAll(async () => {
  entry = await fixtureWorkerEntry();
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function record<E extends keyof WorkerPoolEvents>(pool: WorkerPool<never, never>, event: E) {
  const seen: WorkerPoolEvents[E][0][] = [];
  pool.on(event, ((arg: WorkerPoolEvents[E][0]) => seen.push(arg)) as never);
  return seen;
}

const newPool = (options: Partial<ConstructorParameters<typeof WorkerPool>[0]> = {}) =>
  new WorkerPool<FixtureTask, unknown>({ entry, maxWorkers: 1, heapMB: 128, ...options });

/** Waits (polling, up to 15 s) until `predicate` holds; for outcomes of real processes. */
async function until(predicate: () => boolean): Promise<void> {
  for (let i = 0; i < 750 && !predicate(); i++) await new Promise((r) => setTimeout(r, 20));
  expect(predicate()).toBe(true);
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    (value) => {
      throw new Error(`expected a rejection, got ${JSON.stringify(value)}`);
    },
    (error: unknown) => error,
  );
}

describe('WorkerPool', () => {
  it('runs tasks in child processes started with --max-old-space-size, by priority then FIFO', async () => {
    await using pool = newPool({ heapMB: 96 });
    const spawned = record(pool as never, 'workerSpawned');
    const completed = record(pool as never, 'taskCompleted');
    const order: string[] = [];
    const run = (name: string, priority: TaskPriority) =>
      pool.run({ op: 'echo', value: name }, { priority }).then((v) => order.push(v as string));
    await Promise.all([
      run('low', TaskPriority.LOW),
      run('normal-1', TaskPriority.NORMAL),
      run('high', TaskPriority.HIGH),
      run('normal-2', TaskPriority.NORMAL),
      run('critical', TaskPriority.CRITICAL),
      run('normal-3', TaskPriority.NORMAL),
    ]);
    expect(order).toEqual(['critical', 'high', 'normal-1', 'normal-2', 'normal-3', 'low']);
    expect(completed).toHaveLength(6);
    expect(spawned).toHaveLength(1);
    expect(spawned[0]?.pid).not.toBe(process.pid);
    expect(await pool.run({ op: 'execArgv' })).toContain('--max-old-space-size=96');
    expect(pool.stats()).toMatchObject({
      workers: 1,
      idle: 1,
      active: 0,
      completed: 7,
      failed: 0,
      degraded: false,
    });
  });

  it('runs up to maxWorkers tasks at once, each in its own process', async () => {
    await using pool = newPool({ maxWorkers: 2 });
    const spawned = record(pool as never, 'workerSpawned');
    const stop = new AbortController();
    const tasks = [1, 2, 3].map(() => pool.run({ op: 'hang' }, { signal: stop.signal }).catch(() => {}));
    await until(() => pool.stats().active === 2);
    expect(pool.stats()).toMatchObject({ workers: 2, active: 2, queued: 1 });
    expect(new Set(spawned.map((s) => s.pid)).size).toBe(2);
    stop.abort();
    await Promise.all(tasks);
  });

  it('rejects a handler error with TASK_FAILED carrying the remote error, and keeps the worker', async () => {
    await using pool = newPool();
    const pid = await pool.run({ op: 'pid' });
    const error = await rejection(pool.run({ op: 'fail', message: 'no such file', code: 'ENOENT' }));
    expect(isOrdoError(error, 'TASK_FAILED')).toBe(true);
    expect(error).toMatchObject({ remote: { name: 'Error', message: 'no such file', code: 'ENOENT' } });
    expect(await pool.run({ op: 'pid' })).toBe(pid);
    expect(pool.stats()).toMatchObject({ completed: 2, failed: 1, crashes: 0 });
  });

  it('reports progress through onProgress', async () => {
    await using pool = newPool();
    const seen: number[] = [];
    await pool.run({ op: 'progress', steps: 20 }, { onProgress: ({ percent }) => seen.push(percent) });
    expect(seen).toEqual([5, 15, 25, 35, 45, 55, 65, 75, 85, 95, 100]);
  });

  it('fails a task whose worker dies with WORKER_CRASHED, never runs it twice, and replaces the worker', async () => {
    await using pool = newPool();
    const exits = record(pool as never, 'workerExited');
    const file = join(dir, 'crash-once');
    const error = await rejection(pool.run({ op: 'countAndCrash', file, crashUntil: 1 }));
    expect(isOrdoError(error, 'WORKER_CRASHED')).toBe(true);
    expect(error).toMatchObject({ details: { code: 7, signal: null, stderr: ['crashing on run 1'] } });
    expect(await pool.run({ op: 'echo', value: 'after' })).toBe('after');
    expect(readFileSync(file, 'utf8')).toBe('run\n');
    expect(exits).toEqual([expect.objectContaining({ code: 7, reason: 'crash' })]);
    expect(pool.stats()).toMatchObject({ crashes: 1, restartsInLastHour: 1, degraded: false, workers: 1 });
  });

  it('retries a task whose worker died only when the caller asked for retries', async () => {
    await using pool = newPool();
    const failures = record(pool as never, 'taskFailed');
    const file = join(dir, 'crash-twice');
    expect(await pool.run({ op: 'countAndCrash', file, crashUntil: 2 }, { retries: 2 })).toBe(3);
    expect(failures.map((f) => f.willRetry)).toEqual([true, true]);
    expect(readFileSync(file, 'utf8')).toBe('run\nrun\nrun\n');
  });

  it('fails an out-of-heap task with WORKER_OOM and stays healthy', async () => {
    await using pool = newPool({ heapMB: 64 });
    const exits = record(pool as never, 'workerExited');
    const ooms = record(pool as never, 'oom');
    const error = await rejection(pool.run({ op: 'leak' }));
    expect(isOrdoError(error, 'WORKER_OOM')).toBe(true);
    expect(exits[0]).toMatchObject({ reason: 'oom' });
    expect(ooms).toEqual([exits[0]?.workerId]);
    expect(await pool.run({ op: 'echo', value: 'still here' })).toBe('still here');
    expect(pool.degraded).toBe(false);
  });

  it('fails a task that blocks its event loop with TASK_STALLED, kills its worker and runs on a new one (fake time)', async () => {
    const clock = new ManualClock(0);
    await using pool = newPool({ clock, stallTimeoutMs: 10_000, maxRestartsPerHour: 5 });
    const exits = record(pool as never, 'workerExited');
    const stalls = record(pool as never, 'stalled');
    const started = record(pool as never, 'taskStarted');
    const before = (await pool.run({ op: 'pid' })) as number;
    const blocked = rejection(pool.run({ op: 'block' }));
    await until(() => started.length === 2);
    clock.advance(9_999);
    expect(pool.stats().stalls).toBe(0);
    clock.advance(2);
    const error = await blocked;
    expect(isOrdoError(error, 'TASK_STALLED')).toBe(true);
    expect(error).toMatchObject({ details: { stallTimeoutMs: 10_000, workerId: 'w1' } });
    expect(stalls).toEqual([expect.objectContaining({ workerId: 'w1', taskId: started[1]?.taskId })]);
    await until(() => exits.length === 1);
    expect(exits[0]).toMatchObject({ workerId: 'w1', reason: 'stalled', signal: 'SIGKILL' });
    expect(processAlive(before)).toBe(false);
    const after = await pool.run({ op: 'pid' });
    expect(after).not.toBe(before);
    expect(pool.stats()).toMatchObject({ stalls: 1, crashes: 1, restartsInLastHour: 1, degraded: false });
  });

  it('does not stall a worker whose task is busy but whose heartbeats keep coming', async () => {
    // The task outlasts the stall limit twice over; the limit leaves 1.45 s for a late heartbeat on a loaded machine.
    await using pool = newPool({ stallTimeoutMs: 1_500, reportIntervalMs: 50 });
    expect(await pool.run({ op: 'sleep', ms: 3_000 })).toBe('slept');
    expect(pool.stats().stalls).toBe(0);
  });

  it('caps the heap of its workers at heapMB (v8 heap_size_limit)', async () => {
    await using pool = newPool({ heapMB: 96 });
    const limit = (await pool.run({ op: 'heapLimit' })) as number;
    // heap_size_limit is the old space (the cap) plus a young generation whose size depends on the Node version.
    expect(limit).toBeGreaterThanOrEqual(96 * 1024 * 1024);
    expect(limit).toBe(heapSizeLimitFor(96));
  });

  it('cancels a running task through its signal: CANCEL, TASK_CANCELLED, and the worker is reused', async () => {
    await using pool = newPool({ cancelGraceMs: 60_000 });
    const pid = await pool.run({ op: 'pid' });
    const controller = new AbortController();
    const running = pool.run({ op: 'hang' }, { signal: controller.signal });
    expect(pool.stats().active).toBe(1);
    controller.abort(new Error('user gave up'));
    const error = await rejection(running);
    expect(isOrdoError(error, 'TASK_CANCELLED')).toBe(true);
    expect((error as Error).cause).toEqual(new Error('user gave up'));
    expect(await pool.run({ op: 'pid' })).toBe(pid);
  });

  it('kills a worker that ignores CANCEL after the grace period, and runs the next task on a new one', async () => {
    await using pool = newPool({ cancelGraceMs: 200 });
    const exits = record(pool as never, 'workerExited');
    await pool.run({ op: 'pid' });
    const controller = new AbortController();
    const first = pool.run({ op: 'ignoreCancel', ms: 60_000 }, { signal: controller.signal });
    const next = pool.run({ op: 'echo', value: 'next' });
    expect(pool.stats()).toMatchObject({ active: 1, queued: 1 });
    controller.abort();
    expect(isOrdoError(await rejection(first), 'TASK_CANCELLED')).toBe(true);
    expect(await next).toBe('next');
    expect(exits).toEqual([expect.objectContaining({ reason: 'cancel', signal: 'SIGKILL' })]);
    expect(pool.stats().crashes).toBe(0);
  });

  it('cancels a queued task without running it, and an already-aborted signal at once', async () => {
    await using pool = newPool();
    const file = join(dir, 'never');
    const controller = new AbortController();
    const busy = pool.run({ op: 'sleep', ms: 300 });
    const queued = pool.run({ op: 'countAndCrash', file, crashUntil: 0 }, { signal: controller.signal });
    controller.abort();
    expect(isOrdoError(await rejection(queued), 'TASK_CANCELLED')).toBe(true);
    expect(
      isOrdoError(await rejection(pool.run({ op: 'pid' }, { signal: controller.signal })), 'TASK_CANCELLED'),
    ).toBe(true);
    await busy;
    expect(pool.stats().queued).toBe(0);
    expect(() => readFileSync(file)).toThrow();
  });

  it('times out a task with TASK_TIMEOUT', async () => {
    await using pool = newPool({ taskTimeoutMs: 200 });
    expect(isOrdoError(await rejection(pool.run({ op: 'hang' })), 'TASK_TIMEOUT')).toBe(true);
    expect(await pool.run({ op: 'echo', value: 1 })).toBe(1);
  });

  it('streams a large result in chunks, and refuses one past maxResultBytes without losing the worker', async () => {
    await using pool = newPool({ maxMessageBytes: 4_096, maxResultBytes: 100_000 });
    expect(await pool.run({ op: 'big', chars: 30_000 })).toBe('é'.repeat(30_000));
    const error = await rejection(pool.run({ op: 'big', chars: 200_000 }));
    expect(isOrdoError(error, 'IPC_RESULT_INVALID')).toBe(true);
    expect(await pool.run({ op: 'echo', value: 'ok' })).toBe('ok');
    expect(pool.stats().crashes).toBe(0);
  });

  it('emits memoryWarning once when a worker reports more than rssWarnBytes', async () => {
    await using pool = newPool({ rssWarnBytes: 1, reportIntervalMs: 50 });
    const warnings = record(pool as never, 'memoryWarning');
    await pool.run({ op: 'sleep', ms: 400 });
    expect(warnings).toHaveLength(1);
    expect(warnings[0]?.rss).toBeGreaterThan(1);
    expect(warnings[0]?.heapUsed).toBeGreaterThan(0);
  });

  it('refuses with POOL_QUEUE_FULL when its queue is full, and fails evicted tasks with TASK_DROPPED', async () => {
    const queue = new PriorityQueue<QueueItem>({ maxDepth: 1 });
    await using pool = newPool({ queue });
    const low = pool.run({ op: 'echo', value: 'low' }, { priority: TaskPriority.LOW });
    expect(isOrdoError(await rejection(pool.run({ op: 'echo', value: 2 })), 'POOL_QUEUE_FULL')).toBe(true);
    const high = pool.run({ op: 'echo', value: 'high' }, { priority: TaskPriority.HIGH });
    const dropped = await rejection(low);
    expect(isOrdoError(dropped, 'TASK_DROPPED')).toBe(true);
    expect(dropped).toMatchObject({ details: { reason: 'evicted' } });
    expect(await high).toBe('high');
  });

  it('settles every task exactly once with its outcome (property)', async () => {
    await using pool = newPool({ maxWorkers: 2 });
    type Op = 'echo' | 'fail' | 'sleep' | 'cancel';
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.constantFrom<Op>('echo', 'fail', 'sleep', 'cancel'), { maxLength: 12 }),
        async (ops) => {
          const outcomes = await Promise.allSettled(
            ops.map((op, i) => {
              if (op === 'echo') return pool.run({ op: 'echo', value: i });
              if (op === 'fail') return pool.run({ op: 'fail', message: `f${i}` });
              if (op === 'sleep') return pool.run({ op: 'sleep', ms: 20 });
              return pool.run({ op: 'hang' }, { signal: AbortSignal.timeout(30) });
            }),
          );
          ops.forEach((op, i) => {
            const outcome = outcomes[i];
            if (op === 'echo') expect(outcome).toEqual({ status: 'fulfilled', value: i });
            else if (op === 'sleep') expect(outcome).toEqual({ status: 'fulfilled', value: 'slept' });
            else {
              const code = op === 'fail' ? 'TASK_FAILED' : 'TASK_CANCELLED';
              expect(outcome?.status === 'rejected' && isOrdoError(outcome.reason, code)).toBe(true);
            }
          });
          expect(pool.stats().queued).toBe(0);
        },
      ),
      { numRuns: 6 },
    );
    const { completed, failed } = pool.stats();
    expect(completed + failed).toBeGreaterThan(0);
  });
});

describe('WorkerPool and misbehaving workers', () => {
  it('logs and counts garbage lines and stray messages, never crashing', async () => {
    const logger = new RecordingLogger();
    await using pool = new WorkerPool({ entry: fixture('chatty.mjs'), maxWorkers: 1, logger });
    expect(await pool.run('hi')).toEqual({ echoed: 'hi' });
    expect(pool.stats()).toMatchObject({ textLines: 2, invalidMessages: 3, completed: 1 });
    expect(logger.at('info').map((r) => r.msg)).toContain('plain text from the worker');
    expect(logger.at('warn').map((r) => r.msg)).toEqual(
      expect.arrayContaining([
        'worker sent an invalid message; ignored',
        'worker sent a message for a task it is not running; ignored',
      ]),
    );
  });

  it('fails the running task when a worker prints a line past the limit', async () => {
    await using pool = new WorkerPool<{ size: number }>({
      entry: fixture('huge-line.mjs'),
      maxWorkers: 1,
      maxMessageBytes: 1_000,
    });
    expect(await pool.run({ size: 10 })).toBe('x'.repeat(10));
    expect(isOrdoError(await rejection(pool.run({ size: 1_000_000 })), 'IPC_RESULT_INVALID')).toBe(true);
    expect(await pool.run({ size: 20 })).toBe('x'.repeat(20));
    expect(pool.stats().invalidMessages).toBe(1);
  });

  it('fails the handshake of a worker speaking another version with IPC_VERSION_MISMATCH', async () => {
    await using pool = new WorkerPool({ entry: fixture('v2.mjs'), maxWorkers: 1 });
    const exits = record(pool as never, 'workerExited');
    const [a, b] = await Promise.allSettled([pool.run(1), pool.run(2)]);
    for (const outcome of [a, b]) {
      expect(outcome?.status === 'rejected' && isOrdoError(outcome.reason, 'IPC_VERSION_MISMATCH')).toBe(
        true,
      );
    }
    expect(exits[0]).toMatchObject({ reason: 'handshake' });
  });

  it.each([
    ['v1-string.mjs', '"1"'],
    ['no-version.mjs', 'undefined (none announced)'],
  ])('a READY from %s is IPC_VERSION_MISMATCH at once, not a startup timeout or a spent restart budget', async (file, got) => {
    // Fake time: the startup timeout (and so the restart budget) can never be what ends the worker.
    const clock = new ManualClock(0);
    await using pool = new WorkerPool({ entry: fixture(file), maxWorkers: 1, maxRestartsPerHour: 1, clock });
    const exits = record(pool as never, 'workerExited');
    const error = await rejection(pool.run(1));
    expect(isOrdoError(error, 'IPC_VERSION_MISMATCH')).toBe(true);
    expect((error as { details: { got: string } }).details.got).toBe(got);
    expect(exits[0]).toMatchObject({ reason: 'handshake' });
  });
});

describe('WorkerPool life cycle', () => {
  it('retires an idle worker after idleTimeoutMs and spawns a new one on demand (fake time)', async () => {
    const clock = new ManualClock(0);
    await using pool = newPool({ clock, idleTimeoutMs: 60_000 });
    const exits = record(pool as never, 'workerExited');
    const first = await pool.run({ op: 'pid' });
    clock.advance(59_999);
    expect(pool.stats().workers).toBe(1);
    clock.advance(1);
    await until(() => exits.length === 1);
    expect(exits[0]).toMatchObject({ reason: 'idle', code: 0 });
    expect(pool.stats().workers).toBe(0);
    expect(await pool.run({ op: 'pid' })).not.toBe(first);
  });

  it('stops respawning past maxRestartsPerHour (degraded, POOL_RESTART_BUDGET) until the hour has passed', async () => {
    const clock = new ManualClock(0);
    await using pool = newPool({ clock, maxRestartsPerHour: 1 });
    const degraded = record(pool as never, 'degraded');
    const file = join(dir, 'budget');
    const crash = () => rejection(pool.run({ op: 'countAndCrash', file, crashUntil: 100 }));
    expect(isOrdoError(await crash(), 'WORKER_CRASHED')).toBe(true);
    expect(pool.degraded).toBe(false);
    // The crashed worker is replaced at once, before any task asks for one.
    await until(() => pool.stats().idle === 1);
    clock.advance(60_000);
    expect(isOrdoError(await crash(), 'WORKER_CRASHED')).toBe(true);
    expect(pool.degraded).toBe(true);
    expect(degraded).toEqual([{ restartsInLastHour: 2, maxRestartsPerHour: 1 }]);
    const refused = await rejection(pool.run({ op: 'echo', value: 1 }));
    expect(isOrdoError(refused, 'POOL_RESTART_BUDGET')).toBe(true);
    expect((refused as Error).cause).toMatchObject({ code: 'WORKER_CRASHED' });
    expect(pool.stats()).toMatchObject({ workers: 0, crashes: 2, restartsInLastHour: 2, degraded: true });
    clock.advance(3_600_000 - 60_000);
    expect(pool.degraded).toBe(false);
    expect(await pool.run({ op: 'echo', value: 'back' })).toBe('back');
  });

  it('fails tasks waiting for a worker once the budget is spent and no worker is left', async () => {
    await using pool = newPool({ maxRestartsPerHour: 0 });
    const file = join(dir, 'budget-0');
    const crashing = pool.run({ op: 'countAndCrash', file, crashUntil: 100 });
    const waiting = pool.run({ op: 'echo', value: 1 });
    expect(isOrdoError(await rejection(crashing), 'WORKER_CRASHED')).toBe(true);
    expect(isOrdoError(await rejection(waiting), 'POOL_RESTART_BUDGET')).toBe(true);
  });

  it('close() drains queued and running tasks, then shuts the workers down', async () => {
    const pool = newPool();
    const exits = record(pool as never, 'workerExited');
    const results = [pool.run({ op: 'sleep', ms: 100 }), pool.run({ op: 'echo', value: 'queued' })];
    await pool.close();
    expect(await Promise.all(results)).toEqual(['slept', 'queued']);
    expect(exits).toEqual([expect.objectContaining({ reason: 'shutdown', code: 0 })]);
    expect(isOrdoError(await rejection(pool.run({ op: 'echo', value: 1 })), 'POOL_CLOSED')).toBe(true);
    await pool.close();
  });

  it("close({ mode: 'kill' }) rejects queued and running tasks with POOL_CLOSED and kills the workers", async () => {
    const pool = newPool();
    const exits = record(pool as never, 'workerExited');
    await pool.run({ op: 'pid' });
    const running = rejection(pool.run({ op: 'hang' }));
    const queued = rejection(pool.run({ op: 'echo', value: 1 }));
    await pool.close({ mode: 'kill' });
    expect(isOrdoError(await running, 'POOL_CLOSED')).toBe(true);
    expect(isOrdoError(await queued, 'POOL_CLOSED')).toBe(true);
    expect(exits).toEqual([expect.objectContaining({ reason: 'killed', signal: 'SIGKILL' })]);
    expect(pool.stats().workers).toBe(0);
  });

  it('switches a drain to a kill when the close signal aborts', async () => {
    const pool = newPool();
    await pool.run({ op: 'pid' });
    const running = rejection(pool.run({ op: 'hang' }));
    const controller = new AbortController();
    const closing = pool.close({ signal: controller.signal });
    controller.abort();
    await closing;
    expect(isOrdoError(await running, 'POOL_CLOSED')).toBe(true);
  });

  it('validates its options', () => {
    expect(() => new WorkerPool({ entry: '' })).toThrow(/either `launcher`.*or `entry`/);
    for (const bad of [
      { maxWorkers: 0 },
      { heapMB: 1.5 },
      { idleTimeoutMs: -1 },
      { maxRestartsPerHour: -1 },
      { stallTimeoutMs: 0 },
      { stallTimeoutMs: 1_000, reportIntervalMs: 600 },
    ]) {
      expect(() => new WorkerPool({ entry: 'w.mjs', ...bad })).toThrow(
        expect.objectContaining({ code: 'GOVERNANCE_OPTIONS_INVALID' }),
      );
    }
  });
});

describe('WorkerPool edge cases', () => {
  it('sends an undefined payload as null, and refuses bad retries', async () => {
    await using pool = new WorkerPool({ entry: fixture('chatty.mjs'), maxWorkers: 1 });
    expect(await pool.run(undefined)).toEqual({ echoed: null });
    const error = await rejection(pool.run({ op: 'pid' }, { retries: -1 }));
    expect(error).toMatchObject({ code: 'GOVERNANCE_OPTIONS_INVALID' });
  });

  it('ends degraded, not looping, when the worker script cannot start', async () => {
    await using pool = new WorkerPool({
      entry: join(dir, 'missing.mjs'),
      maxRestartsPerHour: 2,
      maxWorkers: 1,
    });
    const exits = record(pool as never, 'workerExited');
    const error = await rejection(pool.run(1));
    expect(isOrdoError(error, 'POOL_RESTART_BUDGET')).toBe(true);
    expect(exits.map((e) => e.reason)).toEqual(['startup', 'startup', 'startup']);
    expect((error as Error).cause).toMatchObject({
      code: 'WORKER_CRASHED',
      details: { stderr: expect.arrayContaining([expect.stringContaining('Cannot find module')]) },
    });
  });
});
