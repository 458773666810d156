/**
 * The life cycle of a worker (a child process or a container), as a launcher reports it.
 *
 * `INITIALIZING → READY → RUNNING ⇄ IDLE → STOPPING → STOPPED`, with `STALLED` (alive but its heartbeat is
 * stale) and `CRASHED` (exited on its own with a failure) reachable from any live state.
 */
export const WorkerStatus = {
  /** Started, not yet ready for work. */
  INITIALIZING: 'initializing',
  /** Ready and has not run a task yet. */
  READY: 'ready',
  /** Running a task. */
  RUNNING: 'running',
  /** Alive and waiting for the next task. */
  IDLE: 'idle',
  /** Alive, but its heartbeat is older than the launcher's stale limit. */
  STALLED: 'stalled',
  /** Exited on its own with a non-zero code, a signal or an out-of-memory kill. */
  CRASHED: 'crashed',
  /** Asked to stop; waiting for it to exit. */
  STOPPING: 'stopping',
  /** Stopped on request. */
  STOPPED: 'stopped',
} as const;

/** One of the eight {@link WorkerStatus} values. */
export type WorkerStatus = (typeof WorkerStatus)[keyof typeof WorkerStatus];

const TERMINAL: ReadonlySet<WorkerStatus> = new Set([WorkerStatus.CRASHED, WorkerStatus.STOPPED]);

/** Whether a worker in this status is gone for good (CRASHED or STOPPED). */
export function isTerminalWorkerStatus(status: WorkerStatus): boolean {
  return TERMINAL.has(status);
}
