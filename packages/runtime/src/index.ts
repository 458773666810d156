/**
 * `@ordo/runtime`: the ordo facade. Loads the config, builds governance, runs a feature plan (tasks in
 * levels) on launched workers, stages and commits each task's edits through a spool, records metrics and
 * state, resumes after a crash, and serves /metrics, /health and /status.
 * @packageDocumentation
 */

// The task errors are the shared ones of @ordo/contracts (one class per code), re-exported for hosts.
export {
  TaskCancelledError,
  TaskFailedError,
  TaskStalledError,
  TaskTimeoutError,
  WorkerCrashedError,
  WorkerOomError,
  WorkerStartError,
} from '@ordo/contracts';
export {
  LauncherUnsupportedError,
  PlanInvalidError,
  type PlanIssue,
  PlanUnreadableError,
  ResumeMismatchError,
  ResumeWorkspaceChangedError,
  RuntimeBusyError,
  RuntimeClosedError,
  RuntimeErrorCode,
  type RuntimeErrorOptions,
  RuntimeOptionsError,
  TraceInvalidError,
  WorkerProtocolError,
} from './errors.js';
export { type HostNodeMountsOptions, hostNodeMounts } from './hostNodeMounts.js';
export { createRuntime } from './lazyRuntime.js';
export { loadPlan, type ParsePlanOptions, parsePlan, parsePlanText, resolvePlan } from './plan.js';
export type {
  DeepPartial,
  DockerWorkerOptions,
  FeatureDivergence,
  FeatureEvent,
  FeatureResult,
  FeatureStatus,
  LauncherChoice,
  Plan,
  PlanInput,
  PlanSource,
  PlanTask,
  PlanTaskInput,
  RemoteWorkersOptions,
  RunFeatureOptions,
  Runtime,
  RuntimeHttpOptions,
  RuntimeOptions,
  RuntimeTelemetryOptions,
  TaskOutcome,
  TelemetryTracer,
  WorkerEndpointInfo,
  WorkersOptions,
} from './types.js';
export { workerCommand } from './workerCommand.js';
