import { describe, expect, it } from 'vitest';
import {
  childAbortController,
  isTaskPriority,
  isTerminalWorkerStatus,
  noopLogger,
  systemClock,
  TASK_PRIORITIES,
  TaskPriority,
  taskPriorityName,
  WorkerStatus,
} from '../src/index.js';
import { RecordingLogger } from '../src/testing.js';

describe('TaskPriority', () => {
  it('orders CRITICAL first and HEARTBEAT last', () => {
    expect(TASK_PRIORITIES).toEqual([
      TaskPriority.CRITICAL,
      TaskPriority.HIGH,
      TaskPriority.NORMAL,
      TaskPriority.LOW,
      TaskPriority.HEARTBEAT,
    ]);
    expect(TASK_PRIORITIES.map(taskPriorityName)).toEqual(['CRITICAL', 'HIGH', 'NORMAL', 'LOW', 'HEARTBEAT']);
  });

  it('validates priorities', () => {
    expect(isTaskPriority(0)).toBe(true);
    expect(isTaskPriority(4)).toBe(true);
    for (const bad of [-1, 5, 1.5, '1', null, undefined, Number.NaN]) expect(isTaskPriority(bad)).toBe(false);
  });
});

describe('WorkerStatus', () => {
  it('has the eight states and knows which are terminal', () => {
    expect(Object.keys(WorkerStatus)).toEqual([
      'INITIALIZING',
      'READY',
      'RUNNING',
      'IDLE',
      'STALLED',
      'CRASHED',
      'STOPPING',
      'STOPPED',
    ]);
    const terminal = Object.values(WorkerStatus).filter(isTerminalWorkerStatus);
    expect(terminal).toEqual([WorkerStatus.CRASHED, WorkerStatus.STOPPED]);
  });
});

describe('systemClock', () => {
  it('sleeps on real timers and rejects with the abort reason', async () => {
    const before = systemClock.now();
    await systemClock.sleep(5);
    expect(systemClock.now()).toBeGreaterThanOrEqual(before);
    await expect(systemClock.sleep(10_000, AbortSignal.abort(new Error('cancelled')))).rejects.toThrow(
      'cancelled',
    );
    const controller = new AbortController();
    const pending = systemClock.sleep(10_000, controller.signal);
    controller.abort(new Error('later'));
    await expect(pending).rejects.toThrow('later');
  });

  it('clears timers and can unref them', async () => {
    let fired = false;
    const handle = systemClock.setTimeout(
      () => {
        fired = true;
      },
      1,
      { unref: true },
    );
    systemClock.clearTimeout(handle);
    await systemClock.sleep(5);
    expect(fired).toBe(false);
  });
});

describe('loggers', () => {
  it('noopLogger accepts both call shapes and children', () => {
    noopLogger.info('text');
    noopLogger.warn({ a: 1 }, 'text');
    expect(noopLogger.child({ x: 1 })).toBe(noopLogger);
  });

  it('RecordingLogger keeps lines with merged child bindings', () => {
    const logger = new RecordingLogger();
    logger.child({ component: 'queue' }).warn({ depth: 5 }, 'queue full');
    logger.info('plain');
    expect(logger.records).toEqual([
      { level: 'warn', msg: 'queue full', fields: { component: 'queue', depth: 5 } },
      { level: 'info', msg: 'plain', fields: {} },
    ]);
    expect(logger.at('warn')).toHaveLength(1);
  });
});

describe('childAbortController', () => {
  it('follows the parent and unlinks on dispose', () => {
    const parent = new AbortController();
    const child = childAbortController(parent.signal);
    parent.abort(new Error('parent stopped'));
    expect(child.signal.aborted).toBe(true);
    expect((child.signal.reason as Error).message).toBe('parent stopped');

    const parent2 = new AbortController();
    const child2 = childAbortController(parent2.signal);
    child2.dispose();
    parent2.abort();
    expect(child2.signal.aborted).toBe(false);
  });

  it('starts aborted under an aborted parent, and works without one', () => {
    expect(childAbortController(AbortSignal.abort('x')).signal.aborted).toBe(true);
    const alone = childAbortController();
    alone.controller.abort();
    expect(alone.signal.aborted).toBe(true);
  });
});
