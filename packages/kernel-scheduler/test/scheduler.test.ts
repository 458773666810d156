import { isOrdoError, TaskPriority } from '@ordo/contracts';
import { ManualClock, RecordingLogger } from '@ordo/contracts/testing';
import { describe, expect, it } from 'vitest';
import { createScheduler, planOrder, type Task, type TaskRecord } from '../src/index.js';
import { aborted, deferred, hops } from './helpers.js';

const ids = (records: readonly { id: string }[]) => records.map((r) => r.id);

describe('schedule', () => {
  it('commits in the planned order while later tasks keep running', async () => {
    await using scheduler = createScheduler({ concurrency: 4, seed: 's' });
    const gates = new Map(['a', 'b', 'c', 'd'].map((id) => [id, deferred()]));
    const tasks: Task<string>[] = [...gates.keys()].map((id) => ({
      id,
      run: async () => {
        await gates.get(id)?.promise;
        return id.toUpperCase();
      },
    }));
    const order = ids(planOrder(tasks, 's'));
    const committed: string[] = [];
    const running = scheduler.schedule(tasks, { onCommit: (r) => committed.push(r.id) });

    // Finish in reverse planned order: nothing may commit until the first planned task is done.
    for (const id of [...order].reverse().slice(0, 3)) gates.get(id)?.resolve();
    await hops(3);
    expect(committed).toEqual([]);
    gates.get(order[0] as string)?.resolve();
    const run = await running;

    expect(committed).toEqual(order);
    expect(ids(run.records)).toEqual(order);
    expect(run.records.map((r) => r.seq)).toEqual([0, 1, 2, 3]);
    expect(run.records.map((r) => r.value)).toEqual(order.map((id) => id.toUpperCase()));
    expect(run.ok).toBe(true);
    expect(run.counts).toEqual({ ok: 4, failed: 0, timed_out: 0, cancelled: 0 });
  });

  it('commits a finished prefix before the rest has settled', async () => {
    await using scheduler = createScheduler({ concurrency: 2, seed: 's' });
    const last = deferred();
    const tasks: Task[] = ['x', 'y'].map((id) => ({ id, run: () => undefined }));
    const slowId = ids(planOrder(tasks, 's'))[1] as string;
    const committed: string[] = [];
    const running = scheduler.schedule(
      tasks.map((t) => (t.id === slowId ? { ...t, run: () => last.promise } : t)),
      { onCommit: (r) => committed.push(r.id) },
    );
    await hops(2);
    expect(committed).toHaveLength(1);
    last.resolve();
    await running;
    expect(committed).toHaveLength(2);
  });

  it('orders by priority first, then by the seeded hash, the same for every run', async () => {
    await using scheduler = createScheduler({ seed: 42 });
    const tasks: Task[] = [
      { id: 'low', priority: TaskPriority.LOW, run: () => 1 },
      { id: 'critical', priority: TaskPriority.CRITICAL, run: () => 2 },
      ...Array.from({ length: 20 }, (_, i) => ({ id: `n${i}`, run: () => i })),
    ];
    const first = await scheduler.schedule(tasks);
    const second = await scheduler.schedule([...tasks].reverse());
    expect(ids(first.records)[0]).toBe('critical');
    expect(ids(first.records).at(-1)).toBe('low');
    expect(ids(second.records)).toEqual(ids(first.records));
    expect(second.trace.digest).toBe(first.trace.digest);
    expect(first.seed).toBe('42');
  });

  it('records failures and goes on without failFast', async () => {
    await using scheduler = createScheduler({ seed: 's' });
    const run = await scheduler.schedule([
      { id: 'ok', run: () => 1 },
      {
        id: 'bad',
        run: () => {
          throw new Error('nope');
        },
      },
      { id: 'async-bad', run: async () => Promise.reject(new Error('later')) },
    ]);
    expect(run.counts).toEqual({ ok: 1, failed: 2, timed_out: 0, cancelled: 0 });
    const broken = await scheduler.schedule([
      {
        id: 'bad-thenable',
        run: () =>
          ({
            // biome-ignore lint/suspicious/noThenProperty: a broken thenable is the point of this test
            then() {
              throw new Error('then broke');
            },
          }) as unknown as PromiseLike<number>,
      },
    ]);
    expect(broken.records[0]).toMatchObject({ status: 'failed', error: { message: 'then broke' } });
    expect(run.ok).toBe(false);
    const bad = run.records.find((r) => r.id === 'bad') as TaskRecord;
    expect((bad.error as Error).message).toBe('nope');
  });

  it('with failFast, aborts running tasks, starts no more and cancels everything after the failure', async () => {
    await using scheduler = createScheduler({ concurrency: 2, seed: 's', failFast: true });
    const started: string[] = [];
    const abortReasons: unknown[] = [];
    const base = Array.from({ length: 6 }, (_, i) => ({ id: `t${i}` }));
    const order = ids(planOrder(base, 's'));
    const failing = order[0] as string;
    const hanging = order[1] as string;
    const tasks: Task[] = base.map(({ id }) => ({
      id,
      run: async ({ signal }) => {
        started.push(id);
        if (id === failing) {
          await hops(1);
          throw new Error('first failure');
        }
        if (id === hanging) abortReasons.push(await aborted(signal));
        return id;
      },
    }));
    const run = await scheduler.schedule(tasks);
    expect(run.records.map((r) => r.status)).toEqual([
      'failed',
      'cancelled',
      'cancelled',
      'cancelled',
      'cancelled',
      'cancelled',
    ]);
    expect(started).toEqual([failing, hanging]);
    await hops(1);
    expect(abortReasons).toHaveLength(1);
    expect(isOrdoError(abortReasons[0], 'TASK_CANCELLED')).toBe(true);
    const cancelled = run.records[3]?.error;
    expect(isOrdoError(cancelled, 'TASK_CANCELLED') && cancelled.details?.reason).toBe('fail-fast');
    expect(run.records[2]?.startedAt).toBeUndefined();
  });

  it('with failFast, a later task that already finished is recorded cancelled but settles only once', async () => {
    await using scheduler = createScheduler({ concurrency: 2, seed: 's', failFast: true });
    const [first, second] = ids(planOrder([{ id: 'x' }, { id: 'y' }], 's')) as [string, string];
    const settled: string[] = [];
    scheduler.on('settle', (r) => settled.push(`${r.id} ${r.status}`));
    const run = await scheduler.schedule([
      {
        id: first,
        run: async () => {
          await hops(2);
          throw new Error('late failure');
        },
      },
      { id: second, run: () => 'early' },
    ]);
    expect(settled).toEqual([`${second} ok`, `${first} failed`]);
    expect(run.records.map((r) => r.status)).toEqual(['failed', 'cancelled']);
    expect(run.records[1]?.value).toBeUndefined();
    expect(run.records[1]?.startedAt).toBeTypeOf('number');
  });

  it('times a task out on the injected clock and aborts its signal', async () => {
    const clock = new ManualClock();
    await using scheduler = createScheduler({ clock, taskTimeoutMs: 1_000, seed: 's' });
    let reason: unknown;
    const running = scheduler.schedule([
      {
        id: 'slow',
        run: async ({ signal }) => {
          reason = await aborted(signal);
          return 'too late';
        },
      },
      { id: 'own-timeout', timeoutMs: 5_000, run: ({ signal }) => aborted(signal) },
      { id: 'fast', run: () => 'done' },
    ]);
    await hops(1);
    await clock.advanceAsync(1_000);
    expect(isOrdoError(reason, 'TASK_TIMEOUT')).toBe(true);
    await clock.advanceAsync(4_000);
    const run = await running;
    const byId = Object.fromEntries(run.records.map((r) => [r.id, r]));
    expect(byId.slow?.status).toBe('timed_out');
    expect(byId.slow?.endedAt).toBe(1_000);
    expect(byId['own-timeout']?.status).toBe('timed_out');
    expect(byId['own-timeout']?.endedAt).toBe(5_000);
    expect(byId.fast?.status).toBe('ok');
    expect(clock.pendingTimers).toBe(0);
  });

  it('frees the slot of a timed-out task that ignores its signal, but not of a cancelled one', async () => {
    const clock = new ManualClock();
    await using scheduler = createScheduler({ clock, concurrency: 1, seed: 's' });
    const stubborn = deferred<string>();
    const [first, second] = ids(planOrder([{ id: 'x' }, { id: 'y' }], 's')) as [string, string];
    let secondRan = false;
    const timedOut = scheduler.schedule<unknown>([
      { id: first, timeoutMs: 50, run: () => stubborn.promise },
      { id: second, run: () => (secondRan = true) },
    ]);
    await hops(1);
    await clock.advanceAsync(50);
    expect((await timedOut).records.map((r) => r.status)).toEqual(['timed_out', 'ok']);
    expect(secondRan).toBe(true);

    const controller = new AbortController();
    const aborting = scheduler.schedule([{ id: 'ignores-abort', run: () => stubborn.promise }], {
      signal: controller.signal,
    });
    await hops(1);
    controller.abort(new Error('stop'));
    await expect(aborting).rejects.toThrow('stop');
    expect(scheduler.activeCount).toBe(1); // the work is still going on
    stubborn.resolve('finally');
    await hops(1);
    expect(scheduler.activeCount).toBe(0);
  });

  it('gives a context whose getters live on its prototype: a spread keeps the fields, not the signal', async () => {
    const clock = new ManualClock();
    await using scheduler = createScheduler({ clock });
    const inner = (ctx: { signal: AbortSignal; attempt: number; id: string }) => aborted(ctx.signal);
    const seen: unknown[] = [];
    const running = scheduler.schedule([
      {
        id: 'wrapped',
        timeoutMs: 10,
        run: (ctx) => {
          const spread = { ...ctx };
          seen.push(spread.id, spread.runId, spread.attempt, 'signal' in spread, 'logger' in spread);
          return inner({ ...ctx, signal: ctx.signal });
        },
      },
    ]);
    await hops(1);
    await clock.advanceAsync(10);
    const run = await running;
    expect(run.records[0]?.status).toBe('timed_out');
    expect(seen).toEqual(['wrapped', run.runId, 1, false, false]);
  });

  it("cancels cleanly on the caller's signal and rejects with its reason", async () => {
    await using scheduler = createScheduler({ concurrency: 1, seed: 's' });
    const controller = new AbortController();
    const started: string[] = [];
    const seen: unknown[] = [];
    const tasks: Task[] = Array.from({ length: 5 }, (_, i) => ({
      id: `t${i}`,
      run: async ({ signal }) => {
        started.push(`t${i}`);
        seen.push(await aborted(signal));
      },
    }));
    let ended: { stopped: unknown; error: unknown } | undefined;
    scheduler.on('end', (run, error) => {
      ended = { stopped: run.stopped, error };
    });
    const committed: TaskRecord[] = [];
    const running = scheduler.schedule(tasks, {
      signal: controller.signal,
      onCommit: (r) => committed.push(r),
    });
    await hops(1);
    const reason = new Error('user pressed stop');
    controller.abort(reason);
    await expect(running).rejects.toBe(reason);
    expect(started).toHaveLength(1);
    await hops(1);
    expect(seen).toHaveLength(1);
    expect(committed.map((r) => r.status)).toEqual(Array(5).fill('cancelled'));
    expect(ended).toEqual({ stopped: 'aborted', error: reason });
    expect(scheduler.activeCount).toBe(0);
  });

  it('rejects at once on an already aborted signal, running nothing', async () => {
    await using scheduler = createScheduler();
    let ran = false;
    const signal = AbortSignal.abort(new Error('already'));
    await expect(scheduler.schedule([{ id: 'a', run: () => (ran = true) }], { signal })).rejects.toThrow(
      'already',
    );
    expect(ran).toBe(false);
  });

  it('rejects duplicate ids before anything runs', async () => {
    await using scheduler = createScheduler();
    let ran = 0;
    const run = () => ran++;
    const error = await scheduler
      .schedule([
        { id: 'a', run },
        { id: 'b', run },
        { id: 'a', run },
      ])
      .catch((e: unknown) => e);
    expect(isOrdoError(error, 'SCHEDULER_DUPLICATE_ID')).toBe(true);
    expect((error as Error).message).toContain('"a"');
    expect(ran).toBe(0);
  });

  const one = (): number => 1;
  it.each<[unknown, string]>([
    [{ id: '', run: one }, 'non-empty string id'],
    [{ id: 'bad\ud800', run: one }, 'well-formed Unicode'],
    [{ id: 'x' }, 'run(context) function'],
    [{ id: 'x', priority: Number.NaN, run: one }, 'priority'],
    [{ id: 'x', timeoutMs: 0, run: one }, 'timeoutMs'],
    [{ id: 'x', timeoutMs: Number.POSITIVE_INFINITY, run: one }, 'finite number'],
    [null, 'not an object'],
  ])('rejects the bad task %j with SCHEDULER_INVALID_TASK', async (task, text) => {
    await using scheduler = createScheduler();
    const error = await scheduler.schedule([task as unknown as Task]).catch((e: unknown) => e);
    expect(isOrdoError(error, 'SCHEDULER_INVALID_TASK')).toBe(true);
    expect((error as Error).message).toContain(text);
  });

  it.each([
    { concurrency: 0 },
    { concurrency: 1.5 },
    { taskTimeoutMs: -1 },
    // Node would fire an Infinity timer after 1 ms: refused rather than a surprise timeout.
    { taskTimeoutMs: Number.POSITIVE_INFINITY },
    { history: { maxRuns: -1 } },
  ])('rejects the bad option %j with SCHEDULER_INVALID_OPTIONS', (options) => {
    expect(() => createScheduler(options)).toThrow(
      expect.objectContaining({ code: 'SCHEDULER_INVALID_OPTIONS' }),
    );
  });

  it('never runs more than `concurrency` tasks at once, across runs', async () => {
    await using scheduler = createScheduler({ concurrency: 3 });
    let inFlight = 0;
    let peak = 0;
    const make = (prefix: string): Task[] =>
      Array.from({ length: 12 }, (_, i) => ({
        id: `${prefix}${i}`,
        run: async () => {
          peak = Math.max(peak, ++inFlight);
          await hops(1 + (i % 3));
          inFlight--;
        },
      }));
    await Promise.all([scheduler.schedule(make('a')), scheduler.schedule(make('b'))]);
    expect(peak).toBe(3);
  });

  it('emits scheduled, start, settle, commit and end', async () => {
    await using scheduler = createScheduler({ seed: 's' });
    const events: string[] = [];
    scheduler.on('scheduled', (e) => events.push(`scheduled ${e.order.length}`));
    scheduler.on('start', (e) => events.push(`start ${e.id}`));
    scheduler.on('settle', (r) => events.push(`settle ${r.id}`));
    scheduler.on('commit', (r) => events.push(`commit ${r.id}`));
    scheduler.on('end', (run, error) => events.push(`end ${run.records.length} ${String(error)}`));
    await scheduler.schedule([{ id: 'only', run: () => 1 }], { runId: 'run-1' });
    expect(events).toEqual(['scheduled 1', 'start only', 'settle only', 'commit only', 'end 1 undefined']);
  });

  it('logs a throwing event listener and finishes the run anyway', async () => {
    const logger = new RecordingLogger();
    await using scheduler = createScheduler({ logger });
    for (const event of ['scheduled', 'start', 'settle', 'commit', 'end'] as const) {
      scheduler.on(event, () => {
        throw new Error(`${event} listener broke`);
      });
    }
    const run = await scheduler.schedule([{ id: 'a', run: () => 1 }]);
    expect(run.ok).toBe(true);
    expect(logger.at('error').map((r) => r.fields.event)).toEqual([
      'scheduled',
      'start',
      'settle',
      'commit',
      'end',
    ]);
  });

  it('gives tasks a logger bound to the run and the task', async () => {
    const logger = new RecordingLogger();
    await using scheduler = createScheduler({ logger });
    await scheduler.schedule(
      [{ id: 'talk', run: ({ logger: log, attempt }) => log.info({ attempt }, 'hello') }],
      { runId: 'r1' },
    );
    expect(logger.at('info')).toEqual([
      { level: 'info', msg: 'hello', fields: { runId: 'r1', taskId: 'talk', attempt: 1 } },
    ]);
    expect(logger.at('debug').map((r) => r.msg)).toEqual(['run scheduled', 'run ended']);
  });

  it('stops a run when onCommit throws and rejects with that error', async () => {
    await using scheduler = createScheduler({ concurrency: 1, seed: 's' });
    const failure = new Error('audit log is down');
    const calls: string[] = [];
    const tasks: Task[] = ['a', 'b', 'c'].map((id) => ({ id, run: () => id }));
    const running = scheduler.schedule(tasks, {
      onCommit: (r) => {
        calls.push(r.id);
        throw failure;
      },
    });
    await expect(running).rejects.toBe(failure);
    expect(calls).toHaveLength(1);
  });

  it('close() stops active runs with SCHEDULER_CLOSED and refuses new ones', async () => {
    const scheduler = createScheduler({ concurrency: 1 });
    const running = scheduler.schedule([
      { id: 'a', run: ({ signal }) => aborted(signal) },
      { id: 'b', run: () => 1 },
    ]);
    await hops(1);
    await scheduler.close();
    const error = await running.catch((e: unknown) => e);
    expect(isOrdoError(error, 'SCHEDULER_CLOSED')).toBe(true);
    await expect(scheduler.schedule([{ id: 'c', run: () => 1 }])).rejects.toMatchObject({
      code: 'SCHEDULER_CLOSED',
    });
    await scheduler.close();
  });

  it('runs everything at once with concurrency Infinity', async () => {
    await using scheduler = createScheduler({ concurrency: Number.POSITIVE_INFINITY });
    const gate = deferred();
    let started = 0;
    const running = scheduler.schedule(
      Array.from({ length: 100 }, (_, i) => ({
        id: `t${i}`,
        run: async () => {
          started++;
          await gate.promise;
        },
      })),
    );
    await hops(2);
    expect(started).toBe(100);
    gate.resolve();
    expect((await running).ok).toBe(true);
  });

  it('runs an empty task list to an empty, verifiable run', async () => {
    await using scheduler = createScheduler();
    const run = await scheduler.schedule([]);
    expect(run.records).toEqual([]);
    expect(run.trace.entries).toEqual([]);
    expect(run.ok).toBe(true);
  });
});

