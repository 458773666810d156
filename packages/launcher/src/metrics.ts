import { TASK_LIFECYCLE_STATUSES, type TaskLifecycleStatus } from '@ordo/contracts';
import { decodeArray, decodeFields, encodeFields, type Fields, field, pick } from './internal/codec.js';

/**
 * The metrics objects of a run: one per worker, task and level, and one for the whole feature.
 *
 * In memory every point in time is **epoch ms** (`number | null`) and every duration is ms; in JSON
 * (`toJSON()`), points in time are ISO 8601 strings. `fromJSON(JSON.parse(JSON.stringify(m)))` gives back
 * an object equal to `m`, field for field. A missing timestamp or duration is `null`, never 0.
 */

const time = field('time', true);
const ms = field('ms', true);
const count = field('count');

/** The JSON form of a metrics object: the same fields, with points in time as ISO strings. */
export type MetricsJson<T> = {
  [K in keyof T]: K extends `${string}At` ? (null extends T[K] ? string | null : string) : T[K];
};

// ── WorkerMetrics ────────────────────────────────────────────────────────────────────────────────

/** The fields of a {@link WorkerMetrics}. */
export interface WorkerMetricsData {
  /** The worker's id. */
  workerId: string;
  /** When it was started. */
  startedAt: number | null;
  /** When it first became ready; `null` if it never did. */
  readyAt: number | null;
  /** When it last completed a task. */
  lastTaskCompletedAt: number | null;
  /** When it exited; `null` while alive. */
  exitedAt: number | null;
  /** `readyAt − startedAt`: how long it took to start; `null` if it never became ready. */
  initializationMs: number | null;
  /** From `startedAt` to `exitedAt`, or to when the metrics were computed if it is still alive. */
  uptimeMs: number | null;
  /** Tasks it completed (every attempt counts for the worker that ran it). */
  tasksCompleted: number;
  /** Task attempts that failed on it. */
  tasksFailed: number;
  /** The sum of the execution times of the tasks it completed. */
  totalTaskMs: number;
  /** `totalTaskMs / tasksCompleted`; `null` when it completed none. */
  avgTaskMs: number | null;
  /**
   * Where it ran (a Swarm node's host name, a remote worker's host), when its launcher says; left out for
   * local workers.
   */
  node?: string | undefined;
}

const WORKER_FIELDS: Fields = {
  workerId: field('string'),
  startedAt: time,
  readyAt: time,
  lastTaskCompletedAt: time,
  exitedAt: time,
  initializationMs: ms,
  uptimeMs: ms,
  tasksCompleted: count,
  tasksFailed: count,
  totalTaskMs: field('ms'),
  avgTaskMs: ms,
  node: field('string', false, true),
} satisfies Record<keyof WorkerMetricsData, unknown>;

/**
 * What one worker did: how long it took to start, how long it lived, the tasks it completed and failed.
 *
 * @example
 * ```ts
 * const json = JSON.stringify(metrics);              // toJSON(): times as ISO strings
 * const back = WorkerMetrics.fromJSON(JSON.parse(json)); // equal to `metrics`
 * ```
 */
export class WorkerMetrics implements Readonly<WorkerMetricsData> {
  declare readonly workerId: string;
  declare readonly startedAt: number | null;
  declare readonly readyAt: number | null;
  declare readonly lastTaskCompletedAt: number | null;
  declare readonly exitedAt: number | null;
  declare readonly initializationMs: number | null;
  declare readonly uptimeMs: number | null;
  declare readonly tasksCompleted: number;
  declare readonly tasksFailed: number;
  declare readonly totalTaskMs: number;
  declare readonly avgTaskMs: number | null;
  declare readonly node?: string | undefined;

  constructor(data: WorkerMetricsData) {
    Object.assign(this, pick(WORKER_FIELDS, data));
  }

  /** The JSON form: the same fields, times as ISO strings. */
  toJSON(): MetricsJson<WorkerMetricsData> {
    return encodeFields(WORKER_FIELDS, this) as MetricsJson<WorkerMetricsData>;
  }

  /**
   * Reads what {@link WorkerMetrics.toJSON} produced.
   * @throws MetricsInputError (`METRICS_INPUT_INVALID`) naming the first bad field.
   */
  static fromJSON(json: unknown, what = 'WorkerMetrics'): WorkerMetrics {
    return new WorkerMetrics(decodeFields(WORKER_FIELDS, json, what) as unknown as WorkerMetricsData);
  }
}

