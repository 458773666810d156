import { join } from 'node:path';

/**
 * What a worker writes to `worker-<id>.json` in the heartbeat directory, as JSON.
 *
 * @example
 * ```json
 * { "workerId": "w1", "ts": 1763900000000, "taskId": "t-42", "progress": 0.5 }
 * ```
 */
export interface Heartbeat {
  /** The worker's id; must match the file name. */
  workerId: string;
  /** When the worker wrote it, epoch ms. */
  ts: number;
  /** The task the worker is running; absent while idle. */
  taskId?: string | undefined;
  /** How far the task has got, a number the worker chooses (commonly 0…1). */
  progress?: number | undefined;
}

/** The environment variable that tells a worker its id. Launchers set it. */
export const WORKER_ID_ENV = 'ORDO_WORKER_ID';
/** The environment variable that tells a worker where to write heartbeats. Launchers set it. */
export const HEARTBEAT_DIR_ENV = 'ORDO_HEARTBEAT_DIR';

/**
 * The heartbeat file of a worker: `<dir>/worker-<workerId>.json`.
 *
 * @example
 * ```ts
 * heartbeatPath('/var/run/ordo', 'w1'); // '/var/run/ordo/worker-w1.json'
 * ```
 */
export function heartbeatPath(dir: string, workerId: string): string {
  return join(dir, `worker-${workerId}.json`);
}
