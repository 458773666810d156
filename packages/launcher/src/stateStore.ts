import { constants, type Stats } from 'node:fs';
import { type FileHandle, mkdir, open } from 'node:fs/promises';
import { resolve } from 'node:path';
import {
  type Clock,
  isOrdoError,
  type Logger,
  noopLogger,
  systemClock,
  type TimerHandle,
} from '@ordo/contracts';
import { EventEmitter } from 'eventemitter3';
import {
  MetricsInputError,
  StateClosedError,
  StateCorruptError,
  StateNotAFileError,
  StateUnknownEntityError,
  StateWriteError,
} from './errors.js';
import { removeStaleTemps, writeFileAtomic } from './internal/atomicWrite.js';
import { FeatureMetrics } from './metrics.js';
import {
  type LauncherState,
  type LevelState,
  parseState,
  STATE_SCHEMA_VERSION,
  type TaskState,
  type WorkerState,
} from './stateSchema.js';

/** What a {@link MetricsCollector} reads: a state and a number that changes whenever the state does. */
export interface StateSource {
  /** Grows by one with every recorded change; equal revisions mean equal workers, tasks and levels. */
  readonly revision: number;
  /** The current state document. */
  readonly state: Readonly<LauncherState>;
}

/** Options for {@link StateStore.open}. */
export interface StateStoreOptions {
  /**
   * The state file. Its directory is created if missing; the backup is kept beside it as `<file>.bak`.
   * @default '.ordo/state.json' (relative to the working directory)
   */
  file?: string | undefined;
  /** The source of every timestamp. @default systemClock */
  clock?: Clock | undefined;
  /** Where recoveries and failed writes are logged. @default noopLogger */
  logger?: Logger | undefined;
  /** The feature's name when the file does not exist yet. @default 'feature' */
  feature?: string | undefined;
  /**
   * How long to wait after a change before writing, so that a burst of changes becomes one write. Level
   * completion, `flush()` and `close()` write at once. 0 writes on the next microtask.
   * @default 50
   */
  writeDelayMs?: number | undefined;
  /**
   * When the file is corrupt, load the backup beside it instead of throwing. The corrupt file is replaced by
   * the next write; {@link StateStore.recovered} holds what was wrong with it.
   * @default true
   */
  recover?: boolean | undefined;
}

/** Options for {@link readStateFile}. */
export interface ReadStateOptions {
  /** When the file is corrupt, read the backup beside it instead. @default true */
  recover?: boolean | undefined;
  /** Aborts the read. */
  signal?: AbortSignal | undefined;
}

/** What {@link readStateFile} found. */
export interface ReadStateResult {
  /** The state, migrated to the current schema version; `undefined` when neither file exists. */
  state: LauncherState | undefined;
  /** Where it came from. */
  source: 'file' | 'backup' | 'none';
  /** When it came from the backup: what was wrong with the file. */
  recovered: StateCorruptError | undefined;
}

/**
 * Reads a state file without holding it: validates it against `state.schema.json`, migrates an older
 * schema version, and (unless `recover: false`) falls back to the backup beside it when it is corrupt or
 * missing. `ordo status` reads with this while a runtime writes.
 *
 * @throws StateCorruptError (`STATE_CORRUPT`) when the file is corrupt and no good backup exists.
 * @throws StateVersionError (`STATE_VERSION_UNSUPPORTED`) for a newer schema version (never recovered).
 * @throws StateNotAFileError (`STATE_NOT_A_FILE`) when the file or its backup is a directory, a FIFO, a socket
 * or a device (refused at once, never read).
 * @example
 * ```ts
 * const { state } = await readStateFile('.ordo/state.json');
 * console.log(state?.tasks.length);
 * ```
 */
