import { OrdoError, type OrdoErrorOptions } from '@ordo/contracts';

/**
 * The stable codes of the errors `@ordo/launcher` throws. Branch on them with
 * `isOrdoError(error, LauncherErrorCode.IMAGE_NOT_FOUND)`, never on message text.
 */
export const LauncherErrorCode = {
  /** The Docker engine cannot be reached (socket missing, connection refused, TLS failure). */
  ENGINE_UNAVAILABLE: 'LAUNCHER_ENGINE_UNAVAILABLE',
  /** The image to start a container from is not present on the engine. */
  IMAGE_NOT_FOUND: 'LAUNCHER_IMAGE_NOT_FOUND',
  /** The engine answered a request with an error status. `details.status` holds it. */
  ENGINE_ERROR: 'LAUNCHER_ENGINE_ERROR',
  /** A worker process could not be started (command not found, not executable, bad cwd). */
  SPAWN_FAILED: 'LAUNCHER_SPAWN_FAILED',
  /** The worker id is not known to this launcher. */
  UNKNOWN_WORKER: 'LAUNCHER_UNKNOWN_WORKER',
  /** A worker with this id was already spawned by this launcher. */
  DUPLICATE_WORKER: 'LAUNCHER_DUPLICATE_WORKER',
  /** An option or argument is invalid. */
  INVALID_OPTIONS: 'LAUNCHER_INVALID_OPTIONS',
  /** The launcher was closed. */
  CLOSED: 'LAUNCHER_CLOSED',
  /** A worker's line channel (`handle.io`) is closed: the worker exited, or was terminated. */
  IO_CLOSED: 'LAUNCHER_IO_CLOSED',
  /** A container's attach stream is not the engine's multiplexed stdout/stderr framing. */
  IO_STREAM_CORRUPT: 'LAUNCHER_IO_STREAM_CORRUPT',
  /** A `SwarmLauncher`'s engine is not a Swarm manager (not in swarm mode, or only a worker node). */
  SWARM_NOT_ACTIVE: 'LAUNCHER_SWARM_NOT_ACTIVE',
} as const;

/** One of the {@link LauncherErrorCode} values. */
export type LauncherErrorCode = (typeof LauncherErrorCode)[keyof typeof LauncherErrorCode];

/** Options for the launcher errors: the {@link OrdoErrorOptions} without `code`, which each class fixes. */
export type LauncherErrorOptions = Omit<OrdoErrorOptions, 'code'>;

/**
 * The Docker engine cannot be reached. The message names the socket or URL and how to start an engine.
 *
 * @example
 * ```ts
 * try { await launcher.spawn('w1'); } catch (e) {
 *   if (isOrdoError(e, 'LAUNCHER_ENGINE_UNAVAILABLE')) log.error(e.details, e.message);
 * }
 * ```
 */
export class EngineUnavailableError extends OrdoError {
  override readonly code = LauncherErrorCode.ENGINE_UNAVAILABLE;
  constructor(message: string, options: LauncherErrorOptions = {}) {
    super(message, options);
  }
}

/** The image is not on the engine: pull or build it first (`docker pull <image>`). */
export class ImageNotFoundError extends OrdoError {
  override readonly code = LauncherErrorCode.IMAGE_NOT_FOUND;
  constructor(message: string, options: LauncherErrorOptions = {}) {
    super(message, options);
  }
}

/** The engine answered with an error status; `details` holds `status`, `endpoint` and the engine's message. */
export class EngineRequestError extends OrdoError {
  override readonly code = LauncherErrorCode.ENGINE_ERROR;
  constructor(message: string, options: LauncherErrorOptions = {}) {
    super(message, options);
  }
}

/** A worker process could not be started; the cause is Node's spawn error. */
export class SpawnFailedError extends OrdoError {
  override readonly code = LauncherErrorCode.SPAWN_FAILED;
  constructor(message: string, options: LauncherErrorOptions = {}) {
    super(message, options);
  }
}

/** The worker id is not known to this launcher: spawn it first. */
export class UnknownWorkerError extends OrdoError {
  override readonly code = LauncherErrorCode.UNKNOWN_WORKER;
  constructor(workerId: string) {
    super(`No worker "${workerId}" was spawned by this launcher. Spawn it first or check the id.`, {
      details: { workerId },
    });
  }
}