// ── TaskMetrics ──────────────────────────────────────────────────────────────────────────────────

/**
 * Where a task is: not claimed yet, claimed by a worker, running, or finished either way (contracts'
 * {@link TaskLifecycleStatus}).
 * @deprecated Use `TaskLifecycleStatus` from `@ordo/contracts` (the same type under its one name).
 */
export type TaskStatus = TaskLifecycleStatus;

/** The fields of a {@link TaskMetrics}. */
export interface TaskMetricsData {
  /** The task's id. */
  taskId: string;
  /** The level (0-based) it belongs to. */
  level: number;
  /** The worker that claimed its latest attempt; `null` before any claim. */
  workerId: string | null;
  /** Where it is now. */
  status: TaskLifecycleStatus;
  /** How many times it was claimed (1 for a task that ran once). */
  attempts: number;
  /** When it was created (planned). */
  createdAt: number | null;
  /** When its latest attempt was claimed. */
  claimedAt: number | null;
  /** When its latest attempt started running. */
  startedAt: number | null;
  /** When it completed. */
  completedAt: number | null;
  /** When its latest attempt failed. */
  failedAt: number | null;
  /** `claimedAt − createdAt`: how long it waited for a worker. */
  queueWaitMs: number | null;
  /** How long its latest attempt ran (as recorded, else from `startedAt` to its end). */
  executionMs: number | null;
  /** How long its verification (validators, commit gate) took, as recorded. */
  verificationMs: number | null;
  /** From `createdAt` to its end (completed or failed); `null` while unfinished. */
  totalMs: number | null;
}

const TASK_FIELDS: Fields = {
  taskId: field('string'),
  level: count,
  workerId: field('string', true),
  status: field(TASK_LIFECYCLE_STATUSES),
  attempts: count,
  createdAt: time,
  claimedAt: time,
  startedAt: time,
  completedAt: time,
  failedAt: time,
  queueWaitMs: ms,
  executionMs: ms,
  verificationMs: ms,
  totalMs: ms,
} satisfies Record<keyof TaskMetricsData, unknown>;

/**
 * What happened to one task: queue wait, execution, verification and total time.
 *
 * @example
 * ```ts
 * const t = collector.taskMetrics('build');
 * if (t.status === 'completed') console.log(t.queueWaitMs, t.executionMs, t.verificationMs);
 * ```
 */
export class TaskMetrics implements Readonly<TaskMetricsData> {
  declare readonly taskId: string;
  declare readonly level: number;
  declare readonly workerId: string | null;
  declare readonly status: TaskLifecycleStatus;
  declare readonly attempts: number;
  declare readonly createdAt: number | null;
  declare readonly claimedAt: number | null;
  declare readonly startedAt: number | null;
  declare readonly completedAt: number | null;
  declare readonly failedAt: number | null;
  declare readonly queueWaitMs: number | null;
  declare readonly executionMs: number | null;
  declare readonly verificationMs: number | null;
  declare readonly totalMs: number | null;

  constructor(data: TaskMetricsData) {
    Object.assign(this, pick(TASK_FIELDS, data));
  }

  /** The JSON form: the same fields, times as ISO strings. */
  toJSON(): MetricsJson<TaskMetricsData> {
    return encodeFields(TASK_FIELDS, this) as MetricsJson<TaskMetricsData>;
  }

  /**
   * Reads what {@link TaskMetrics.toJSON} produced.
   * @throws MetricsInputError (`METRICS_INPUT_INVALID`) naming the first bad field.
   */
  static fromJSON(json: unknown, what = 'TaskMetrics'): TaskMetrics {
    return new TaskMetrics(decodeFields(TASK_FIELDS, json, what) as unknown as TaskMetricsData);
  }
}

// ── LevelMetrics ─────────────────────────────────────────────────────────────────────────────────

/** Where a level is: not started, running, done, or ended by a cancelled feature. */
export type LevelStatus = 'pending' | 'running' | 'done' | 'cancelled';

