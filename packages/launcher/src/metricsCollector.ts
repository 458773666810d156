import { type Clock, systemClock, type TaskLifecycleStatus } from '@ordo/contracts';
import { durationMs, openDuration, toEpochMs } from './duration.js';
import { StateUnknownEntityError } from './errors.js';
import { writeFileAtomic } from './internal/atomicWrite.js';
import { FeatureMetrics, LevelMetrics, TaskMetrics, WorkerMetrics } from './metrics.js';
import { percentile } from './percentile.js';
import type { LauncherState, LevelState, TaskState, WorkerState } from './stateSchema.js';
import { type StateSource, StateStore } from './stateStore.js';

/** Options for {@link MetricsCollector}. */
export interface MetricsCollectorOptions {
  /** The "now" of open durations (uptime of live workers, running levels). @default the store's clock, else systemClock */
  clock?: Clock | undefined;
}

interface Computed {
  revision: number;
  workers: Map<string, WorkerMetrics>;
  tasks: Map<string, TaskMetrics>;
  levels: Map<number, LevelMetrics>;
  feature: FeatureMetrics;
}

/**
 * Computes worker, task, level and feature metrics from a state. Everything is computed in one pass and
 * cached until the state's revision changes, so asking again is free. Given a {@link StateStore}, it also
 * computes and stores the feature metrics in the state file whenever a level completes.
 *
 * Gotchas: open durations (a live worker's uptime, a running level) are measured to the moment of
 * computation, `FeatureMetrics.generatedAt`, and stay as they were until the state changes; a status view
 * that ticks passes its own `now` to `renderStatus`.
 *
 * @example
 * ```ts
 * await using store = await StateStore.open();
 * await using collector = new MetricsCollector(store);
 * console.log(collector.levelMetrics(0).p95Ms);
 * await collector.exportJson('metrics.json');
 * ```
 */
export class MetricsCollector {
  readonly #source: StateSource;
  readonly #clock: Clock;
  #computed: Computed | undefined;
  #unsubscribe: (() => void) | undefined;

  constructor(source: StateSource, options: MetricsCollectorOptions = {}) {
    this.#source = source;
    this.#clock = options.clock ?? (source instanceof StateStore ? source.clock : systemClock);
    if (source instanceof StateStore) {
      const onLevelCompleted = () => source.storeMetrics(this.featureMetrics());
      source.on('levelCompleted', onLevelCompleted);
      this.#unsubscribe = () => source.off('levelCompleted', onLevelCompleted);
    }
  }

