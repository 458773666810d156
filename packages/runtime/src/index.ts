/**
 * `@ordo/runtime`: the ordo facade. Loads the config, builds governance, runs a feature plan (tasks in
 * levels) on launched workers, stages and commits each task's edits through a spool, records metrics and
 * state, resumes after a crash, and serves /metrics, /health and /status.
 * @packageDocumentation
 */
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
  TaskCancelledError,
  TaskFailedError,
  TaskTimeoutError,
  TraceInvalidError,
  WorkerCrashedError,
  WorkerProtocolError,
  WorkerStartError,
} from './errors.js';
export { type HostNodeMountsOptions, hostNodeMounts } from './hostNodeMounts.js';
export { loadPlan, type ParsePlanOptions, parsePlan, parsePlanText, resolvePlan } from './plan.js';
export { createRuntime, workerCommand } from './runtime.js';
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
  RunFeatureOptions,
  Runtime,
  RuntimeHttpOptions,
  RuntimeOptions,
  TaskOutcome,
} from './types.js';
