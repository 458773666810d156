/**
 * `@ordo/contracts`: the shared vocabulary of ordo's packages. Types and interfaces, the error base, the
 * system clock and a no-op logger; no runtime dependencies.
 * @packageDocumentation
 */
export { type ChildAbort, childAbortController, untilAborted } from './abort.js';
export type { Breaker, BreakerContext, BreakerState } from './breaker.js';
export { type Clock, sleepOn, systemClock, type TimerHandle, type TimerOptions } from './clock.js';
export {
  type ChildMessage,
  ChunkAssembler,
  encodeMessage,
  encodeResult,
  IPC_PROTOCOL_VERSION,
  IpcEnv,
  type ParentMessage,
  type ParseResult,
  parseChildMessage,
  parseParentMessage,
  type WireError,
  type WireLogLevel,
} from './ipc.js';
export type { KeyedMutex } from './keyedMutex.js';
export type {
  Launcher,
  LauncherEvents,
  TerminateOptions,
  WorkerHandle,
  WorkerIo,
  WorkerSpec,
  WorkerStatusChange,
} from './launcher.js';
export { type LazyModuleOptions, lazyModule } from './lazyModule.js';
export { LineSplitter, type LineSplitterOptions } from './lineSplitter.js';
export { type LogFields, type LogFn, type Logger, noopLogger } from './logger.js';
export {
  MEMORY_LEVELS,
  type MemoryLevel,
  type MemoryPressure,
  type MemorySnapshot,
  type MemorySource,
  type MemoryUsage,
} from './memory.js';
export { isOrdoError, OrdoError, type OrdoErrorOptions, type SerializedError } from './ordoError.js';
export type { Policy, PolicyContext } from './policy.js';
export { processExists } from './processExists.js';
export { type GroupLeader, isChildGroupPid, signalProcessGroup } from './processGroup.js';
export type { RateLimitDecision, RateLimiter } from './rateLimiter.js';
export { syncDirectory } from './syncDirectory.js';
export {
  type RemoteError,
  TaskCancelledError,
  TaskDroppedError,
  TaskErrorCode,
  type TaskErrorOptions,
  TaskFailedError,
  TaskStalledError,
  TaskTimeoutError,
  WorkerCrashedError,
  WorkerOomError,
  WorkerStartError,
} from './taskErrors.js';
export {
  isTaskPriority,
  TASK_PRIORITIES,
  TaskPriority,
  type TaskPriorityName,
  taskPriorityName,
} from './taskPriority.js';
export {
  FEATURE_TASK_STATUSES,
  type FeatureTaskStatus,
  TASK_LIFECYCLE_STATUSES,
  TASK_RUN_STATUSES,
  type TaskLifecycleStatus,
  type TaskRunStatus,
} from './taskStatus.js';
export { isTerminalWorkerStatus, WorkerStatus } from './workerStatus.js';