export async function readStateFile(file: string, options: ReadStateOptions = {}): Promise<ReadStateResult> {
  const { recover = true, signal } = options;
  signal?.throwIfAborted();
  const main = await readIfExists(file, signal);
  let failure: StateCorruptError;
  if (main !== undefined) {
    try {
      return { state: parseState(main, file), source: 'file', recovered: undefined };
    } catch (error) {
      if (!recover || !isOrdoError(error, 'STATE_CORRUPT')) throw error;
      failure = error as StateCorruptError;
    }
  } else {
    failure = new StateCorruptError(file, ['the file is missing, but a backup exists']);
  }
  const backupFile = `${file}.bak`;
  const backup = recover ? await readIfExists(backupFile, signal) : undefined;
  if (backup === undefined) {
    if (main === undefined) return { state: undefined, source: 'none', recovered: undefined };
    throw failure;
  }
  try {
    return { state: parseState(backup, backupFile), source: 'backup', recovered: failure };
  } catch (error) {
    if (!isOrdoError(error, 'STATE_CORRUPT') || main === undefined) throw error;
    const problems = [...(failure.details?.problems as string[]), `backup: ${error.message}`];
    throw new StateCorruptError(file, problems, { cause: error });
  }
}

/**
 * The text of `file`, `undefined` when it is missing. Opened with `O_NONBLOCK` and checked with `fstat` on
 * the open descriptor: a FIFO, a directory, a socket or a device is `STATE_NOT_A_FILE` at once, never a hang
 * or a raw `EISDIR`.
 */
