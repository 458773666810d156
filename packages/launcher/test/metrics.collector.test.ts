import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isOrdoError } from '@ordo/contracts';
import { ManualClock } from '@ordo/contracts/testing';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { tempDir } from '../../../vitest.tempDirs.js';
import {
  FeatureMetrics,
  type LauncherState,
  MetricsCollector,
  renderStatus,
  StateStore,
} from '../src/index.js';
import { at, doneTask, level, midRunState, state, T0, task, worker } from './fixtures/states.js';

const collect = (s: LauncherState, nowSeconds = 300) =>
  new MetricsCollector(
    { revision: s.revision, state: s },
    { clock: new ManualClock(T0 + nowSeconds * 1_000) },
  );

describe('MetricsCollector.workerMetrics', () => {
  it('computes initialization, uptime, counts, total and average', () => {
    const w1 = collect(midRunState()).workerMetrics('w1');
    expect(w1).toMatchObject({
      workerId: 'w1',
      startedAt: T0,
      readyAt: T0 + 1_200,
      lastTaskCompletedAt: T0 + 200_000,
      exitedAt: null,
      initializationMs: 1_200,
      uptimeMs: 300_000, // alive: up to now
      tasksCompleted: 4,
      tasksFailed: 0,
      totalTaskMs: 136_000,
      avgTaskMs: 34_000,
    });
    expect(collect(midRunState()).workerMetrics('w2')).toMatchObject({ tasksFailed: 1, avgTaskMs: 30_000 });
  });

  it('handles a worker that never became ready and exited', () => {
    const w3 = collect(midRunState()).workerMetrics('w3');
    expect(w3).toMatchObject({
      initializationMs: null,
      uptimeMs: 60_000, // until it exited, not until now
      tasksCompleted: 0,
      totalTaskMs: 0,
      avgTaskMs: null,
    });
  });

  it('handles missing timestamps: no start gives no uptime', () => {
    const w = collect(state({ workers: [worker('w', { readyAt: at(3) })] })).workerMetrics('w');
    expect(w.initializationMs).toBeNull();
    expect(w.uptimeMs).toBeNull();
  });

  it('refuses unknown ids with STATE_UNKNOWN_ENTITY', () => {
    const collector = collect(midRunState());
    expect(() => collector.workerMetrics('nope')).toThrow(/Unknown worker "nope"/);
    expect(() => collector.taskMetrics('nope')).toThrow(/Unknown task "nope"/);
    try {
      collector.levelMetrics(9);
    } catch (error) {
      expect(isOrdoError(error, 'STATE_UNKNOWN_ENTITY')).toBe(true);
      return;
    }
    expect.unreachable();
  });
});

describe('MetricsCollector.taskMetrics', () => {
  it('computes queue wait, execution, verification and total of a completed task', () => {
    const s = state({
      tasks: [
        task('t', 0, {
          createdAt: at(0),
          claimedAt: at(5),
          workerId: 'w',
          startedAt: at(6),
          completedAt: at(16),
          verificationMs: 1_500,
          attempts: 2,
        }),
      ],
    });
    expect(collect(s).taskMetrics('t')).toMatchObject({
      status: 'completed',
      workerId: 'w',
      attempts: 2,
      queueWaitMs: 5_000,
      executionMs: 10_000, // from the timestamps when no duration was recorded
      verificationMs: 1_500,
      totalMs: 16_000,
    });
  });

  it('prefers the recorded duration, and reports failed, running, claimed and pending tasks', () => {
    const c = collect(midRunState());
    expect(c.taskMetrics('h')).toMatchObject({ status: 'failed', executionMs: 10_000, totalMs: 161_000 });
    expect(c.taskMetrics('i')).toMatchObject({ status: 'running', queueWaitMs: 260_000, executionMs: null });
    expect(c.taskMetrics('j')).toMatchObject({ status: 'pending', queueWaitMs: null, totalMs: null });
    const claimed = collect(state({ tasks: [task('k', 0, { createdAt: at(0), claimedAt: at(1) })] }));
    expect(claimed.taskMetrics('k').status).toBe('claimed');
  });

  it('leaves every duration null when timestamps are missing', () => {
    const m = collect(state({ tasks: [task('t', 0, { completedAt: at(5) })] })).taskMetrics('t');
    expect(m).toMatchObject({ queueWaitMs: null, executionMs: null, verificationMs: null, totalMs: null });
  });

  it('reports timestamps recorded out of order as METRICS_INPUT_INVALID', () => {
    const s = state({ tasks: [task('t', 0, { createdAt: at(10), claimedAt: at(5) })] });
    expect(() => collect(s).taskMetrics('t')).toThrow(/before the start/);
  });
});

