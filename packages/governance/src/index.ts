/**
 * `@ordo/governance`: keeps an ordo host inside its memory and its dependencies healthy. A memory monitor
 * with hysteresis, a bounded priority queue, a circuit breaker and resilience policies that compose with it
 * (retry, timeout, bulkhead, fallback, `wrap`), a memory governor, YAML configuration with
 * env overrides and hot reload, and Prometheus metrics.
 * @packageDocumentation
 */

export {
  type Admission,
  AdmissionCode,
  type AdmissionCounters,
  type AdmissionDecision,
  type AdmissionOptions,
  type AdmissionRejectionBody,
  type AdmissionSettings,
  createAdmission,
  type FastifyReplyLike,
  type RetryAfterOptions,
} from './admission.js';
export {
  type BoundedRead,
  FORBIDDEN_KEYS,
  findUnsafeKey,
  measureYaml,
  parseBoundedYaml,
  readBoundedText,
  type UnsafeKey,
  type YamlBounds,
  type YamlParsed,
  type YamlRefusal,
} from './boundedYaml.js';
export {
  type BulkheadOptions,
  type BulkheadPolicy,
  type BulkheadPolicyEvents,
  bulkhead,
} from './bulkhead.js';
export {
  type BackoffOptions,
  type BreakerStateChange,
  CircuitBreaker,
  type CircuitBreakerEvents,
  type CircuitBreakerOptions,
  type CircuitBreakerSettings,
  createCircuitBreaker,
} from './circuitBreaker.js';
export {
  CONFIG_MAX_BYTES,
  CONFIG_MAX_DEPTH,
  type ConfigLogLevel,
  defaultConfig,
  type LoadConfigOptions,
  loadConfig,
  MAX_DURATION_MS,
  type OrdoConfig,
} from './config.js';
export { CONFIG_KEY_DOCS, configKeyPaths, renderConfigTable } from './configKeys.js';
export {
  type ConfigChange,
  ConfigWatcher,
  type ConfigWatcherEvents,
  createConfigWatcher,
  isLiveConfigKey,
  LIVE_CONFIG_KEYS,
  type ReloadOutcome,
  type WatchConfigOptions,
  watchConfig,
} from './configWatcher.js';
export {
  BreakerOpenError,
  BreakerTimeoutError,
  BulkheadFullError,
  ConfigInvalidError,
  type ConfigIssue,
  ConfigUnreadableError,
  GovernanceErrorCode,
  GovernanceOptionsError,
  IpcResultError,
  IpcVersionMismatchError,
  PolicyTimeoutError,
  PoolClosedError,
  PoolErrorCode,
  PoolLauncherUnsupportedError,
  PoolQueueFullError,
  PoolRestartBudgetError,
  QueueClosedError,
  QueueItemError,
  TaskKilledError,
  TaskPreemptedError,
  type WorkerExitInfo,
} from './errors.js';
export {
  type FallbackOptions,
  type FallbackPolicy,
  type FallbackPolicyEvents,
  fallback,
} from './fallback.js';
export {
  createFeatureFlagGauge,
  FEATURE_FLAG_NAMES,
  FEATURE_FLAGS,
  type FeatureFlagGaugeOptions,
  type FeatureFlagInfo,
  type FeatureFlagName,
  type FeatureFlags,
  parseFeatureFlag,
} from './featureFlags.js';
export {
  createHealthHandler,
  type HealthHandler,
  type HealthHandlerOptions,
  type HealthReport,
} from './healthHandler.js';
export { type ConfigWarning, envVariableFor, LEGACY_ENV } from './legacyEnv.js';
export { createLevelLogger, type LevelLogger } from './levelLogger.js';
export {
  createMemoryGovernor,
  type GovernedMonitor,
  type GovernorAction,
  type GovernorMetrics,
  type GovernorStats,
  MemoryGovernor,
  type MemoryGovernorEvents,
  type MemoryGovernorOptions,
  type RunningTask,
  type RunningTasks,
} from './memoryGovernor.js';
export { type DetectMemoryLimitOptions, detectMemoryLimit, type MemoryLimit } from './memoryLimit.js';
export {
  createMemoryMonitor,
  type MemoryLevelChange,
  MemoryMonitor,
  type MemoryMonitorEvents,
  type MemoryMonitorOptions,
  type MemoryMonitorSettings,
  type MemoryThresholds,
} from './memoryMonitor.js';
export {
  BREAKER_STATE_VALUE,
  type BreakerMetricsSource,
  createMetrics,
  type GovernanceMetrics,
  type MetricsBinding,
  type MetricsOptions,
  type MetricsSources,
  type MonitorMetricsSource,
  type PolicyMetricsSource,
  type PoolMetricsSource,
  type QueueMetricsSource,
} from './metrics.js';
export type { GovernancePolicy, PolicyKind, PolicyStats } from './policy.js';
export {
  createPriorityQueue,
  type EnqueueResult,
  PriorityQueue,
  type PriorityQueueEvents,
  type PriorityQueueOptions,
  type QueueItem,
} from './priorityQueue.js';
export {
  type RetryBackoffOptions,
  type RetryEvent,
  type RetryGiveUp,
  type RetryOptions,
  type RetryPolicy,
  type RetryPolicyEvents,
  retry,
} from './retry.js';
export {
  type TimeoutOptions,
  type TimeoutPolicy,
  type TimeoutPolicyEvents,
  type TimeoutStrategy,
  timeout,
} from './timeout.js';
export {
  createWorkerPool,
  type RunOptions,
  type WorkerExit,
  type WorkerExitReason,
  WorkerPool,
  type WorkerPoolEvents,
  type WorkerPoolOptions,
  type WorkerPoolStats,
} from './workerPool.js';
export { type FallbackValueOf, type PolicyLike, type WrappedPolicy, wrap } from './wrap.js';