async function readIfExists(file: string, signal: AbortSignal | undefined): Promise<string | undefined> {
  let handle: FileHandle;
  try {
    handle = await open(file, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return undefined;
    // Some systems refuse to open a socket at all.
    if (code === 'ENXIO' || code === 'EOPNOTSUPP') throw new StateNotAFileError(file, 'a socket');
    throw error;
  }
  try {
    const info = await handle.stat();
    if (!info.isFile()) throw new StateNotAFileError(file, kindOf(info));
    signal?.throwIfAborted();
    return await handle.readFile({ encoding: 'utf8', signal });
  } finally {
    await handle.close();
  }
}

/** What a non-regular file is, in words. */
function kindOf(info: Stats): string {
  if (info.isDirectory()) return 'a directory';
  if (info.isFIFO()) return 'a FIFO (named pipe)';
  if (info.isSocket()) return 'a socket';
  if (info.isCharacterDevice() || info.isBlockDevice()) return 'a device';
  return 'not a regular file';
}

/** The events of a {@link StateStore}. */
export interface StateStoreEvents {
  /** A change was recorded; the argument is the new {@link StateStore.revision}. */
  change: [revision: number];
  /** A level was recorded complete (before its flush). `MetricsCollector` computes metrics here. */
  levelCompleted: [level: number];
  /** The file now holds this revision. */
  written: [revision: number];
  /** A background write failed; the state stays in memory and the next write retries. */
  writeError: [error: StateWriteError];
}

/** Options for {@link StateStore.recordTaskCompleted}. */
export interface TaskCompletedOptions {
  /** The execution time, when the caller measured it. @default completedAt − startedAt (or claimedAt) */
  durationMs?: number | undefined;
  /** The verification time (validators, commit gate). @default null */
  verificationMs?: number | undefined;
}

/** Options for {@link StateStore.recordTaskFailed}. */
export interface TaskFailedOptions {
  /** The failure, kept as its message. */
  error?: unknown;
  /** The execution time until the failure. @default failedAt − startedAt (or claimedAt) */
  durationMs?: number | undefined;
}

/**
 * The crash-safe state of a feature run: workers, tasks and levels with their timestamps, and the latest
 * metrics, kept in memory and in a JSON file.
 *
 * Writes are atomic (temp file, fsync, rename: a crash leaves the old file or the new one, never a torn
 * one) and coalesced: at most one write is in flight and it always writes the latest state, so a burst of
 * changes costs one or two writes. `recordLevelCompleted`, `flush()` and `close()` write at once. Each write
 * first keeps the previous file as `<file>.bak`, the good copy a corrupt file is recovered from.
 *
 * When to use: one store per state file, in the process that runs the feature. Readers in other processes
 * use {@link readStateFile}.
 *
 * Gotchas: `record*` methods are synchronous and only schedule the write; `await store.flush()` (or the
 * promise of `recordLevelCompleted`) to know it reached the disk. Ids of unknown workers or tasks are
 * refused (`STATE_UNKNOWN_ENTITY`) rather than invented.
 *
 * @example
 * ```ts
 * await using store = await StateStore.open({ file: '.ordo/state.json', feature: 'checkout' });
 * store.recordLevelStarted(0, ['t1', 't2']);
 * store.recordWorkerStarted('w1');
 * store.recordWorkerReady('w1');
 * store.recordTaskClaimed('t1', 'w1');
 * store.recordTaskStarted('t1');
 * store.recordTaskCompleted('t1', { verificationMs: 120 });
 * ```
 */
export class StateStore extends EventEmitter<StateStoreEvents> implements StateSource {
  /** The state file's absolute path. */
  readonly file: string;
  /** The clock every timestamp comes from. */
  readonly clock: Clock;
  /** When the file was corrupt at open and the backup was loaded: what was wrong with the file. */
  readonly recovered: StateCorruptError | undefined;

  readonly #logger: Logger;
  readonly #writeDelayMs: number;
  #feature: LauncherState['feature'];
  #updatedAt: string | null;
  #revision: number;
  readonly #workers = new Map<string, WorkerState>();
  readonly #tasks = new Map<string, TaskState>();
  readonly #levels = new Map<number, LevelState>();
  #metrics: LauncherState['metrics'];
  /** Counts every change, metrics included; the file holds `#writtenSeq`. */
  #seq = 0;
  #writtenSeq = 0;
  /** Whether the file on disk is a good state that may become the backup. */
  #fileIsGood: boolean;
  #timer: TimerHandle | undefined;
  #writing: Promise<void> | undefined;
  #closed = false;
  #snapshot: { seq: number; state: LauncherState } | undefined;

  private constructor(
    file: string,
    options: StateStoreOptions,
    read: ReadStateResult,
    logger: Logger,
    clock: Clock,
  ) {
    super();
    this.file = file;
    this.clock = clock;
    this.#logger = logger;
    this.#writeDelayMs = options.writeDelayMs ?? 50;
    this.recovered = read.recovered;
    const state = read.state;
    this.#feature = state?.feature ?? {
      name: options.feature ?? 'feature',
      startedAt: null,
      completedAt: null,
    };
    this.#updatedAt = state?.updatedAt ?? null;
    this.#revision = state?.revision ?? 0;
    this.#metrics = state?.metrics ?? null;
    for (const w of state?.workers ?? []) this.#workers.set(w.workerId, w);
    for (const t of state?.tasks ?? []) this.#tasks.set(t.taskId, t);
    for (const l of state?.levels ?? []) this.#levels.set(l.level, l);
    this.#fileIsGood = read.source === 'file';
  }

  /**
   * Opens the state file: loads and validates it (migrating an older schema version and, by default,
   * recovering a corrupt file from its backup), or starts a fresh state if there is none.
   *
   * @throws StateCorruptError (`STATE_CORRUPT`) when the file is corrupt and cannot be recovered.
   * @throws StateVersionError (`STATE_VERSION_UNSUPPORTED`) for a file of a newer schema version.
   * @throws StateNotAFileError (`STATE_NOT_A_FILE`) when the path (or its `.bak`) is a directory, a FIFO, a
   * socket or a device.
   */
  static async open(options: StateStoreOptions = {}, signal?: AbortSignal): Promise<StateStore> {
    signal?.throwIfAborted();
    const file = resolve(options.file ?? '.ordo/state.json');
    const logger = (options.logger ?? noopLogger).child({ component: 'StateStore', file });
    await mkdir(resolve(file, '..'), { recursive: true });
    await removeStaleTemps(file);
    const read = await readStateFile(file, { recover: options.recover ?? true, signal });
    const store = new StateStore(file, options, read, logger, options.clock ?? systemClock);
    if (read.recovered) {
      logger.warn(
        { problems: read.recovered.details?.problems },
        'state file corrupt; recovered from backup',
      );
      // Replace the corrupt file with the recovered state at once (not a change: the revision stays).
      store.#seq++;
      store.#schedule();
    }
    return store;
  }

  /** Grows by one with every recorded change (not with `storeMetrics`). */
  get revision(): number {
    return this.#revision;
  }

  /** The current state document (a fresh copy per change; do not modify it). */
  get state(): Readonly<LauncherState> {
    if (this.#snapshot?.seq !== this.#seq) {
      const state: LauncherState = {
        schemaVersion: STATE_SCHEMA_VERSION,
        revision: this.#revision,
        updatedAt: this.#updatedAt,
        feature: { ...this.#feature },
        workers: [...this.#workers.values()].map((w) => ({ ...w })),
        tasks: [...this.#tasks.values()].map((t) => ({ ...t })),
        levels: [...this.#levels.values()].sort((a, b) => a.level - b.level).map((l) => ({ ...l })),
        metrics: this.#metrics,
      };
      this.#snapshot = { seq: this.#seq, state };
    }
    return this.#snapshot.state;
  }

  /** Sets the feature's name and marks it started (if not yet). */
  recordFeatureStarted(name: string = this.#feature.name): void {
    this.#open();
    if (typeof name !== 'string')
      throw new MetricsInputError(`The feature name must be a string, got ${name}.`);
    this.#feature = { ...this.#feature, name, startedAt: this.#feature.startedAt ?? this.#now() };
    this.#changed();
  }

  /** A worker was started. Starting a known worker again resets its record. */
  recordWorkerStarted(workerId: string): void {
    this.#open();
    checkId('worker', workerId);
    this.#workers.set(workerId, {
      workerId,
      startedAt: this.#now(),
      readyAt: null,
      lastTaskCompletedAt: null,
      exitedAt: null,
      exitCode: null,
      tasksCompleted: 0,
      tasksFailed: 0,
      taskMs: 0,
    });
    this.#featureStarted();
    this.#changed();
  }

  /** A worker became ready for work (the first time counts). */
  recordWorkerReady(workerId: string): void {
    const worker = this.#worker(workerId);
    worker.readyAt ??= this.#now();
    this.#changed();
  }

  /**
   * Where a worker runs (a Swarm node's host name, a remote worker's host), shown by `ordo status` and the
   * worker metrics. An empty name is ignored; longer than 256 characters is cut.
   */
  recordWorkerPlacement(workerId: string, node: string): void {
    const worker = this.#worker(workerId);
    if (typeof node !== 'string' || node === '' || worker.node === node.slice(0, 256)) return;
    worker.node = node.slice(0, 256);
    this.#changed();
  }

  /** A worker exited, with its exit code if it had one. */
  recordWorkerExited(workerId: string, exitCode?: number | null): void {
    const worker = this.#worker(workerId);
    if (exitCode != null && !Number.isSafeInteger(exitCode)) {
      throw new MetricsInputError(`The exit code must be an integer or null, got ${exitCode}.`, { exitCode });
    }
    worker.exitedAt = this.#now();
    worker.exitCode = exitCode ?? null;
    this.#changed();
  }

  /** A task was planned in `level`. Creating a known task again is ignored. */
  recordTaskCreated(taskId: string, level: number): void {
    this.#open();
    this.#createTask(taskId, level);
    this.#changed();
  }

  /** A worker claimed a task: a new attempt begins (start and end times of the previous one are cleared). */
  recordTaskClaimed(taskId: string, workerId: string): void {
    const task = this.#task(taskId);
    this.#worker(workerId);
    Object.assign(task, {
      claimedAt: this.#now(),
      workerId,
      startedAt: null,
      completedAt: null,
      failedAt: null,
      durationMs: null,
      attempts: task.attempts + 1,
    });
    this.#changed();
  }

  /** The claimed attempt started running. */
  recordTaskStarted(taskId: string): void {
    const task = this.#task(taskId);
    task.startedAt = this.#now();
    this.#changed();
  }

  /** The task completed; its worker's counters and `lastTaskCompletedAt` move with it. */
  recordTaskCompleted(taskId: string, options: TaskCompletedOptions = {}): void {
    const task = this.#task(taskId);
    checkMs('durationMs', options.durationMs);
    checkMs('verificationMs', options.verificationMs);
    const now = this.#now();
    task.completedAt = now;
    task.failedAt = null;
    task.error = null;
    task.durationMs = options.durationMs ?? elapsed(task.startedAt ?? task.claimedAt, now);
    task.verificationMs = options.verificationMs ?? task.verificationMs;
    const worker = task.workerId === null ? undefined : this.#workers.get(task.workerId);
    if (worker) {
      worker.lastTaskCompletedAt = now;
      worker.tasksCompleted += 1;
      worker.taskMs += task.durationMs ?? 0;
    }
    this.#changed();
  }

  /** The task's attempt failed; it may be claimed again (a retry). */
  recordTaskFailed(taskId: string, options: TaskFailedOptions = {}): void {
    const task = this.#task(taskId);
    checkMs('durationMs', options.durationMs);
    const now = this.#now();
    task.failedAt = now;
    task.durationMs = options.durationMs ?? elapsed(task.startedAt ?? task.claimedAt, now);
    const error = options.error;
    task.error = error === undefined ? null : error instanceof Error ? error.message : String(error);
    const worker = task.workerId === null ? undefined : this.#workers.get(task.workerId);
    if (worker) worker.tasksFailed += 1;
    this.#changed();
  }

  /** A level started; its tasks not known yet are created in it. */
  recordLevelStarted(level: number, taskIds: readonly string[] = []): void {
    this.#open();
    checkLevel(level);
    const known = this.#levels.get(level);
    this.#levels.set(level, { level, startedAt: known?.startedAt ?? this.#now(), completedAt: null });
    for (const taskId of taskIds) this.#createTask(taskId, level);
    this.#featureStarted();
    this.#changed();
  }

  /**
   * A level completed. Emits `levelCompleted` (a `MetricsCollector` stores fresh metrics there) and writes
   * at once; the promise settles when the file holds it. The change itself is recorded synchronously.
   * @throws StateUnknownEntityError (rejects) for a level that never started; StateWriteError when the
   * write fails.
   */
  recordLevelCompleted(level: number, signal?: AbortSignal): Promise<void> {
    return this.#endLevel(level, false, signal);
  }

  /**
   * A level ended because its feature was cancelled: like {@link recordLevelCompleted}, but the level is
   * marked `cancelled` (its metrics status is `cancelled`, `renderStatus` shows `✗ CANCELLED`, not done).
   * @throws StateUnknownEntityError (rejects) for a level that never started; StateWriteError when the
   * write fails.
   */
  recordLevelCancelled(level: number, signal?: AbortSignal): Promise<void> {
    return this.#endLevel(level, true, signal);
  }

  async #endLevel(level: number, cancelled: boolean, signal: AbortSignal | undefined): Promise<void> {
    this.#open();
    const known = this.#levels.get(level);
    if (!known) {
      throw new StateUnknownEntityError(
        'level',
        level,
        'record recordLevelStarted(level) before completing it.',
      );
    }
    known.completedAt = this.#now();
    if (cancelled) known.cancelled = true;
    else delete known.cancelled;
    const levels = [...this.#levels.values()];
    if (levels.every((l) => l.completedAt !== null) && this.#tasksDone()) {
      this.#feature = { ...this.#feature, completedAt: known.completedAt };
    }
    this.#changed(false);
    try {
      this.emit('levelCompleted', level);
    } finally {
      await this.flush(signal); // even when a listener threw: the completion must reach the disk
    }
  }

  /** Keeps the latest feature metrics in the state file (does not change {@link revision}). */
  storeMetrics(metrics: FeatureMetrics): void {
    this.#open();
    this.#metrics = metrics.toJSON();
    this.#seq++;
    this.#schedule();
  }

  /** The metrics last stored (by this process or the one that wrote the file), if any. */
  getMetrics(): FeatureMetrics | undefined {
    return this.#metrics === null ? undefined : FeatureMetrics.fromJSON(this.#metrics, 'state.metrics');
  }

  /**
   * Writes now if anything changed since the last write, and resolves when the file holds the current state.
   * @throws StateWriteError (`STATE_WRITE_FAILED`) when the write fails.
   */
  async flush(signal?: AbortSignal): Promise<void> {
    signal?.throwIfAborted();
    while (this.#writtenSeq < this.#seq) await raceAbort(this.#write(), signal);
  }

  /** Flushes, then refuses further records. Idempotent. @throws StateWriteError if the final write fails. */
  async close(): Promise<void> {
    if (this.#closed) return;
    try {
      await this.flush();
    } finally {
      this.#closed = true;
      this.#clearTimer();
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  #now(): string {
    return new Date(this.clock.now()).toISOString();
  }

  #open(): void {
    if (this.#closed) throw new StateClosedError(this.file);
  }

  #worker(workerId: string): WorkerState {
    this.#open();
    const worker = this.#workers.get(workerId);
    if (!worker) {
      throw new StateUnknownEntityError('worker', workerId, 'record recordWorkerStarted(workerId) first.');
    }
    return worker;
  }

  #task(taskId: string): TaskState {
    this.#open();
    const task = this.#tasks.get(taskId);
    if (!task) {
      throw new StateUnknownEntityError(
        'task',
        taskId,
        'record it with recordTaskCreated(taskId, level) or recordLevelStarted(level, taskIds) first.',
      );
    }
    return task;
  }

  #createTask(taskId: string, level: number): void {
    checkLevel(level);
    checkId('task', taskId);
    if (this.#tasks.has(taskId)) return;
    this.#tasks.set(taskId, {
      taskId,
      level,
      createdAt: this.#now(),
      claimedAt: null,
      workerId: null,
      startedAt: null,
      completedAt: null,
      failedAt: null,
      durationMs: null,
      verificationMs: null,
      attempts: 0,
      error: null,
    });
  }

  #featureStarted(): void {
    if (this.#feature.startedAt === null) this.#feature = { ...this.#feature, startedAt: this.#now() };
  }

  #tasksDone(): boolean {
    for (const t of this.#tasks.values()) if (t.completedAt === null) return false;
    return true;
  }

  #changed(schedule = true): void {
    this.#revision++;
    this.#seq++;
    this.#updatedAt = this.#now();
    this.emit('change', this.#revision);
    if (schedule) this.#schedule();
  }

  #schedule(): void {
    if (this.#timer !== undefined || this.#writing) return; // the pending or running write picks it up
    const start = () => {
      this.#timer = undefined;
      this.#write().catch(() => {}); // reported through `writeError`; the next write retries
    };
    if (this.#writeDelayMs <= 0) {
      this.#timer = 'microtask';
      queueMicrotask(start);
    } else {
      this.#timer = this.clock.setTimeout(start, this.#writeDelayMs, { unref: true });
    }
  }

  #clearTimer(): void {
    if (this.#timer !== undefined && this.#timer !== 'microtask') this.clock.clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /** Runs the single writer (or joins it): writes the latest state until the file is current. */
  #write(): Promise<void> {
    this.#clearTimer();
    this.#writing ??= (async () => {
      try {
        while (this.#writtenSeq < this.#seq) {
          const seq = this.#seq;
          const revision = this.#revision;
          const text = `${JSON.stringify(this.state)}\n`;
          try {
            await writeFileAtomic(this.file, text, { backup: this.#fileIsGood });
          } catch (cause) {
            const error = new StateWriteError(this.file, cause);
            this.#logger.error({ err: error }, 'state write failed');
            this.emit('writeError', error);
            throw error;
          }
          this.#fileIsGood = true;
          this.#writtenSeq = seq;
          this.emit('written', revision);
        }
      } finally {
        this.#writing = undefined;
      }
    })();
    return this.#writing;
  }
}

function elapsed(from: string | null, to: string): number | null {
  return from === null ? null : Math.max(0, Date.parse(to) - Date.parse(from));
}

function checkId(kind: 'worker' | 'task', id: string): void {
  if (typeof id !== 'string' || id === '') {
    throw new StateUnknownEntityError(kind, String(id), `${kind} ids must be non-empty strings.`);
  }
}

function checkMs(name: string, value: number | undefined): void {
  if (value !== undefined && !(Number.isFinite(value) && value >= 0)) {
    throw new MetricsInputError(`${name} must be a finite number of ms >= 0, got ${value}.`, {
      [name]: value,
    });
  }
}

function checkLevel(level: number): void {
  if (!Number.isSafeInteger(level) || level < 0) {
    throw new StateUnknownEntityError('level', level, 'levels are integers >= 0.');
  }
}

function raceAbort<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return promise;
  signal.throwIfAborted();
  return new Promise<T>((resolvePromise, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolvePromise(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}

/**
 * Opens (or creates) a state file as a {@link StateStore}: the `createX` way, with the `signal` in the
 * options (`StateStore.open(options, signal)` keeps working).
 *
 * @example
 * ```ts
 * const store = await openStateStore({ file: '.ordo/state.json', feature: 'checkout' });
 * ```
 */
export function openStateStore(
  options: StateStoreOptions & { signal?: AbortSignal | undefined } = {},
): Promise<StateStore> {
  const { signal, ...rest } = options;
  return StateStore.open(rest, signal);
}