/** The fields of a {@link LevelMetrics}. */
export interface LevelMetricsData {
  /** The level number (0-based). */
  level: number;
  /** Where it is. */
  status: LevelStatus;
  /** When it started. */
  startedAt: number | null;
  /** When it completed. */
  completedAt: number | null;
  /** From `startedAt` to `completedAt`, or to when the metrics were computed while it runs. */
  durationMs: number | null;
  /** Tasks in the level. */
  taskCount: number;
  /** Tasks completed. */
  completed: number;
  /** Tasks whose latest attempt failed. */
  failed: number;
  /** Tasks claimed or running. */
  running: number;
  /** Tasks not claimed yet. */
  pending: number;
  /** The mean execution time of the completed tasks; `null` when none completed. */
  avgMs: number | null;
  /** The median execution time (nearest rank) of the completed tasks; `null` when none completed. */
  p50Ms: number | null;
  /** The 95th percentile execution time (nearest rank); `null` when none completed. */
  p95Ms: number | null;
}

const LEVEL_FIELDS: Fields = {
  level: count,
  status: field(['pending', 'running', 'done', 'cancelled']),
  startedAt: time,
  completedAt: time,
  durationMs: ms,
  taskCount: count,
  completed: count,
  failed: count,
  running: count,
  pending: count,
  avgMs: ms,
  p50Ms: ms,
  p95Ms: ms,
} satisfies Record<keyof LevelMetricsData, unknown>;

/**
 * One level of the plan: its duration, task counts and execution-time statistics.
 *
 * @example
 * ```ts
 * const level = collector.levelMetrics(0);
 * console.log(level.status, level.durationMs, level.p95Ms); // 'done', 135000, 58000
 * ```
 */
export class LevelMetrics implements Readonly<LevelMetricsData> {
  declare readonly level: number;
  declare readonly status: LevelStatus;
  declare readonly startedAt: number | null;
  declare readonly completedAt: number | null;
  declare readonly durationMs: number | null;
  declare readonly taskCount: number;
  declare readonly completed: number;
  declare readonly failed: number;
  declare readonly running: number;
  declare readonly pending: number;
  declare readonly avgMs: number | null;
  declare readonly p50Ms: number | null;
  declare readonly p95Ms: number | null;

  constructor(data: LevelMetricsData) {
    Object.assign(this, pick(LEVEL_FIELDS, data));
  }

  /** The JSON form: the same fields, times as ISO strings. */
  toJSON(): MetricsJson<LevelMetricsData> {
    return encodeFields(LEVEL_FIELDS, this) as MetricsJson<LevelMetricsData>;
  }

  /**
   * Reads what {@link LevelMetrics.toJSON} produced.
   * @throws MetricsInputError (`METRICS_INPUT_INVALID`) naming the first bad field.
   */
  static fromJSON(json: unknown, what = 'LevelMetrics'): LevelMetrics {
    return new LevelMetrics(decodeFields(LEVEL_FIELDS, json, what) as unknown as LevelMetricsData);
  }
}

// ── FeatureMetrics ───────────────────────────────────────────────────────────────────────────────

/** The fields of a {@link FeatureMetrics}. */
export interface FeatureMetricsData {
  /** The feature's name. */
  feature: string;
  /** When these metrics were computed: the "now" of every open duration in them. */
  generatedAt: number;
  /** When the feature started (its first recorded event). */
  startedAt: number | null;
  /** When its last level completed, once every level has. */
  completedAt: number | null;
  /** From `startedAt` to `completedAt`, or to `generatedAt` while it runs. */
  durationMs: number | null;
  /** Tasks in the plan. */
  totalTasks: number;
  /** Tasks completed. */
  completedTasks: number;
  /** Tasks whose latest attempt failed. */
  failedTasks: number;
  /** Tasks claimed or running. */
  runningTasks: number;
  /** Tasks not claimed yet. */
  pendingTasks: number;
  /** Workers that completed or failed at least one task. */
  workersUsed: number;
  /** Levels completed. */
  levelsCompleted: number;
  /** Levels in the plan. */
  totalLevels: number;
  /** The sum of the execution times of the completed tasks. */
  totalTaskMs: number;
  /** Their mean; `null` when none completed. */
  avgTaskMs: number | null;
  /** Their median (nearest rank); `null` when none completed. */
  p50TaskMs: number | null;
  /** Their 95th percentile (nearest rank); `null` when none completed. */
  p95TaskMs: number | null;
  /** One entry per worker, in the order they started. */
  workers: readonly WorkerMetrics[];
  /** One entry per task, in the order they were created. */
  tasks: readonly TaskMetrics[];
  /** One entry per level, ascending. */
  levels: readonly LevelMetrics[];
}

