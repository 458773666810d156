/**
 * `@ordo/kernel-scheduler`: a deterministic async pool. Tasks run with bounded concurrency and their results
 * commit in an order fixed by priority and seed; task graphs run in levels; every run leaves a hash-chained
 * trace that can be verified and replayed; a bounded history keeps the last runs; a hook pipeline wraps
 * tasks with cached pre and post hooks.
 * @packageDocumentation
 */
export { canonicalJson, type UnserializableReason } from './canonicalJson.js';
export { type CancelReason, SchedulerError, SchedulerErrorCode } from './errors.js';
export {
  createHookPipeline,
  type Hook,
  type HookContext,
  type HookDefinition,
  type HookOutcome,
  type HookPhase,
  HookPipeline,
  type HookPipelineOptions,
  type HookVerdict,
} from './hookPipeline.js';
export { type GraphNode, planLevels } from './planLevels.js';
export { type Orderable, planOrder, seededHash } from './planOrder.js';
export { type Divergence, type ReplayOptions, type ReplayResult, replay } from './replay.js';
export { RunHistory, type RunSummary } from './runHistory.js';
export {
  createScheduler,
  type ScheduledEvent,
  type ScheduleGraphOptions,
  type ScheduleOptions,
  Scheduler,
  type SchedulerEvents,
  type SchedulerOptions,
  type StartEvent,
} from './scheduler.js';
export type { CommitContext, GraphTask, Run, StatusCounts, Task, TaskContext, TaskRecord } from './task.js';
export {
  chainDigest,
  entryJson,
  genesisDigest,
  resultDigest,
  type TaskStatus,
  TRACE_VERSION,
  type Trace,
  type TraceEntry,
  type TraceOptions,
  type TraceV1,
  type TraceV2,
  type TraceVerification,
  verifyTrace,
} from './trace.js';