describe('MetricsCollector.levelMetrics', () => {
  it('computes a done level: duration, counts, average, p50 and p95 (nearest rank)', () => {
    expect(collect(midRunState()).levelMetrics(0)).toMatchObject({
      status: 'done',
      durationMs: 135_000,
      taskCount: 4,
      completed: 4,
      failed: 0,
      running: 0,
      pending: 0,
      avgMs: 34_000,
      p50Ms: 28_000,
      p95Ms: 58_000,
    });
  });

  it('computes a running level up to now, with failed and running tasks not in the statistics', () => {
    expect(collect(midRunState()).levelMetrics(1)).toMatchObject({
      status: 'running',
      durationMs: 90_000,
      taskCount: 5,
      completed: 3,
      failed: 1,
      running: 1,
      pending: 0,
      avgMs: 30_000,
      p50Ms: 40_000,
      p95Ms: 46_000,
    });
  });

  it('reports a level known only through its tasks as pending', () => {
    expect(collect(midRunState()).levelMetrics(2)).toMatchObject({
      status: 'pending',
      startedAt: null,
      durationMs: null,
      taskCount: 1,
      pending: 1,
      avgMs: null,
      p50Ms: null,
      p95Ms: null,
    });
  });

  it('handles an empty level', () => {
    const s = state({ levels: [level(0, { startedAt: at(0), completedAt: at(0.5) })] });
    expect(collect(s).levelMetrics(0)).toMatchObject({
      status: 'done',
      durationMs: 500,
      taskCount: 0,
      completed: 0,
      avgMs: null,
      p95Ms: null,
    });
  });
});

describe('MetricsCollector.featureMetrics', () => {
  it('computes the totals of the whole feature', () => {
    const fm = collect(midRunState()).featureMetrics();
    expect(fm).toBeInstanceOf(FeatureMetrics);
    expect(fm).toMatchObject({
      feature: 'checkout',
      generatedAt: T0 + 300_000,
      startedAt: T0,
      completedAt: null,
      durationMs: 300_000,
      totalTasks: 10,
      completedTasks: 7,
      failedTasks: 1,
      runningTasks: 1,
      pendingTasks: 1,
      workersUsed: 2, // w3 never ran a task
      levelsCompleted: 1,
      totalLevels: 3,
      totalTaskMs: 226_000,
      p50TaskMs: 30_000,
      p95TaskMs: 58_000,
    });
    expect(fm.avgTaskMs).toBeCloseTo(226_000 / 7, 9);
    expect(fm.workers.map((w) => w.workerId)).toEqual(['w1', 'w2', 'w3']);
    expect(fm.tasks.map((t) => t.taskId)).toEqual(['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j']);
    expect(fm.levels.map((l) => l.status)).toEqual(['done', 'running', 'pending']);
  });

  it('computes an empty state', () => {
    expect(collect(state()).featureMetrics()).toMatchObject({
      totalTasks: 0,
      totalLevels: 0,
      workersUsed: 0,
      durationMs: null,
      avgTaskMs: null,
      workers: [],
    });
  });

  it('is cached until the revision changes', () => {
    const source = { revision: 1, state: midRunState() };
    const collector = new MetricsCollector(source, { clock: new ManualClock(T0 + 300_000) });
    const first = collector.featureMetrics();
    expect(collector.featureMetrics()).toBe(first);
    expect(collector.levelMetrics(0)).toBe(first.levels[0]);
    source.state = { ...source.state, tasks: [...source.state.tasks, doneTask('z', 2, 'w1', 1)] };
    expect(collector.featureMetrics()).toBe(first); // same revision: still cached
    source.revision = 2;
    const second = collector.featureMetrics();
    expect(second).not.toBe(first);
    expect(second.totalTasks).toBe(11);
  });
});

