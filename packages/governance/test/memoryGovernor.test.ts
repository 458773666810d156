import { isOrdoError, TaskPriority } from '@ordo/contracts';
import { ManualClock, RecordingLogger } from '@ordo/contracts/testing';
import { describe, expect, it, vi } from 'vitest';
import {
  type GovernorAction,
  MemoryGovernor,
  MemoryMonitor,
  PriorityQueue,
  type QueueItem,
  type RunningTask,
  type TaskKilledError,
} from '../src/index.js';

const LIMIT = 1000;
const { HIGH, NORMAL, LOW, HEARTBEAT } = TaskPriority;

/** A MemorySource that plays the given % readings one per sample, then repeats the last. */
function scriptedSource(percents: number[]) {
  let i = 0;
  return () => {
    const rss = ((percents[Math.min(i++, percents.length - 1)] as number) * LIMIT) / 100;
    return { rss, heapUsed: rss / 2, heapTotal: rss, external: 0, arrayBuffers: 0 };
  };
}

function setup(percents: number[], cooldownMs = 10_000) {
  const clock = new ManualClock();
  const logger = new RecordingLogger();
  const monitor = new MemoryMonitor({
    limitBytes: LIMIT,
    intervalMs: 1_000,
    source: scriptedSource(percents),
    clock,
  });
  const queue = new PriorityQueue({ maxDepth: 10 });
  const running = new Map<string, RunningTask>();
  const metrics = { tasksPreempted: { inc: vi.fn() }, tasksKilled: { inc: vi.fn() } };
  let n = 0;
  const governor = new MemoryGovernor({
    monitor,
    queue,
    running,
    metrics,
    logger,
    cooldownMs,
    newId: () => `cid-${++n}`,
  });
  const actions: GovernorAction[] = [];
  governor.on('action', (a) => actions.push(a));
  const kills: string[] = [];
  const run = (id: string, priority: TaskPriority, preemptable = false) => {
    const task: RunningTask = {
      item: { id, priority },
      preemptable,
      controller: new AbortController(),
      kill: (reason: TaskKilledError) => {
        kills.push(`${id}:${reason.code}`);
      },
    };
    running.set(id, task);
    return task;
  };
  /** Starts the monitor (first reading) or moves to the next reading. */
  const step = () => (monitor.lastSnapshot ? clock.advance(1_000) : monitor.start());
  return { clock, logger, monitor, queue, running, metrics, governor, actions, kills, run, step };
}

