import { randomBytes } from 'node:crypto';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { type Clock, systemClock, type TimerHandle } from '@ordo/contracts';
import { InvalidOptionsError } from './errors.js';
import { HEARTBEAT_DIR_ENV, type Heartbeat, heartbeatPath, WORKER_ID_ENV } from './heartbeat.js';
import { assertNumber, assertWorkerId } from './internal/validate.js';

/**
 * Writes one heartbeat atomically: the JSON goes to a temporary file in the same directory, which is then
 * renamed over `worker-<id>.json`, so a reader never sees a half-written file. Creates `dir` if needed.
 *
 * @example
 * ```ts
 * import { writeHeartbeat } from '@ordo/launcher/worker';
 * await writeHeartbeat('/var/run/ordo', { workerId: 'w1', taskId: 't-42', progress: 0.5 });
 * ```
 */
export async function writeHeartbeat(
  dir: string,
  beat: Omit<Heartbeat, 'ts'> & { ts?: number | undefined },
  options: { clock?: Clock | undefined } = {},
): Promise<Heartbeat> {
  assertWorkerId(beat.workerId);
  const full: Heartbeat = { ...beat, ts: beat.ts ?? (options.clock ?? systemClock).now() };
  const target = heartbeatPath(dir, beat.workerId);
  const temp = `${target}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  await mkdir(dir, { recursive: true });
  try {
    await writeFile(temp, JSON.stringify(full));
    await rename(temp, target);
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
  return full;
}

/** Options for {@link HeartbeatWriter}. */
export interface HeartbeatWriterOptions {
  /** The heartbeat directory. @default process.env.ORDO_HEARTBEAT_DIR (set by the launchers) */
  dir?: string | undefined;
  /** This worker's id. @default process.env.ORDO_WORKER_ID (set by the launchers) */
  workerId?: string | undefined;
  /**
   * How often `start()` writes a heartbeat. Keep it well under the launcher's `staleAfterMs`.
   * @default 5000
   */
  intervalMs?: number | undefined;
  /** The time source. @default systemClock */
  clock?: Clock | undefined;
  /** Called when a periodic write fails (the loop keeps going). @default ignore */
  onError?: ((error: unknown) => void) | undefined;
}

/**
 * The worker side of heartbeats: writes `worker-<id>.json` atomically now (`beat`) and every `intervalMs`
 * (`start`), carrying the current task and progress.
 *
 * When to use: inside a worker started by `SubprocessLauncher` or `ContainerLauncher`; with no options it
 * reads `ORDO_WORKER_ID` and `ORDO_HEARTBEAT_DIR`, which the launchers set.
 *
 * @example
 * ```ts
 * import { HeartbeatWriter } from '@ordo/launcher/worker';
 * await using heartbeat = createHeartbeatWriter({ intervalMs: 2_000 });
 * heartbeat.start();
 * await heartbeat.beat({ taskId: 't-42', progress: 0 });
 * ```
 */
export class HeartbeatWriter {
  readonly dir: string;
  readonly workerId: string;
  readonly #intervalMs: number;
  readonly #clock: Clock;
  readonly #onError: (error: unknown) => void;
  #task: Pick<Heartbeat, 'taskId' | 'progress'> = {};
  #timer: TimerHandle | undefined;
  #writing: Promise<unknown> = Promise.resolve();
  #closed = false;

  constructor(options: HeartbeatWriterOptions = {}) {
    const dir = options.dir ?? process.env[HEARTBEAT_DIR_ENV];
    const workerId = options.workerId ?? process.env[WORKER_ID_ENV];
    if (!dir) {
      throw new InvalidOptionsError(
        `HeartbeatWriter needs a directory: pass { dir } or set ${HEARTBEAT_DIR_ENV} (launchers set it).`,
      );
    }
    assertWorkerId(workerId);
    this.#intervalMs = options.intervalMs ?? 5000;
    assertNumber('intervalMs', this.#intervalMs, 1);
    this.dir = dir;
    this.workerId = workerId;
    this.#clock = options.clock ?? systemClock;
    this.#onError = options.onError ?? (() => {});
  }

  /**
   * Writes a heartbeat now. `update` replaces the current task: pass `{ taskId, progress }` when a task
   * starts or moves, `{}` when the worker goes idle; leave it out to keep the current one.
   */
  beat(update?: Pick<Heartbeat, 'taskId' | 'progress'>): Promise<Heartbeat> {
    if (update) this.#task = { ...update };
    const write = this.#writing.then(() =>
      writeHeartbeat(this.dir, { workerId: this.workerId, ...this.#task }, { clock: this.#clock }),
    );
    this.#writing = write.catch(() => {});
    return write;
  }

  /** Starts writing every `intervalMs` (the first write is immediate). Calling it again does nothing. */
  start(): void {
    if (this.#timer !== undefined || this.#closed) return;
    const tick = () => {
      this.beat().catch(this.#onError);
      this.#timer = this.#clock.setTimeout(tick, this.#intervalMs, { unref: true });
    };
    tick();
  }

  /** Stops the periodic writes and waits for the last one to finish. The file stays. */
  async close(): Promise<void> {
    this.#closed = true;
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#writing;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

/**
 * Makes a heartbeat writer (the `createX` way every long-lived ordo component is made; the class is exported for its
 * type and `instanceof`, and `new HeartbeatWriter(…)` keeps working).
 *
 * @example
 * ```ts
 * const writer = createHeartbeatWriter();
 * writer.start();
 * ```
 */
export function createHeartbeatWriter(options: HeartbeatWriterOptions = {}): HeartbeatWriter {
  return new HeartbeatWriter(options);
}
