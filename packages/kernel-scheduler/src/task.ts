import type { Logger, TaskRunStatus } from '@ordo/contracts';
import type { CancelReason } from './errors.js';
import type { GraphNode } from './planLevels.js';
import type { Trace } from './trace.js';

/**
 * What a running task receives. `signal` and `logger` are getters, made on first read: spreading the
 * context (`{ ...ctx }`) copies only `id`, `runId` and `attempt`, so pass `ctx` on whole or pick what you
 * need (`{ ...ctx, signal: ctx.signal }`).
 */
export interface TaskContext {
  /**
   * Aborts when the task times out (reason: a `TASK_TIMEOUT` error), when fail-fast stops the run, when
   * the caller's signal aborts or when the scheduler closes (reason: a `TASK_CANCELLED` error). Pass it
   * to everything the task waits on.
   */
  readonly signal: AbortSignal;
  /** The scheduler's logger with `runId` and `taskId` bound. */
  readonly logger: Logger;
  /** 1 on the first run; the scheduler never retries by itself, retry wrappers count up from here. */
  readonly attempt: number;
  /** The run this task belongs to. */
  readonly runId: string;
  /** The task's id. */
  readonly id: string;
}

/**
 * A unit of work for the scheduler.
 *
 * @example
 * ```ts
 * const task: Task<number> = {
 *   id: 'fetch-users',
 *   priority: TaskPriority.HIGH,
 *   timeoutMs: 5_000,
 *   run: async ({ signal }) => (await fetch(url, { signal })).status,
 * };
 * ```
 */
export interface Task<T = unknown> {
  /** Unique within a run; it decides the order together with the priority and the seed. */
  readonly id: string;
  /**
   * Lower runs and commits first (a `TaskPriority`: CRITICAL 0 … HEARTBEAT 4).
   * @default TaskPriority.NORMAL
   */
  readonly priority?: number | undefined;
  /**
   * Milliseconds before the task is recorded `timed_out` and its signal aborts.
   * @default the scheduler's `taskTimeoutMs` (none)
   */
  readonly timeoutMs?: number | undefined;
  /** Does the work. Its return value (or thrown error) becomes the task's record. */
  run(context: TaskContext): T | PromiseLike<T>;
  /**
   * The task's ordered, awaited commit stage. Called with what `run` returned once the task is next in commit
   * order and every earlier task has committed; one commit runs at a time, in the deterministic order,
   * whatever the concurrency. The record commits (trace entry, `onCommit`, dependents released) only when it
   * returns: its return value becomes the record's value, and is what the trace digests (so `run` may return
   * something JSON cannot express, such as a handle to staged work); a throw records the task `failed` with
   * that error. Not called for a task that failed, timed out or was cancelled. A stop (abort, `close()`,
   * fail-fast) while a commit runs waits for it: that task keeps its real outcome, later ones are cancelled.
   *
   * When to use: side effects that must happen in commit order, e.g. writing staged edits to disk.
   * Gotchas: the commit gets no timeout; keep it short, a slow commit holds back every later one. Its
   * `context.signal` aborts when the run stops: pass it to what the commit waits on; a commit that rejects
   * with `signal.reason` is recorded `cancelled` (`TASK_CANCELLED`), any other outcome stands.
   * @default none (the record commits as `run` left it)
   */
  commit?(value: T, context: CommitContext): T | PromiseLike<T>;
}

/** What a task's {@link Task.commit} stage receives. */
export interface CommitContext {
  /** The run this task belongs to. */
  readonly runId: string;
  /** The task's id. */
  readonly id: string;
  /** The task's position in commit order, from 0. */
  readonly seq: number;
  /**
   * Aborts (with the stop's error as its reason) when the run stops while this commit runs: the caller's
   * signal, or `close()`. Rejecting with `signal.reason` records the task `cancelled`.
   */
  readonly signal: AbortSignal;
}

/** A task in a graph: a {@link Task} with the ids it depends on. */
export interface GraphTask<T = unknown> extends Task<T>, GraphNode {
  /** Ids of tasks that must commit `ok` before this one starts; otherwise it is recorded `cancelled`. @default [] */
  readonly deps?: readonly string[] | undefined;
  /**
   * Ordering constraints: ids of tasks that must have committed, whatever their status, before this one starts.
   * They do not change the levels, the commit order or the records (only when the task starts), and a failed
   * one does not cancel this task. Each must come earlier in commit order (an earlier level, or earlier in
   * the same level), or `scheduleGraph` rejects with `SCHEDULER_INVALID_TASK`.
   *
   * When to use: two tasks that touch a shared resource (e.g. the same files) where the later one must see
   * what the earlier one committed, without depending on its success.
   * @default []
   */
  readonly after?: readonly string[] | undefined;
}

/** What happened to one task, as committed. */
export interface TaskRecord<T = unknown> {
  readonly runId: string;
  /** Position in commit order, from 0. */
  readonly seq: number;
  readonly id: string;
  readonly status: TaskRunStatus;
  /** The task's return value when `status` is `ok`. */
  readonly value?: T | undefined;
  /** What the task threw (`failed`), a `TASK_TIMEOUT` error (`timed_out`) or a `TASK_CANCELLED` error (`cancelled`), both classes of `@ordo/contracts`. */
  readonly error?: unknown;
  /** When the task started (clock ms); `undefined` if it never started. */
  readonly startedAt: number | undefined;
  /** When it settled (clock ms); `undefined` if it never started. */
  readonly endedAt: number | undefined;
}

/** How many records of each status a run has. */
export type StatusCounts = Record<TaskRunStatus, number>;

/**
 * The result of one `schedule` or `scheduleGraph` call. `Tr` is `Trace` for a scheduler with the trace on
 * (the default) and `undefined` for one made with `trace: false`.
 */
export interface Run<T = unknown, Tr extends Trace | undefined = Trace> {
  readonly runId: string;
  readonly seed: string;
  /** One record per task, in commit order. */
  readonly records: readonly TaskRecord<T>[];
  /**
   * The hash-chained evidence of the run; store it with `JSON.stringify`. `undefined` when the scheduler was
   * made with `trace: false`.
   */
  readonly trace: Tr;
  readonly counts: StatusCounts;
  /** Whether every task is `ok`. */
  readonly ok: boolean;
  /** Set when the run was stopped early: by the caller's signal (`aborted`) or by `close()` (`closed`). */
  readonly stopped: Extract<CancelReason, 'aborted' | 'closed'> | undefined;
  readonly startedAt: number;
  readonly endedAt: number;
}