describe('MemoryGovernor', () => {
  it('does nothing while memory is normal', () => {
    const g = setup([10, 20, 30]);
    const task = g.run('a', LOW, true);
    g.queue.enqueue({ id: 'hb', priority: HEARTBEAT });
    g.step();
    g.step();
    expect(g.actions).toEqual([]);
    expect(task.controller.signal.aborted).toBe(false);
    expect(g.queue.dequeue()?.id).toBe('hb');
  });

  it('at warning, skips and counts heartbeats with a correlation id, and stops when memory eases', () => {
    const g = setup([75, 75, 50]);
    g.queue.enqueue({ id: 'hb1', priority: HEARTBEAT });
    g.queue.enqueue({ id: 'task', priority: NORMAL });
    g.step();
    expect(g.queue.dequeue()?.id).toBe('task');
    expect(g.queue.dequeue()).toBeUndefined();
    expect(g.governor.stats).toEqual({ heartbeatsSkipped: 1, preempted: 0, killed: 0 });
    expect(g.actions).toEqual([
      { action: 'skip-heartbeats', level: 'warning', correlationId: 'cid-1' },
      { action: 'skip-heartbeat', level: 'warning', correlationId: 'cid-1', taskId: 'hb1' },
    ]);
    expect(g.logger.at('info')[0]).toMatchObject({
      fields: { component: 'memory-governor', correlationId: 'cid-1', taskId: 'hb1' },
    });
    g.step();
    g.step(); // 50 %: back to normal
    g.queue.enqueue({ id: 'hb2', priority: HEARTBEAT });
    expect(g.queue.dequeue()?.id).toBe('hb2');
  });

  it('at critical, preempts the lowest-priority preemptable task and queues it again', () => {
    const g = setup([90]);
    const high = g.run('high', HIGH, true);
    const lowPinned = g.run('low-pinned', LOW, false);
    const normal = g.run('normal', NORMAL, true);
    g.step();
    expect(normal.controller.signal.aborted).toBe(true);
    const reason = normal.controller.signal.reason;
    expect(isOrdoError(reason, 'PREEMPTED')).toBe(true);
    expect(reason.details).toMatchObject({ taskId: 'normal', correlationId: 'cid-1' });
    expect(high.controller.signal.aborted).toBe(false);
    expect(lowPinned.controller.signal.aborted).toBe(false);
    expect(g.running.has('normal')).toBe(false);
    expect([...g.queue]).toEqual([{ id: 'normal', priority: NORMAL }]);
    expect(g.metrics.tasksPreempted.inc).toHaveBeenCalledTimes(1);
    expect(g.actions.at(-1)).toEqual({
      action: 'preempt',
      level: 'critical',
      correlationId: 'cid-1',
      taskId: 'normal',
      requeued: true,
    });
    expect(g.logger.at('warn').at(-1)?.msg).toBe('task normal preempted: memory is critical');
  });

  it('acts again only after cooldownMs while the level holds, and at once on a new rise', () => {
    const g = setup([90, 90, 90, 90, 50, 90], 3_000);
    for (const id of ['a', 'b', 'c', 'd']) g.run(id, LOW, true);
    g.step(); // t=0: rise → preempt d
    g.step(); // t=1000
    g.step(); // t=2000
    expect(g.governor.stats.preempted).toBe(1);
    g.step(); // t=3000: cooldown passed → preempt c
    expect(g.governor.stats.preempted).toBe(2);
    g.step(); // 50 %: normal
    g.step(); // rise again → preempt b at once, new correlation id
    expect(g.governor.stats.preempted).toBe(3);
    expect(g.actions.filter((a) => a.action === 'preempt').map((a) => [a.taskId, a.correlationId])).toEqual([
      ['d', 'cid-1'],
      ['c', 'cid-1'],
      ['b', 'cid-3'],
    ]);
  });

  it('reports a preempted task that found no room in the queue', () => {
    const g = setup([90]);
    const full = new PriorityQueue({ maxDepth: 1 });
    const running = new Map<string, RunningTask>();
    const actions: GovernorAction[] = [];
    const governor = new MemoryGovernor({ monitor: g.monitor, queue: full, running });
    governor.on('action', (a) => actions.push(a));
    full.enqueue({ id: 'queued', priority: NORMAL });
    running.set('x', {
      item: { id: 'x', priority: LOW },
      preemptable: true,
      controller: new AbortController(),
    });
    g.step();
    expect(actions.find((a) => a.action === 'preempt')).toMatchObject({ taskId: 'x', requeued: false });
    expect(actions.find((a) => a.action === 'preempt')?.correlationId).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('at emergency, kills the lowest-priority task (preemptable or not), newest first among equals', async () => {
    const g = setup([97]);
    g.run('old-low', LOW);
    const newest = g.run('new-low', LOW);
    const high = g.run('high', HIGH);
    g.step();
    expect(isOrdoError(newest.controller.signal.reason, 'KILLED_MEMORY')).toBe(true);
    await vi.waitFor(() => expect(g.kills).toEqual(['new-low:KILLED_MEMORY']));
    expect(high.controller.signal.aborted).toBe(false);
    expect(g.running.has('new-low')).toBe(false);
    expect(g.queue.depth).toBe(0);
    expect(g.metrics.tasksKilled.inc).toHaveBeenCalledTimes(1);
    expect(g.actions.at(-1)).toEqual({
      action: 'kill',
      level: 'emergency',
      correlationId: 'cid-1',
      taskId: 'new-low',
    });
  });

  it('logs a kill callback that fails', async () => {
    const g = setup([97]);
    g.running.set('t', {
      item: { id: 't', priority: NORMAL },
      controller: new AbortController(),
      kill: () => Promise.reject(new Error('kill failed')),
    });
    g.step();
    await vi.waitFor(() => expect(g.logger.at('error')[0]?.msg).toBe('kill callback failed'));
  });

  it('does nothing at critical when no task is preemptable', () => {
    const g = setup([90]);
    const task = g.run('pinned', LOW, false);
    g.step();
    expect(task.controller.signal.aborted).toBe(false);
    expect(g.actions.map((a) => a.action)).toEqual(['skip-heartbeats']);
  });

  it('close() unsubscribes and lets heartbeats through again', async () => {
    const g = setup([80, 99]);
    const task = g.run('t', LOW, true);
    g.step();
    expect(g.queue.memoryHigh).toBe(true);
    await g.governor[Symbol.asyncDispose]();
    expect(g.queue.memoryHigh).toBe(false);
    g.step();
    expect(task.controller.signal.aborted).toBe(false);
    g.queue.enqueue({ id: 'hb', priority: HEARTBEAT } satisfies QueueItem);
    expect(g.queue.dequeue()?.id).toBe('hb');
    await g.governor.close();
  });
});