/** A worker with this id already exists in this launcher: pick another id or terminate the first. */
export class DuplicateWorkerError extends OrdoError {
  override readonly code = LauncherErrorCode.DUPLICATE_WORKER;
  constructor(workerId: string) {
    super(
      `Worker "${workerId}" was already spawned by this launcher. Use another id, or terminate it first.`,
      { details: { workerId } },
    );
  }
}

/** An option or argument is invalid; the message names it and what is accepted. */
export class InvalidOptionsError extends OrdoError {
  override readonly code = LauncherErrorCode.INVALID_OPTIONS;
  constructor(message: string, options: LauncherErrorOptions = {}) {
    super(message, options);
  }
}

/** The launcher was closed: create a new one. */
export class LauncherClosedError extends OrdoError {
  override readonly code = LauncherErrorCode.CLOSED;
  constructor() {
    super('This launcher is closed. Create a new launcher to start workers again.');
  }
}

/**
 * `send()` on a worker's line channel after it closed: the worker exited (its container stopped) or was
 * terminated, or the launcher was closed. `details.workerId` names it; check the worker's status and
 * `reason`, and spawn a new worker to go on.
 */
export class WorkerIoClosedError extends OrdoError {
  override readonly code = LauncherErrorCode.IO_CLOSED;
  constructor(workerId: string, options: LauncherErrorOptions = {}) {
    super(
      `The line channel of worker "${workerId}" is closed (the worker exited or was terminated). Check its status and reason; spawn a new worker to go on.`,
      { ...options, details: { workerId, ...options.details } },
    );
  }
}

/**
 * A container's attach stream broke the engine's framing (8-byte headers before each stdout/stderr
 * payload), so its output cannot be read any further; `lines()` throws this after the lines read before.
 * It happens when the container runs with a TTY or something other than the engine answered.
 */
export class WorkerIoStreamError extends OrdoError {
  override readonly code = LauncherErrorCode.IO_STREAM_CORRUPT;
  constructor(workerId: string, options: LauncherErrorOptions = {}) {
    super(
      `The attach stream of worker "${workerId}" is not the Docker engine's stdout/stderr framing, so its output cannot be read. Make sure the container runs without a TTY and DOCKER_HOST points at a Docker engine, not a proxy that rewrites the stream.`,
      { ...options, details: { workerId, ...options.details } },
    );
  }
}

/**
 * The engine a `SwarmLauncher` talks to is not a Swarm manager: swarm mode is off, or the node is only a
 * worker. `details.engine` names it and `details.engineMessage` holds what the engine said. Run
 * `docker swarm init` on it (or point `DOCKER_HOST` at a manager of the swarm).
 */
export class SwarmNotActiveError extends OrdoError {
  override readonly code = LauncherErrorCode.SWARM_NOT_ACTIVE;
  constructor(engine: string, options: LauncherErrorOptions = {}) {
    super(
      `The Docker engine at ${engine} is not a Swarm manager, so it cannot run services. Run \`docker swarm init\` on it (a single-node swarm is enough; add --advertise-addr 127.0.0.1 on a machine without a routable address), or point the launcher at a manager of an existing swarm.`,
      { ...options, details: { engine, ...options.details } },
    );
  }
}

// ── State and metrics ──
// ── State and metrics ────────────────────────────────────────────────────────────────────────────

/**
 * The codes of the state-file and metrics errors. Branch on these, never on message text.
 *
 * @example
 * ```ts
 * try {
 *   store = await StateStore.open({ file });
 * } catch (error) {
 *   if (isOrdoError(error, StateErrorCode.STATE_VERSION_UNSUPPORTED)) exitWith('upgrade ordo');
 *   throw error;
 * }
 * ```
 */
