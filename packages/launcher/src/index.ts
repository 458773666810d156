/**
 * `@ordo/launcher`: workers as subprocesses or Docker containers, heartbeats, worker/task/level/feature
 * metrics, a crash-safe state file and the status view.
 * @packageDocumentation
 */

// ── State and metrics ────────────────────────────────────────────────────────────────────────────
export { durationMs, formatDuration, type TimeInput, toEpochMs } from './duration.js';
export {
  MetricsInputError,
  StateClosedError,
  StateCorruptError,
  StateErrorCode,
  StateUnknownEntityError,
  StateVersionError,
  StateWriteError,
} from './errors.js';
export {
  FeatureMetrics,
  type FeatureMetricsData,
  type FeatureMetricsJson,
  LevelMetrics,
  type LevelMetricsData,
  type LevelStatus,
  type MetricsJson,
  TaskMetrics,
  type TaskMetricsData,
  type TaskStatus,
  WorkerMetrics,
  type WorkerMetricsData,
} from './metrics.js';
export { MetricsCollector, type MetricsCollectorOptions } from './metricsCollector.js';
export { percentile } from './percentile.js';
export { type RenderStatusOptions, renderStatus } from './renderStatus.js';
export {
  checkState,
  type IsoTime,
  type LauncherState,
  type LevelState,
  parseState,
  STATE_SCHEMA_VERSION,
  type TaskState,
  type WorkerState,
} from './stateSchema.js';
export {
  type ReadStateOptions,
  type ReadStateResult,
  readStateFile,
  type StateSource,
  StateStore,
  type StateStoreEvents,
  type StateStoreOptions,
  type TaskCompletedOptions,
  type TaskFailedOptions,
} from './stateStore.js';
// ── end of state and metrics ─────────────────────────────────────────────────────────────────────
