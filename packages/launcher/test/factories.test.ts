import path from 'node:path';
import { WorkerStatus } from '@ordo/contracts';
import { describe, expect, it } from 'vitest';
import * as launcher from '../src/index.js';
import {
  createHeartbeatMonitor,
  createMetricsCollector,
  createSubprocessLauncher,
  openStateStore,
  writeHeartbeat,
} from '../src/index.js';
import { nextStatus, tempDir } from './helpers.js';

/*
 * STYLE.md: a long-lived component (state, and close/start/stop) is made by a createX factory. These
 * tests check that every such class the package exports has one, and that each factory makes a working
 * component.
 */

const longLived = (value: unknown): value is abstract new (...args: never[]) => unknown =>
  typeof value === 'function' &&
  /^class\s/.test(Function.prototype.toString.call(value)) &&
  ['close', 'start', 'stop'].some(
    (m) => typeof (value.prototype as Record<string, unknown>)[m] === 'function',
  ) &&
  !(value.prototype instanceof Error);

describe('createX factories', () => {
  it('every exported long-lived class has a createX factory (openStateStore for the store, which opens a file)', () => {
    const exports = launcher as Record<string, unknown>;
    const classes = Object.entries(exports)
      .filter(([, v]) => longLived(v))
      .map(([name]) => name);
    expect(classes).toEqual(
      expect.arrayContaining(['SubprocessLauncher', 'ContainerLauncher', 'SwarmLauncher']),
    );
    const missing = classes.filter(
      (name) =>
        typeof exports[`create${name}`] !== 'function' && typeof exports[`open${name}`] !== 'function',
    );
    expect(missing).toEqual([]);
  });

  it('the worker subpath has the same factories for what a worker makes (createHeartbeatWriter)', async () => {
    const worker = (await import('../src/worker.js')) as Record<string, unknown>;
    const classes = Object.entries(worker)
      .filter(([, v]) => longLived(v))
      .map(([name]) => name);
    expect(classes).toEqual(['HeartbeatWriter']);
    expect(worker.createHeartbeatWriter).toBe(launcher.createHeartbeatWriter);
  });

  it('createSubprocessLauncher starts and watches a real process', async () => {
    await using subprocesses = createSubprocessLauncher({ command: 'bash' });
    expect(subprocesses).toBeInstanceOf(launcher.SubprocessLauncher);
    const stopped = nextStatus(subprocesses, 'w1', WorkerStatus.STOPPED);
    await subprocesses.spawn('w1', { args: ['-c', 'exit 0'] });
    expect((await stopped).to).toBe(WorkerStatus.STOPPED);
  });

  it('createHeartbeatMonitor reads what a worker wrote; openStateStore and createMetricsCollector see a task', async () => {
    await using dir = await tempDir();
    await writeHeartbeat(dir.path, { workerId: 'w1', taskId: 't1' });
    expect(await createHeartbeatMonitor({ dir: dir.path }).read('w1')).toMatchObject({
      workerId: 'w1',
      taskId: 't1',
    });
    const store = await openStateStore({ file: path.join(dir.path, 'state.json'), feature: 'f' });
    try {
      store.recordTaskCreated('t1', 0);
      const collector = createMetricsCollector({ source: store });
      expect(collector.featureMetrics().toJSON()).toMatchObject({ feature: 'f' });
      await collector.close();
    } finally {
      await store.close();
    }
  });
});
