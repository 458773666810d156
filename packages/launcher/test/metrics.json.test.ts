import { isOrdoError } from '@ordo/contracts';
import { ManualClock } from '@ordo/contracts/testing';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FeatureMetrics, LevelMetrics, MetricsCollector, TaskMetrics, WorkerMetrics } from '../src/index.js';
import { midRunState, T0 } from './fixtures/states.js';

const time = fc.option(fc.integer({ min: 0, max: Date.parse('2200-01-01T00:00:00Z') }), { nil: null });
const ms = fc.double({ min: 0, max: 1e10, noNaN: true, noDefaultInfinity: true });
const optionalMs = fc.option(ms, { nil: null });
const id = fc.string({ minLength: 1, maxLength: 12 });

const workerArb = fc
  .record({
    workerId: id,
    startedAt: time,
    readyAt: time,
    lastTaskCompletedAt: time,
    exitedAt: time,
    initializationMs: optionalMs,
    uptimeMs: optionalMs,
    tasksCompleted: fc.nat(),
    tasksFailed: fc.nat(),
    totalTaskMs: ms,
    avgTaskMs: optionalMs,
  })
  .map((d) => new WorkerMetrics(d));

const taskArb = fc
  .record({
    taskId: id,
    level: fc.nat(100),
    workerId: fc.option(id, { nil: null }),
    status: fc.constantFrom('pending', 'claimed', 'running', 'completed', 'failed' as const),
    attempts: fc.nat(10),
    createdAt: time,
    claimedAt: time,
    startedAt: time,
    completedAt: time,
    failedAt: time,
    queueWaitMs: optionalMs,
    executionMs: optionalMs,
    verificationMs: optionalMs,
    totalMs: optionalMs,
  })
  .map((d) => new TaskMetrics(d));

const levelArb = fc
  .record({
    level: fc.nat(100),
    status: fc.constantFrom('pending', 'running', 'done' as const),
    startedAt: time,
    completedAt: time,
    durationMs: optionalMs,
    taskCount: fc.nat(),
    completed: fc.nat(),
    failed: fc.nat(),
    running: fc.nat(),
    pending: fc.nat(),
    avgMs: optionalMs,
    p50Ms: optionalMs,
    p95Ms: optionalMs,
  })
  .map((d) => new LevelMetrics(d));

const featureArb = fc
  .record({
    feature: fc.string(),
    generatedAt: fc.integer({ min: 0, max: Date.parse('2200-01-01T00:00:00Z') }),
    startedAt: time,
    completedAt: time,
    durationMs: optionalMs,
    totalTasks: fc.nat(),
    completedTasks: fc.nat(),
    failedTasks: fc.nat(),
    runningTasks: fc.nat(),
    pendingTasks: fc.nat(),
    workersUsed: fc.nat(),
    levelsCompleted: fc.nat(),
    totalLevels: fc.nat(),
    totalTaskMs: ms,
    avgTaskMs: optionalMs,
    p50TaskMs: optionalMs,
    p95TaskMs: optionalMs,
    workers: fc.array(workerArb, { maxLength: 4 }),
    tasks: fc.array(taskArb, { maxLength: 6 }),
    levels: fc.array(levelArb, { maxLength: 3 }),
  })
  .map((d) => new FeatureMetrics(d));

const midRunMetrics = () =>
  new MetricsCollector(
    { revision: 1, state: midRunState() },
    { clock: new ManualClock(T0 + 300_000) },
  ).featureMetrics();

/** Through JSON text and back, as a file or a socket would carry it. */
const viaText = (value: unknown): unknown => JSON.parse(JSON.stringify(value));

describe('metrics toJSON / fromJSON', () => {
  it.each([
    ['WorkerMetrics', workerArb, WorkerMetrics.fromJSON],
    ['TaskMetrics', taskArb, TaskMetrics.fromJSON],
    ['LevelMetrics', levelArb, LevelMetrics.fromJSON],
    ['FeatureMetrics', featureArb, FeatureMetrics.fromJSON],
  ] as const)('%s round-trips exactly (property)', (_name, arb, fromJSON) => {
    fc.assert(
      fc.property(arb as fc.Arbitrary<{ toJSON(): unknown }>, (metrics) => {
        const json = viaText(metrics);
        const back = (fromJSON as (json: unknown) => unknown)(json);
        expect(back).toStrictEqual(metrics);
        expect(viaText(back)).toStrictEqual(json);
      }),
      { numRuns: 200 },
    );
  });

  it('writes points in time as ISO strings and keeps missing values as null', () => {
    const json = midRunMetrics().toJSON();
    expect(json.generatedAt).toBe('2025-01-01T00:05:00.000Z');
    expect(json.workers[2]).toMatchObject({ workerId: 'w3', readyAt: null, initializationMs: null });
    expect(json.tasks[0]?.createdAt).toBe('2025-01-01T00:00:00.000Z');
  });

  it('refuses bad JSON naming the field, with METRICS_INPUT_INVALID', () => {
    const good = midRunMetrics().toJSON();
    const cases: [unknown, RegExp][] = [
      [null, /FeatureMetrics is not an object/],
      [[], /FeatureMetrics is not an object/],
      [{ ...good, generatedAt: null }, /FeatureMetrics.generatedAt must be an ISO time, got null/],
      [{ ...good, startedAt: 'soon' }, /FeatureMetrics.startedAt must be an ISO time/],
      [{ ...good, totalTasks: -1 }, /totalTasks must be an integer >= 0, got -1/],
      [{ ...good, totalTasks: 1.5 }, /totalTasks must be an integer >= 0/],
      [{ ...good, avgTaskMs: -3 }, /avgTaskMs must be a number >= 0/],
      [{ ...good, feature: 7 }, /feature must be a string/],
      [{ ...good, workers: {} }, /FeatureMetrics.workers is not an array/],
      [
        { ...good, tasks: [{ ...good.tasks[0], status: 'lost' }] },
        /tasks\[0\].status must be one of pending/,
      ],
      [{ ...good, levels: [{ ...good.levels[0], p95Ms: undefined }] }, /levels\[0\].p95Ms must be a number/],
    ];
    for (const [json, message] of cases) {
      let thrown: unknown;
      try {
        FeatureMetrics.fromJSON(json);
      } catch (error) {
        thrown = error;
      }
      expect(isOrdoError(thrown, 'METRICS_INPUT_INVALID'), `${message}`).toBe(true);
      expect((thrown as Error).message).toMatch(message);
    }
  });
});