  /**
   * A worker's metrics: initialization (ready − started), uptime, tasks completed and failed, total and
   * average task duration.
   * @throws StateUnknownEntityError (`STATE_UNKNOWN_ENTITY`) for a worker the state does not know.
   */
  workerMetrics(workerId: string): WorkerMetrics {
    return found(this.#compute().workers.get(workerId), 'worker', workerId);
  }

  /**
   * A task's metrics: queue wait (claimed − created), execution, verification and total.
   * @throws StateUnknownEntityError (`STATE_UNKNOWN_ENTITY`) for a task the state does not know.
   */
  taskMetrics(taskId: string): TaskMetrics {
    return found(this.#compute().tasks.get(taskId), 'task', taskId);
  }

  /**
   * A level's metrics: duration, task counts, average, p50 and p95 execution time (nearest rank).
   * @throws StateUnknownEntityError (`STATE_UNKNOWN_ENTITY`) for a level with no record and no tasks.
   */
  levelMetrics(level: number): LevelMetrics {
    return found(this.#compute().levels.get(level), 'level', level);
  }

  /** The whole feature: totals, workers used, levels completed, and all of the above. */
  featureMetrics(): FeatureMetrics {
    return this.#compute().feature;
  }

  /** Writes {@link featureMetrics} as JSON to `path`, atomically. */
  async exportJson(path: string, signal?: AbortSignal): Promise<void> {
    signal?.throwIfAborted();
    await writeFileAtomic(path, `${JSON.stringify(this.featureMetrics(), null, 2)}\n`);
  }

  /** Stops listening to the store. */
  async close(): Promise<void> {
    this.#unsubscribe?.();
    this.#unsubscribe = undefined;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  #compute(): Computed {
    const revision = this.#source.revision;
    if (this.#computed?.revision !== revision)
      this.#computed = compute(this.#source.state, revision, this.#clock.now());
    return this.#computed;
  }
}

function found<T>(value: T | undefined, kind: 'worker' | 'task' | 'level', id: string | number): T {
  if (value === undefined) throw new StateUnknownEntityError(kind, id, `the state has no such ${kind}.`);
  return value;
}

function compute(state: Readonly<LauncherState>, revision: number, now: number): Computed {
  const workers = new Map(state.workers.map((w) => [w.workerId, workerMetrics(w, now)]));
  const tasks = new Map(state.tasks.map((t) => [t.taskId, taskMetrics(t)]));

  const byLevel = new Map<number, { record: LevelState | undefined; tasks: TaskMetrics[] }>(
    state.levels.map((l) => [l.level, { record: l, tasks: [] }]),
  );
  for (const task of tasks.values()) {
    const entry = byLevel.get(task.level) ?? { record: undefined, tasks: [] };
    entry.tasks.push(task);
    byLevel.set(task.level, entry);
  }
  const levels = new Map<number, LevelMetrics>();
  for (const level of [...byLevel.keys()].sort((a, b) => a - b)) {
    const { record, tasks: own } = byLevel.get(level) as {
      record: LevelState | undefined;
      tasks: TaskMetrics[];
    };
    const startedAt = toEpochMs(record?.startedAt);
    const completedAt = toEpochMs(record?.completedAt);
    levels.set(
      level,
      new LevelMetrics({
        level,
        status:
          completedAt !== null
            ? record?.cancelled === true
              ? 'cancelled'
              : 'done'
            : startedAt !== null
              ? 'running'
              : 'pending',
        startedAt,
        completedAt,
        durationMs: openDuration(startedAt, completedAt, now),
        taskCount: own.length,
        ...counts(own),
        ...stats(own),
      }),
    );
  }

  const allTasks = [...tasks.values()];
  const totals = counts(allTasks);
  const taskStats = stats(allTasks);
  const startedAt = toEpochMs(state.feature.startedAt);
  const completedAt = toEpochMs(state.feature.completedAt);
  const feature = new FeatureMetrics({
    feature: state.feature.name,
    generatedAt: now,
    startedAt,
    completedAt,
    durationMs: openDuration(startedAt, completedAt, now),
    totalTasks: allTasks.length,
    completedTasks: totals.completed,
    failedTasks: totals.failed,
    runningTasks: totals.running,
    pendingTasks: totals.pending,
    workersUsed: [...workers.values()].filter((w) => w.tasksCompleted + w.tasksFailed > 0).length,
    levelsCompleted: [...levels.values()].filter((l) => l.status === 'done').length,
    totalLevels: levels.size,
    totalTaskMs: sum(completedDurations(allTasks)),
    avgTaskMs: taskStats.avgMs,
    p50TaskMs: taskStats.p50Ms,
    p95TaskMs: taskStats.p95Ms,
    workers: [...workers.values()],
    tasks: allTasks,
    levels: [...levels.values()],
  });
  return { revision, workers, tasks, levels, feature };
}

function workerMetrics(w: WorkerState, now: number): WorkerMetrics {
  const startedAt = toEpochMs(w.startedAt);
  const exitedAt = toEpochMs(w.exitedAt);
  return new WorkerMetrics({
    workerId: w.workerId,
    startedAt,
    readyAt: toEpochMs(w.readyAt),
    lastTaskCompletedAt: toEpochMs(w.lastTaskCompletedAt),
    exitedAt,
    initializationMs: durationMs(w.startedAt, w.readyAt),
    uptimeMs: openDuration(startedAt, exitedAt, now),
    tasksCompleted: w.tasksCompleted,
    tasksFailed: w.tasksFailed,
    totalTaskMs: w.taskMs,
    avgTaskMs: w.tasksCompleted > 0 ? w.taskMs / w.tasksCompleted : null,
    ...(w.node !== undefined && { node: w.node }),
  });
}

function taskMetrics(t: TaskState): TaskMetrics {
  const end = t.completedAt ?? t.failedAt;
  return new TaskMetrics({
    taskId: t.taskId,
    level: t.level,
    workerId: t.workerId,
    status: taskStatus(t),
    attempts: t.attempts,
    createdAt: toEpochMs(t.createdAt),
    claimedAt: toEpochMs(t.claimedAt),
    startedAt: toEpochMs(t.startedAt),
    completedAt: toEpochMs(t.completedAt),
    failedAt: toEpochMs(t.failedAt),
    queueWaitMs: durationMs(t.createdAt, t.claimedAt),
    executionMs: end === null ? null : (t.durationMs ?? durationMs(t.startedAt, end)),
    verificationMs: t.verificationMs,
    totalMs: durationMs(t.createdAt, end),
  });
}

function taskStatus(t: TaskState): TaskLifecycleStatus {
  if (t.completedAt !== null) return 'completed';
  if (t.failedAt !== null) return 'failed';
  if (t.startedAt !== null) return 'running';
  return t.claimedAt !== null ? 'claimed' : 'pending';
}

function counts(tasks: readonly TaskMetrics[]) {
  const of = (...statuses: TaskLifecycleStatus[]) => tasks.filter((t) => statuses.includes(t.status)).length;
  return {
    completed: of('completed'),
    failed: of('failed'),
    running: of('claimed', 'running'),
    pending: of('pending'),
  };
}

function completedDurations(tasks: readonly TaskMetrics[]): number[] {
  return tasks.flatMap((t) => (t.status === 'completed' && t.executionMs !== null ? [t.executionMs] : []));
}

function stats(tasks: readonly TaskMetrics[]) {
  const durations = completedDurations(tasks);
  if (durations.length === 0) return { avgMs: null, p50Ms: null, p95Ms: null };
  return {
    avgMs: sum(durations) / durations.length,
    p50Ms: percentile(durations, 50),
    p95Ms: percentile(durations, 95),
  };
}

function sum(values: readonly number[]): number {
  return values.reduce((a, b) => a + b, 0);
}

/**
 * Makes a metrics collector over `source` (a {@link StateStore}, or any {@link StateSource}): the `createX`
 * way every long-lived ordo component is made (`new MetricsCollector(source, options)` keeps working).
 *
 * @example
 * ```ts
 * const collector = createMetricsCollector({ source: store });
 * console.log(collector.featureMetrics().toJSON());
 * ```
 */
export function createMetricsCollector(
  options: MetricsCollectorOptions & { source: StateSource },
): MetricsCollector {
  const { source, ...rest } = options;
  return new MetricsCollector(source, rest);
}
