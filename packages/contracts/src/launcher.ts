import type { WorkerStatus } from './workerStatus.js';

/** What to start a worker with. Each launcher documents which fields it honours. */
export interface WorkerSpec {
  /** Extra environment variables for the worker. */
  env?: Readonly<Record<string, string>> | undefined;
  /** Arguments appended to the launcher's command. */
  args?: readonly string[] | undefined;
  /** Extra labels (containers) or tags (processes) that identify the worker. */
  labels?: Readonly<Record<string, string>> | undefined;
}

/**
 * A line channel to a worker: protocol v1 messages go in on its stdin and come out of its stdout, one JSON
 * object per line.
 */
export interface WorkerIo {
  /** Writes one line to the worker's stdin (a newline is appended). */
  send(line: string): Promise<void>;
  /** The lines the worker prints on stdout, in order; ends when the worker's stdout closes. */
  lines(): AsyncIterable<string>;
}

/** A started worker and what is known about it. */
export interface WorkerHandle {
  readonly workerId: string;
  /** The status as last observed. */
  readonly status: WorkerStatus;
  /** When the worker was started (epoch ms). */
  readonly startedAt: number;
  /** When the worker was first seen ready, if it has been. */
  readonly readyAt: number | undefined;
  /** The exit code once it has exited (`undefined` while alive or when killed by a signal). */
  readonly exitCode: number | undefined;
  /** When its health was last checked (epoch ms), if ever. */
  readonly healthCheckAt: number | undefined;
  /** The worker's stdin/stdout channel, where the launcher provides one. */
  readonly io?: WorkerIo | undefined;
  /** Why the status last changed (e.g. `exit code 3; last output: "boom"`), where the launcher says. */
  readonly reason?: string | undefined;
  /** The worker's last stderr or log lines, where the launcher keeps them (for crash and OOM reports). */
  readonly logTail?: readonly string[] | undefined;
}

/** A change of a worker's status, as emitted by a launcher's `status` event. */
export interface WorkerStatusChange {
  workerId: string;
  from: WorkerStatus;
  to: WorkerStatus;
  /** Why it changed, e.g. `exit code 137`, `heartbeat stale for 121s`, `event: die`. */
  reason: string;
}

/** The events every launcher emits. */
export interface LauncherEvents {
  /** A worker's status changed. */
  status: [change: WorkerStatusChange];
}

/** Options for {@link Launcher.terminate}. */
export interface TerminateOptions {
  /**
   * How long to wait after the polite stop (SIGTERM / `docker stop`) before killing.
   * @default 5000
   */
  graceMs?: number | undefined;
}

/**
 * Starts, watches and stops workers, whether child processes or containers. The runtime asks for this
 * interface; `@ordo/launcher` implements it as `SubprocessLauncher` and `ContainerLauncher`.
 */
export interface Launcher {
  /** Starts a worker under `workerId` (unique per launcher). */
  spawn(workerId: string, spec?: WorkerSpec, signal?: AbortSignal): Promise<WorkerHandle>;
  /** The worker's status, possibly from a cache (see each launcher's cooldown). */
  monitor(workerId: string, signal?: AbortSignal): Promise<WorkerStatus>;
  /** Refreshes and returns the status of every worker of this launcher. */
  syncState(signal?: AbortSignal): Promise<ReadonlyMap<string, WorkerStatus>>;
  /** Stops one worker: politely, then by force after `graceMs`. */
  terminate(workerId: string, options?: TerminateOptions): Promise<void>;
  /** Stops every worker this launcher started. */
  terminateAll(options?: TerminateOptions): Promise<void>;
  /** The handle of a worker this launcher started, if it knows it. */
  handle(workerId: string): WorkerHandle | undefined;
  /** Subscribes to an event. */
  on<E extends keyof LauncherEvents>(event: E, listener: (...args: LauncherEvents[E]) => void): unknown;
  /** Unsubscribes from an event. */
  off<E extends keyof LauncherEvents>(event: E, listener: (...args: LauncherEvents[E]) => void): unknown;
  /** Terminates every worker and releases the launcher's resources. */
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}
