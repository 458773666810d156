import { isOrdoError, TaskCancelledError, TaskFailedError, TaskTimeoutError } from '@ordo/contracts';
import { SpoolError, SpoolErrorCode } from '@ordo/executor-spool';
import type { PlanTask } from '../types.js';

/** The stable code of whatever a task failed with (`TASK_FAILED` when it has none). */
export function errorCode(error: unknown): string {
  if (isOrdoError(error)) return error.code;
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : 'TASK_FAILED';
}

/** `TASK_CANCELLED` for a task stopped before it committed. */
export function cancelledError(taskId: string, cause?: unknown): TaskCancelledError {
  return new TaskCancelledError(
    `Task ${taskId} was cancelled before it committed. Run the feature again with resume: true to finish it.`,
    { cause, details: { taskId } },
  );
}

/** `SPOOL_CONFLICT`: the spool's own error, decided in commit order by the level's claims. */
export function conflictError(
  taskId: string,
  taken: ReadonlyArray<{ path: string; by: string }>,
): SpoolError {
  const list = taken.map((t) => `${t.path} (by ${t.by})`).join(', ');
  return new SpoolError(
    SpoolErrorCode.CONFLICT,
    `Task ${taskId} edits ${list}, already committed by an earlier task of the same level; nothing of ${taskId} was written. Make one task depend on the other, or give them disjoint files.`,
    {
      details: {
        taskId,
        path: taken[0]?.path,
        paths: taken.map((t) => t.path),
        committedBy: taken.map((t) => t.by),
      },
    },
  );
}

/** `TASK_FAILED` for a command that exited non-zero or was killed. */
export function exitError(
  task: PlanTask,
  exit: { exitCode: number | null; signal: string | null; stderrTail: string },
): TaskFailedError {
  const how = exit.exitCode === null ? `was killed by ${exit.signal}` : `exited with code ${exit.exitCode}`;
  const tail = exit.stderrTail.trimEnd();
  // The hint comes first and the stderr tail last, quoted: on one line (a CI log) neither runs into the other.
  return new TaskFailedError(
    `Task ${task.id}: its command ${how}. Fix the command (run it in a copy of its files to reproduce) and resume the feature.${tail ? `\nLast stderr: ${JSON.stringify(tail)}` : ''}`,
    {
      details: { taskId: task.id, exitCode: exit.exitCode, signal: exit.signal, stderrTail: exit.stderrTail },
    },
  );
}

/** `TASK_TIMEOUT` for a task that ran on its worker past its `timeoutMs`. */
export function timeoutError(task: PlanTask): TaskTimeoutError {
  return new TaskTimeoutError(
    `Task ${task.id} ran past its timeoutMs (${task.timeoutMs} ms) and was cancelled. Raise timeoutMs in the plan, or make the task faster.`,
    { details: { taskId: task.id, timeoutMs: task.timeoutMs } },
  );
}