/** The JSON form of a {@link FeatureMetrics}, as `toJSON()` returns it and the state file keeps it. */
export type FeatureMetricsJson = MetricsJson<Omit<FeatureMetricsData, 'workers' | 'tasks' | 'levels'>> & {
  workers: MetricsJson<WorkerMetricsData>[];
  tasks: MetricsJson<TaskMetricsData>[];
  levels: MetricsJson<LevelMetricsData>[];
};

const FEATURE_FIELDS: Fields = {
  feature: field('string'),
  generatedAt: field('time'),
  startedAt: time,
  completedAt: time,
  durationMs: ms,
  totalTasks: count,
  completedTasks: count,
  failedTasks: count,
  runningTasks: count,
  pendingTasks: count,
  workersUsed: count,
  levelsCompleted: count,
  totalLevels: count,
  totalTaskMs: field('ms'),
  avgTaskMs: ms,
  p50TaskMs: ms,
  p95TaskMs: ms,
} satisfies Record<Exclude<keyof FeatureMetricsData, 'workers' | 'tasks' | 'levels'>, unknown>;

/**
 * The whole feature: totals, workers used, levels completed, and every worker's, task's and level's
 * metrics. `MetricsCollector.featureMetrics()` computes it; `renderStatus` draws it; the state file keeps
 * the latest one (`StateStore.storeMetrics`).
 *
 * @example
 * ```ts
 * const fm = collector.featureMetrics();
 * await writeFile('metrics.json', JSON.stringify(fm));
 * const again = FeatureMetrics.fromJSON(JSON.parse(await readFile('metrics.json', 'utf8')));
 * ```
 */
export class FeatureMetrics implements Readonly<FeatureMetricsData> {
  declare readonly feature: string;
  declare readonly generatedAt: number;
  declare readonly startedAt: number | null;
  declare readonly completedAt: number | null;
  declare readonly durationMs: number | null;
  declare readonly totalTasks: number;
  declare readonly completedTasks: number;
  declare readonly failedTasks: number;
  declare readonly runningTasks: number;
  declare readonly pendingTasks: number;
  declare readonly workersUsed: number;
  declare readonly levelsCompleted: number;
  declare readonly totalLevels: number;
  declare readonly totalTaskMs: number;
  declare readonly avgTaskMs: number | null;
  declare readonly p50TaskMs: number | null;
  declare readonly p95TaskMs: number | null;
  declare readonly workers: readonly WorkerMetrics[];
  declare readonly tasks: readonly TaskMetrics[];
  declare readonly levels: readonly LevelMetrics[];

  constructor(data: FeatureMetricsData) {
    Object.assign(this, pick(FEATURE_FIELDS, data), {
      workers: [...data.workers],
      tasks: [...data.tasks],
      levels: [...data.levels],
    });
  }

  /** The JSON form: the same fields, times as ISO strings, the nested metrics in their JSON form. */
  toJSON(): FeatureMetricsJson {
    return {
      ...encodeFields(FEATURE_FIELDS, this),
      workers: this.workers.map((w) => w.toJSON()),
      tasks: this.tasks.map((t) => t.toJSON()),
      levels: this.levels.map((l) => l.toJSON()),
    } as FeatureMetricsJson;
  }

  /**
   * Reads what {@link FeatureMetrics.toJSON} produced.
   * @throws MetricsInputError (`METRICS_INPUT_INVALID`) naming the first bad field.
   */
  static fromJSON(json: unknown, what = 'FeatureMetrics'): FeatureMetrics {
    const data = decodeFields(FEATURE_FIELDS, json, what);
    const source = json as Record<string, unknown>;
    return new FeatureMetrics({
      ...(data as unknown as FeatureMetricsData),
      workers: decodeArray(source.workers, `${what}.workers`, WorkerMetrics.fromJSON),
      tasks: decodeArray(source.tasks, `${what}.tasks`, TaskMetrics.fromJSON),
      levels: decodeArray(source.levels, `${what}.levels`, LevelMetrics.fromJSON),
    });
  }
}