describe('MetricsCollector with a StateStore', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ordo-metrics-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('stores feature metrics in the state file when a level completes, and exports JSON', async () => {
    const clock = new ManualClock(T0);
    const file = join(dir, 'state.json');
    await using store = await StateStore.open({ file, clock, feature: 'checkout' });
    await using collector = new MetricsCollector(store);
    store.recordWorkerStarted('w1');
    clock.advance(1_000);
    store.recordWorkerReady('w1');
    store.recordLevelStarted(0, ['t1', 't2']);
    for (const id of ['t1', 't2']) {
      store.recordTaskClaimed(id, 'w1');
      store.recordTaskStarted(id);
      clock.advance(2_000);
      store.recordTaskCompleted(id, { verificationMs: 100 });
    }
    expect(store.getMetrics()).toBeUndefined();
    await store.recordLevelCompleted(0);

    const onDisk = JSON.parse(await readFile(file, 'utf8')) as LauncherState;
    const stored = FeatureMetrics.fromJSON(onDisk.metrics);
    expect(stored).toStrictEqual(collector.featureMetrics());
    expect(store.getMetrics()).toStrictEqual(stored);
    expect(stored).toMatchObject({ completedTasks: 2, levelsCompleted: 1, avgTaskMs: 2_000, workersUsed: 1 });
    expect(collector.workerMetrics('w1')).toMatchObject({ initializationMs: 1_000, tasksCompleted: 2 });
    expect(collector.taskMetrics('t2')).toMatchObject({ queueWaitMs: 2_000, verificationMs: 100 });

    const out = join(dir, 'metrics.json');
    await collector.exportJson(out);
    expect(FeatureMetrics.fromJSON(JSON.parse(await readFile(out, 'utf8')))).toStrictEqual(stored);

    // After close, level completions no longer store metrics through this collector.
    await collector.close();
    store.recordLevelStarted(1, ['t3']);
    await store.recordLevelCompleted(1);
    expect(store.getMetrics()).toStrictEqual(stored);
  });
});

describe('a cancelled level', () => {
  it('is stored as cancelled, shows CANCELLED (not done), stops its clock, and a restart clears it', async () => {
    const clock = new ManualClock(T0);
    const file = join(await tempDir('ordo-cancel-'), 'state.json');
    await using store = await StateStore.open({ file, clock, feature: 'checkout' });
    await using collector = new MetricsCollector(store);
    store.recordWorkerStarted('w1');
    store.recordLevelStarted(0, ['t1', 't2']);
    store.recordTaskClaimed('t1', 'w1');
    store.recordTaskStarted('t1');
    clock.advance(2_000);
    store.recordTaskFailed('t1', { error: 'TASK_CANCELLED: stopped' });
    store.recordTaskFailed('t2', { error: 'TASK_CANCELLED: stopped' });
    await store.recordLevelCancelled(0);

    const onDisk = JSON.parse(await readFile(file, 'utf8')) as LauncherState;
    expect(onDisk.levels[0]).toMatchObject({ level: 0, cancelled: true });
    const reread = new MetricsCollector({ revision: 0, state: onDisk }, { clock });
    clock.advance(60_000);
    const level = reread.featureMetrics().levels[0];
    expect(level).toMatchObject({ status: 'cancelled', durationMs: 2_000 });
    expect(reread.featureMetrics().levelsCompleted).toBe(0);
    expect(renderStatus(reread.featureMetrics(), { color: false })).toMatch(
      /Level 0 {2}✗ CANCELLED 2.0s \(0\/2 tasks, 2 failed\)/,
    );
    expect(renderStatus(reread.featureMetrics(), { color: false })).not.toMatch(/DONE/);
    expect(FeatureMetrics.fromJSON(reread.featureMetrics().toJSON()).levels[0]?.status).toBe('cancelled');

    store.recordLevelStarted(0);
    await store.recordLevelCompleted(0);
    expect(collector.featureMetrics().levels[0]?.status).toBe('done');
    await expect(store.recordLevelCancelled(7)).rejects.toMatchObject({ code: 'STATE_UNKNOWN_ENTITY' });
  });
});
