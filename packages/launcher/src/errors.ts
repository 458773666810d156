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
