import { OrdoError, type OrdoErrorOptions } from './ordoError.js';

/**
 * The codes a task (or the worker running it) fails with, in every package: the worker pool, the runtime
 * and its CLI record the same code for the same outcome. Branch on them (`isOrdoError(e, 'TASK_STALLED')`),
 * never on message text.
 */
export const TaskErrorCode = {
  /** The task itself failed: its handler threw, or its command exited non-zero. */
  TASK_FAILED: 'TASK_FAILED',
  /** The task ran longer than its time limit and was cancelled. */
  TASK_TIMEOUT: 'TASK_TIMEOUT',
  /** The task was cancelled (its caller's signal, or its host closing) before it finished. */
  TASK_CANCELLED: 'TASK_CANCELLED',
  /**
   * The task's worker sent no heartbeat for longer than the stall limit (its event loop was blocked, or it
   * hung): the task failed and the worker (its whole process group or container) was killed and replaced.
   */
  TASK_STALLED: 'TASK_STALLED',
  /** A queued task was dropped before it ran (evicted by a higher priority, skipped under memory pressure, removed). */
  TASK_DROPPED: 'TASK_DROPPED',
  /** The task's worker ran out of heap and died; it was replaced. */
  WORKER_OOM: 'WORKER_OOM',
  /** The task's worker exited or was killed while it ran the task; it was replaced. */
  WORKER_CRASHED: 'WORKER_CRASHED',
  /** No worker could be started, or none announced protocol v1 in time. */
  WORKER_START_FAILED: 'WORKER_START_FAILED',
} as const;

/** One of the {@link TaskErrorCode} values. */
export type TaskErrorCode = (typeof TaskErrorCode)[keyof typeof TaskErrorCode];

/** Options of the task errors: {@link OrdoErrorOptions} without `code`, which each class fixes. */
export type TaskErrorOptions = Omit<OrdoErrorOptions, 'code'>;

/** A failure as it crossed the IPC wire from the worker (the FAILED message's `error`). */
export interface RemoteError {
  name: string;
  message: string;
  stack?: string | undefined;
  code?: string | undefined;
}

/**
 * `TASK_FAILED`: the task itself failed. `remote` is the worker-side error when the task threw in a worker
 * (its name, message, stack and code as they crossed the wire).
 */
export class TaskFailedError extends OrdoError {
  override readonly code = TaskErrorCode.TASK_FAILED;
  /** The worker-side error, when the task threw in a worker. */
  readonly remote: RemoteError | undefined;
  constructor(message: string, options: TaskErrorOptions & { remote?: RemoteError | undefined } = {}) {
    const { remote, ...rest } = options;
    super(message, rest);
    this.remote = remote;
  }
}

/** `TASK_TIMEOUT`: the task ran past its time limit (`details.timeoutMs`) and was cancelled. */
export class TaskTimeoutError extends OrdoError {
  override readonly code = TaskErrorCode.TASK_TIMEOUT;
  constructor(message: string, options: TaskErrorOptions = {}) {
    super(message, options);
  }
}

/** `TASK_CANCELLED`: the task was cancelled; `cause` is the abort reason when there is one. */
export class TaskCancelledError extends OrdoError {
  override readonly code = TaskErrorCode.TASK_CANCELLED;
  constructor(message: string, options: TaskErrorOptions = {}) {
    super(message, options);
  }
}

/** `TASK_STALLED`: the task's worker stopped sending heartbeats (`details.stallTimeoutMs`, `details.workerId`). */
export class TaskStalledError extends OrdoError {
  override readonly code = TaskErrorCode.TASK_STALLED;
  constructor(message: string, options: TaskErrorOptions = {}) {
    super(message, options);
  }
}

/** `TASK_DROPPED`: a queued task was dropped before it ran (`details.reason`). */
export class TaskDroppedError extends OrdoError {
  override readonly code = TaskErrorCode.TASK_DROPPED;
  constructor(message: string, options: TaskErrorOptions = {}) {
    super(message, options);
  }
}

/** `WORKER_OOM`: the task's worker ran out of heap (`details.heapMB`) and died; it was replaced. */
export class WorkerOomError extends OrdoError {
  override readonly code = TaskErrorCode.WORKER_OOM;
  constructor(message: string, options: TaskErrorOptions = {}) {
    super(message, options);
  }
}

/** `WORKER_CRASHED`: the task's worker died while it ran the task (`details.workerId`, exit code or signal). */
export class WorkerCrashedError extends OrdoError {
  override readonly code = TaskErrorCode.WORKER_CRASHED;
  constructor(message: string, options: TaskErrorOptions = {}) {
    super(message, options);
  }
}

/** `WORKER_START_FAILED`: no worker could start, or none announced protocol v1 in time. */
export class WorkerStartError extends OrdoError {
  override readonly code = TaskErrorCode.WORKER_START_FAILED;
  constructor(message: string, options: TaskErrorOptions = {}) {
    super(message, options);
  }
}
