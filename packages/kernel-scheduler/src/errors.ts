import { OrdoError, type OrdoErrorOptions } from '@ordo/contracts';

/**
 * Every code the scheduler and the hook pipeline throw or record. Branch on these, never on messages.
 *
 * @example
 * ```ts
 * import { isOrdoError } from '@ordo/contracts';
 * import { SchedulerErrorCode } from '@ordo/kernel-scheduler';
 * if (isOrdoError(error, SchedulerErrorCode.CYCLE)) console.log(error.details?.cycle);
 * ```
 */
export const SchedulerErrorCode = {
  /** Two tasks (or two hooks) share an id; thrown before anything runs. `details.id` names it. */
  DUPLICATE_ID: 'SCHEDULER_DUPLICATE_ID',
  /** The task graph has a cycle; `details.cycle` lists the ids on it, in dependency order. */
  CYCLE: 'SCHEDULER_CYCLE',
  /** A task depends on an id that is not in the graph; `details.id` and `details.dependency` name both. */
  UNKNOWN_DEP: 'SCHEDULER_UNKNOWN_DEP',
  /** A task is malformed (no id, no `run` function, a bad priority or timeout); thrown before anything runs. */
  INVALID_TASK: 'SCHEDULER_INVALID_TASK',
  /** An option is out of range (concurrency, timeouts, history size, hook settings). */
  INVALID_OPTIONS: 'SCHEDULER_INVALID_OPTIONS',
  /**
   * The error of a `timed_out` record: contracts' `TaskTimeoutError`, code `TASK_TIMEOUT` (`details.id`,
   * `details.timeoutMs`).
   * @deprecated Use `TaskErrorCode.TASK_TIMEOUT` from `@ordo/contracts`: one code for a timed-out task in every package.
   */
  TIMEOUT: 'TASK_TIMEOUT',
  /**
   * The error of a `cancelled` record: contracts' `TaskCancelledError`, code `TASK_CANCELLED`.
   * `details.reason` says why: `fail-fast` (an earlier task failed), `dependency` (`details.dependency`
   * did not succeed), `aborted` (the caller's signal) or `closed` (the scheduler was closed).
   * @deprecated Use `TaskErrorCode.TASK_CANCELLED` from `@ordo/contracts`: one code for a cancelled task in every package.
   */
  CANCELLED: 'TASK_CANCELLED',
  /** The scheduler was closed; `schedule` rejects with this and in-flight runs end with it. */
  CLOSED: 'SCHEDULER_CLOSED',
  /** A trace given to `replay` does not verify (`details` carries the {@link TraceVerification}). */
  TRACE_INVALID: 'SCHEDULER_TRACE_INVALID',
  /**
   * A value RFC 8785 JSON cannot express (a BigInt, NaN or ±Infinity, a cycle, a lone surrogate, a throwing
   * `toJSON` or getter). Thrown by `canonicalJson`; recorded as the error of a task whose result the trace
   * cannot digest (the task is then `failed`). `details.path` (`$.a[2]`) and `details.reason` say where and what.
   */
  UNSERIALIZABLE: 'SCHEDULER_UNSERIALIZABLE',
  /** A pre hook denied the task; the task did not run. `details.hook` and `details.reason` say which and why. */
  HOOK_DENIED: 'HOOK_DENIED',
  /** A hook's `create()` failed; the task did not run and the next use tries `create()` again. */
  HOOK_INIT_FAILED: 'HOOK_INIT_FAILED',
} as const;

/** One of the {@link SchedulerErrorCode} values. */
export type SchedulerErrorCode = (typeof SchedulerErrorCode)[keyof typeof SchedulerErrorCode];

/**
 * The error class of `@ordo/kernel-scheduler`: an {@link OrdoError} whose `code` is one of
 * {@link SchedulerErrorCode}.
 *
 * @example
 * ```ts
 * const invalid = run.records.find((r) => r.error instanceof SchedulerError && r.error.code === 'SCHEDULER_UNSERIALIZABLE');
 * ```
 */
export class SchedulerError<C extends SchedulerErrorCode = SchedulerErrorCode> extends OrdoError {
  declare readonly code: C;

  constructor(code: C, message: string, options: Omit<OrdoErrorOptions, 'code'> = {}) {
    super(message, { ...options, code });
  }
}

/** Why a task was recorded `cancelled`. */
export type CancelReason = 'fail-fast' | 'dependency' | 'aborted' | 'closed';