export const StateErrorCode = {
  /** The state file (and its backup, when recovery was tried) is not valid JSON or not a valid state. */
  STATE_CORRUPT: 'STATE_CORRUPT',
  /** The state file was written by a newer `@ordo/launcher` (a schema version this one does not know). */
  STATE_VERSION_UNSUPPORTED: 'STATE_VERSION_UNSUPPORTED',
  /** Writing the state file failed (disk full, permissions, a missing directory that cannot be made). */
  STATE_WRITE_FAILED: 'STATE_WRITE_FAILED',
  /** A record names a worker, task or level the state does not know yet. */
  STATE_UNKNOWN_ENTITY: 'STATE_UNKNOWN_ENTITY',
  /** The store was used after `close()`. */
  STATE_CLOSED: 'STATE_CLOSED',
  /** The state file path (or its backup) names a directory, a FIFO, a socket or a device, not a regular file. */
  STATE_NOT_A_FILE: 'STATE_NOT_A_FILE',
  /** A metrics helper got input it cannot use (an unparsable time, an end before its start, p out of range). */
  METRICS_INPUT_INVALID: 'METRICS_INPUT_INVALID',
} as const;

/** One of the {@link StateErrorCode} values. */
export type StateErrorCode = (typeof StateErrorCode)[keyof typeof StateErrorCode];

/**
 * The state file cannot be used: it is truncated, not JSON, or breaks `state.schema.json`. `details.path`
 * names the file and `details.problems` lists what is wrong.
 */
export class StateCorruptError extends OrdoError {
  override readonly code = StateErrorCode.STATE_CORRUPT;
  constructor(path: string, problems: readonly string[], options: Omit<OrdoErrorOptions, 'code'> = {}) {
    super(
      `The state file ${path} is corrupt: ${problems.join('; ')}. Restore it from ${path}.bak, or move it ` +
        'away to start a fresh state.',
      { ...options, details: { path, problems: [...problems] } },
    );
  }
}

/** The state file carries a schema version newer than this package knows. */
export class StateVersionError extends OrdoError {
  override readonly code = StateErrorCode.STATE_VERSION_UNSUPPORTED;
  constructor(path: string, found: number, supported: number) {
    super(
      `The state file ${path} has schema version ${found}, but this @ordo/launcher reads versions up to ` +
        `${supported}. Upgrade @ordo/launcher; the file was left untouched.`,
      { details: { path, found, supported } },
    );
  }
}

/** Writing the state file failed; the in-memory state is kept and the next write retries. */
export class StateWriteError extends OrdoError {
  override readonly code = StateErrorCode.STATE_WRITE_FAILED;
  constructor(path: string, cause: unknown) {
    super(
      `Could not write the state file ${path}: ${(cause as Error)?.message ?? String(cause)}. Check that ` +
        'its directory exists and is writable; the state is kept in memory and the next write retries.',
      { cause, details: { path } },
    );
  }
}

/** A record names a worker, task or level the state does not know. */
export class StateUnknownEntityError extends OrdoError {
  override readonly code = StateErrorCode.STATE_UNKNOWN_ENTITY;
  constructor(kind: 'worker' | 'task' | 'level', id: string | number, hint: string) {
    super(`Unknown ${kind} ${JSON.stringify(id)}: ${hint}`, { details: { kind, id } });
  }
}

/** The store was used after `close()`. */
export class StateClosedError extends OrdoError {
  override readonly code = StateErrorCode.STATE_CLOSED;
  constructor(path: string) {
    super(`The state store for ${path} is closed. Open a new one with StateStore.open().`, {
      details: { path },
    });
  }
}

/**
 * The state file path (or its `.bak`) holds something other than a regular file: a directory, a FIFO, a
 * socket or a device. It is refused at once (a FIFO is opened non-blocking, so nothing hangs) and left as it
 * is. `details.path` names it and `details.kind` says what it is.
 */
export class StateNotAFileError extends OrdoError {
  override readonly code = StateErrorCode.STATE_NOT_A_FILE;
  constructor(path: string, kind: string) {
    super(
      `The state file ${path} is ${kind}, not a regular file. Move it away or pass another \`file\` to ` +
        'StateStore.open(); it was left untouched.',
      { details: { path, kind } },
    );
  }
}

/** A metrics helper (`durationMs`, `percentile`, `…Metrics.fromJSON`) got input it cannot use. */
export class MetricsInputError extends OrdoError {
  override readonly code = StateErrorCode.METRICS_INPUT_INVALID;
  constructor(message: string, details?: Readonly<Record<string, unknown>>) {
    super(message, { details });
  }
}

// ── end of state and metrics ─────────────────────────────────────────────────────────────────────