describe('history', () => {
  it('keeps the last maxRuns runs as summaries with first, last and failed checkpoints', async () => {
    await using scheduler = createScheduler({ seed: 's', history: { maxRuns: 3 } });
    const tasks = (n: number): Task[] =>
      Array.from({ length: 6 }, (_, i) => ({
        id: `t${i}`,
        run: () => {
          if (i === n) throw new Error(`fail ${i}`);
          return i;
        },
      }));
    const runs = [];
    for (let i = 0; i < 5; i++) runs.push(await scheduler.schedule(tasks(i), { runId: `run-${i}` }));

    expect(scheduler.history.size).toBe(3);
    expect(scheduler.history.get('run-0')).toBeUndefined();
    expect(scheduler.history.list().map((s) => s.runId)).toEqual(['run-4', 'run-3', 'run-2']);
    const summary = scheduler.history.get('run-3');
    const run = runs[3];
    expect(summary?.digest).toBe(run?.trace.digest);
    const failedSeq = run?.records.find((r) => r.status === 'failed')?.seq;
    expect(summary?.checkpoints.map((c) => c.seq)).toEqual([...new Set([0, failedSeq, 5])].sort());
    expect(summary?.checkpoints).toEqual(summary?.checkpoints.map((c) => run?.trace.entries[c.seq]));
    expect(summary).not.toHaveProperty('records');
    expect(summary?.counts).toEqual({ ok: 5, failed: 1, timed_out: 0, cancelled: 0 });
  });

  it('keeps nothing with maxRuns 0 and stays bounded over many runs', async () => {
    await using none = createScheduler({ history: { maxRuns: 0 } });
    await none.schedule([{ id: 'a', run: () => 1 }]);
    expect(none.history.size).toBe(0);
    expect(none.history.list()).toEqual([]);

    await using bounded = createScheduler({ history: { maxRuns: 10 } });
    for (let i = 0; i < 500; i++) await bounded.schedule([{ id: 'a', run: () => i }]);
    expect(bounded.history.size).toBe(10);
    bounded.history.clear();
    expect(bounded.history.size).toBe(0);
  });
});
