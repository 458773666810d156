import {
  type RemoteError,
  TaskCancelledError,
  TaskDroppedError,
  TaskFailedError,
  TaskStalledError,
  TaskTimeoutError,
  WorkerCrashedError,
  WorkerOomError,
  WorkerStartError,
} from '@ordo/contracts';
import type { WorkerExitInfo } from '../errors.js';

/** `TASK_FAILED`: the handler threw in the worker; `remote` is the error as it crossed the wire. */
export function taskFailed(taskId: string, workerId: string, remote: RemoteError): TaskFailedError {
  return new TaskFailedError(
    `Task ${taskId} failed in its worker ${workerId}: ${remote.name}: ${remote.message}`,
    {
      remote,
      details: { taskId, workerId, remoteName: remote.name, remoteCode: remote.code },
    },
  );
}

/** `TASK_CANCELLED`: the caller's signal aborted the task; `cause` is its reason. */
export function taskCancelled(taskId: string, cause?: unknown): TaskCancelledError {
  return new TaskCancelledError(`Task ${taskId} was cancelled by its caller; its worker was told to stop.`, {
    cause,
    details: { taskId },
  });
}

/** `TASK_TIMEOUT`: the task ran longer than its time limit. */
export function taskTimedOut(taskId: string, timeoutMs: number): TaskTimeoutError {
  return new TaskTimeoutError(
    `Task ${taskId} ran longer than its time limit (${timeoutMs} ms) and was cancelled. Raise taskTimeoutMs (or the run's timeoutMs) if such tasks are expected to be slow.`,
    { details: { taskId, timeoutMs } },
  );
}

/** `TASK_STALLED`: the task's worker sent nothing for `silentMs`, past `stallTimeoutMs`. */
export function taskStalled(
  taskId: string,
  workerId: string,
  stallTimeoutMs: number,
  silentMs: number,
): TaskStalledError {
  return new TaskStalledError(
    `Task ${taskId} stalled its worker ${workerId}: no heartbeat for ${silentMs} ms (the limit is stallTimeoutMs, ${stallTimeoutMs} ms), so the worker was killed and replaced. A task that blocks the event loop (a busy loop, long synchronous work) stalls its worker: make it yield, or raise stallTimeoutMs.`,
    { details: { taskId, workerId, stallTimeoutMs, silentMs } },
  );
}

/** `TASK_DROPPED`: a queued task was dropped before it ran. */
export function taskDropped(taskId: string, reason: 'evicted' | 'skipped' | 'removed'): TaskDroppedError {
  const why = {
    evicted: 'was evicted from the full queue by a higher-priority task',
    skipped: 'was skipped because memory is high (heartbeats are dropped first)',
    removed: 'was removed from the queue',
  }[reason];
  return new TaskDroppedError(`Task ${taskId} ${why}; it never ran. Submit it again later.`, {
    details: { taskId, reason },
  });
}

/** `WORKER_OOM`: the task ran its worker out of heap. */
export function workerOom(taskId: string, heapMB: number, exit: WorkerExitInfo): WorkerOomError {
  return new WorkerOomError(
    `Task ${taskId} ran its worker out of heap (--max-old-space-size=${heapMB}); the worker was replaced. Lower the task's memory use or raise heapMB.`,
    { details: { taskId, heapMB, ...exit } },
  );
}

/** `WORKER_CRASHED`: a worker exited while running a task (`what` says which), or unexpectedly. */
export function workerCrashed(what: string, exit: WorkerExitInfo, cause?: unknown): WorkerCrashedError {
  const how = exit.reason ?? (exit.signal ? `signal ${exit.signal}` : `exit code ${exit.code}`);
  return new WorkerCrashedError(
    `${what}: worker ${exit.workerId}${exit.pid === undefined ? '' : ` (pid ${exit.pid})`} ended (${how}); it is replaced. Check its stderr (in details) for the cause; pass retries to run() to retry such tasks.`,
    { cause, details: { ...exit } },
  );
}

/** `WORKER_START_FAILED`: no worker could be started. */
export function workerStartFailed(detail: string, cause?: unknown): WorkerStartError {
  return new WorkerStartError(
    `No worker could start: ${detail}. Check that the worker command runs serveWorker (for the runtime: @ordo/runtime/worker) and that its launcher works.`,
    { cause },
  );
}
