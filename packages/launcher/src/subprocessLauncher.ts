import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import {
  type Clock,
  isTerminalWorkerStatus,
  type Launcher,
  type Logger,
  noopLogger,
  signalProcessGroup,
  systemClock,
  type TerminateOptions,
  type WorkerHandle,
  type WorkerIo,
  type WorkerSpec,
  WorkerStatus,
} from '@ordo/contracts';
import { InvalidOptionsError, SpawnFailedError } from './errors.js';
import { HEARTBEAT_DIR_ENV, heartbeatPath, WORKER_ID_ENV } from './heartbeat.js';
import {
  deathReason,
  LauncherBase,
  LineTail,
  liveHandle,
  newWorkerRecord,
  type WorkerRecord,
} from './internal/launcherBase.js';
import { LineQueue } from './internal/lineQueue.js';
import { assertNumber } from './internal/validate.js';

/** Options for {@link SubprocessLauncher}. */
export interface SubprocessLauncherOptions {
  /** The program every worker runs (looked up on `PATH`), e.g. `process.execPath` or `bash`. */
  command: string;
  /** Arguments before the worker's own `spec.args`. @default [] */
  args?: readonly string[] | undefined;
  /** Environment added for every worker, over the parent's (see `inheritEnv`). @default {} */
  env?: Readonly<Record<string, string>> | undefined;
  /** Whether workers inherit this process's environment. @default true */
  inheritEnv?: boolean | undefined;
  /** The workers' working directory. @default process.cwd() */
  cwd?: string | undefined;
  /**
   * Where workers write heartbeats (passed to them as `ORDO_HEARTBEAT_DIR`). Without it, a live worker is
   * READY and never STALLED.
   */
  heartbeatDir?: string | undefined;
  /** A live worker whose heartbeat is older than this is STALLED. @default 120000 */
  staleAfterMs?: number | undefined;
  /** How many stderr lines to keep per worker for crash reports. @default 20 */
  logTailLines?: number | undefined;
  /** How many unread stdout lines to keep per worker before dropping the oldest. @default 10000 */
  maxBufferedLines?: number | undefined;
  /** The time source (heartbeat staleness, kill grace). @default systemClock */
  clock?: Clock | undefined;
  /** @default noopLogger */
  logger?: Logger | undefined;
}

interface ProcessRecord extends WorkerRecord {
  child: ChildProcessWithoutNullStreams;
  closed: Promise<void>;
}

/** A subprocess worker's handle: the contracts' {@link WorkerHandle} plus the pid and last stderr lines. */
export interface ProcessWorkerHandle extends WorkerHandle {
  /** The worker's process id. */
  readonly pid: number;
  /** Why the status last changed, e.g. `exit code 3; last output: "boom"`. */
  readonly reason: string;
  /** The last stderr lines (up to `logTailLines`). */
  readonly logTail: readonly string[];
  /** The worker's stdin/stdout line channel. */
  readonly io: WorkerIo;
}

/**
 * Starts workers as child processes and watches them through their exit state and heartbeats.
 *
 * A worker's status: INITIALIZING until its first heartbeat (READY at once without `heartbeatDir`), then
 * READY, RUNNING while its heartbeat carries a `taskId`, IDLE after; STALLED when its heartbeat is older than
 * `staleAfterMs`; CRASHED when it exits non-zero or by a signal it was not sent (with the code and its last
 * stderr lines in the reason); STOPPED when it exits 0 or after `terminate`.
 *
 * When to use: workers on this machine. For isolation, use `ContainerLauncher`.
 *
 * @example
 * ```ts
 * await using launcher = new SubprocessLauncher({
 *   command: process.execPath, args: ['worker.js'], heartbeatDir: '/tmp/ordo-hb', staleAfterMs: 60_000,
 * });
 * launcher.on('status', (c) => console.log(c.workerId, c.from, '→', c.to, c.reason));
 * const worker = await launcher.spawn('w1');
 * await worker.io.send(JSON.stringify({ type: 'task', id: 't1' }));
 * console.log(await launcher.monitor('w1'));
 * ```
 */
export class SubprocessLauncher extends LauncherBase<ProcessRecord> implements Launcher {
  readonly #options: SubprocessLauncherOptions;
  readonly #logTailLines: number;
  readonly #maxBufferedLines: number;
  readonly #handles = new Map<string, ProcessWorkerHandle>();

  constructor(options: SubprocessLauncherOptions) {
    const staleAfterMs = options.staleAfterMs ?? 120_000;
    assertNumber('staleAfterMs', staleAfterMs);
    super({
      clock: options.clock ?? systemClock,
      logger: options.logger ?? noopLogger,
      staleAfterMs,
      heartbeatDir: options.heartbeatDir,
    });
    if (typeof options.command !== 'string' || options.command === '') {
      throw new InvalidOptionsError('SubprocessLauncher needs a `command` (the program every worker runs).');
    }
    this.#options = options;
    this.#logTailLines = options.logTailLines ?? 20;
    this.#maxBufferedLines = options.maxBufferedLines ?? 10_000;
    assertNumber('logTailLines', this.#logTailLines);
    assertNumber('maxBufferedLines', this.#maxBufferedLines, 1);
  }

  /**
   * Starts `command [...args, ...spec.args]` with `ORDO_WORKER_ID` (and `ORDO_HEARTBEAT_DIR`) set, and resolves
   * once the process is running (`spec.labels` are not used by processes). Rejects with
   * `LAUNCHER_SPAWN_FAILED` when it cannot start.
   */
  async spawn(workerId: string, spec: WorkerSpec = {}, signal?: AbortSignal): Promise<ProcessWorkerHandle> {
    signal?.throwIfAborted();
    this.checkNewWorker(workerId);
    const o = this.#options;
    if (this.heartbeatDir !== undefined)
      await rm(heartbeatPath(this.heartbeatDir, workerId), { force: true });
    const env: Record<string, string> = {
      ...(o.inheritEnv === false ? {} : (process.env as Record<string, string>)),
      ...o.env,
      ...spec.env,
      [WORKER_ID_ENV]: workerId,
    };
    if (this.heartbeatDir !== undefined) env[HEARTBEAT_DIR_ENV] = this.heartbeatDir;
    // detached: the worker leads its own process group, so terminate() and its exit end what it started.
    // It no longer gets the terminal's SIGHUP; a worker exits when its stdin ends (the host went away).
    const child = spawn(o.command, [...(o.args ?? []), ...(spec.args ?? [])], {
      cwd: o.cwd,
      env,
      stdio: ['pipe', 'pipe', 'pipe'],
      detached: true,
    });
    child.once('exit', () => signalProcessGroup(child, 'SIGKILL'));
    try {
      await started(child, signal);
    } catch (error) {
      if (signal?.aborted && error === signal.reason) throw error;
      throw new SpawnFailedError(
        `Could not start worker "${workerId}" (${o.command}): ${(error as Error).message}. Check that the command exists, is executable, and that cwd exists.`,
        { cause: error, details: { workerId, command: o.command } },
      );
    }

    const tail = new LineTail(this.#logTailLines);
    const out = new LineQueue(this.#maxBufferedLines);
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => tail.push(chunk));
    createInterface({ input: child.stdout, crlfDelay: Number.POSITIVE_INFINITY })
      .on('line', (line) => out.push(line))
      .on('close', () => out.end());
    child.stdin.on('error', () => {}); // EPIPE after the worker exits surfaces through send()

    const record: ProcessRecord = {
      ...newWorkerRecord(workerId, 'started', this.clock.now()),
      child,
      closed: new Promise((resolve) => {
        child.once('close', (code, sig) => {
          this.#onClose(record, code, sig, tail);
          resolve();
        });
      }),
    };
    this.records.set(workerId, record);
    const io: WorkerIo = {
      send: (line) => writeLine(child, line),
      lines: () => out,
    };
    const handle = liveHandle(record, { pid: child.pid as number }, io) as ProcessWorkerHandle;
    this.#handles.set(workerId, handle);
    this.logger.info({ workerId, pid: child.pid }, 'worker process started');
    if (!this.heartbeats) this.setStatus(record, WorkerStatus.READY, 'process started');
    return handle;
  }

  handle(workerId: string): ProcessWorkerHandle | undefined {
    return this.#handles.get(workerId);
  }

  /**
   * The worker's status from its exit state and heartbeat (one `stat` of the heartbeat file, read only
   * when it changed). Emits `status` when it changed.
   */
  async monitor(workerId: string, signal?: AbortSignal): Promise<WorkerStatus> {
    signal?.throwIfAborted();
    const record = this.record(workerId);
    if (isTerminalWorkerStatus(record.status) || record.stopRequested) return record.status;
    const verdict = await this.heartbeatVerdict(record, signal);
    record.healthCheckAt = this.clock.now();
    if (isTerminalWorkerStatus(record.status) || record.stopRequested) return record.status; // exited meanwhile
    if (verdict.stale) this.setStatus(record, WorkerStatus.STALLED, verdict.reason);
    else this.setStatus(record, verdict.status, verdict.reason);
    return record.status;
  }

  /** {@link monitor} for every worker. */
  async syncState(signal?: AbortSignal): Promise<ReadonlyMap<string, WorkerStatus>> {
    signal?.throwIfAborted();
    const out = new Map<string, WorkerStatus>();
    for (const workerId of this.records.keys()) out.set(workerId, await this.monitor(workerId, signal));
    return out;
  }

  /** Sends SIGTERM, then SIGKILL after `graceMs` (on the launcher's clock); resolves once it exited. */
  async terminate(workerId: string, options: TerminateOptions = {}): Promise<void> {
    const record = this.record(workerId);
    const graceMs = options.graceMs ?? 5000;
    assertNumber('graceMs', graceMs);
    if (!isTerminalWorkerStatus(record.status)) {
      record.stopRequested = true;
      this.setStatus(record, WorkerStatus.STOPPING, 'terminate requested');
      signalProcessGroup(record.child, 'SIGTERM');
      const timer = this.clock.setTimeout(() => signalProcessGroup(record.child, 'SIGKILL'), graceMs);
      await record.closed;
      this.clock.clearTimeout(timer);
    }
    this.forgetHeartbeat(workerId);
  }

  async terminateAll(options: TerminateOptions = {}): Promise<void> {
    await Promise.all([...this.records.keys()].map((id) => this.terminate(id, options)));
  }

  /** Terminates every worker and refuses new ones. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.terminateAll();
  }

  #onClose(record: ProcessRecord, code: number | null, sig: NodeJS.Signals | null, tail: LineTail): void {
    record.exitCode = code ?? undefined;
    record.logTail = tail.lines();
    const what = code !== null ? `exit code ${code}` : `killed by ${sig}`;
    if (record.stopRequested || code === 0) {
      this.setStatus(record, WorkerStatus.STOPPED, record.stopRequested ? `terminated (${what})` : what);
    } else {
      this.setStatus(record, WorkerStatus.CRASHED, deathReason(what, record.logTail));
    }
    this.logger.info({ workerId: record.workerId, code, signal: sig }, 'worker process exited');
  }
}

function started(child: ChildProcessWithoutNullStreams, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const done = () => {
      child.off('spawn', onSpawn).off('error', onError);
      signal?.removeEventListener('abort', onAbort);
    };
    const onSpawn = () => {
      done();
      resolve();
    };
    const onError = (error: Error) => {
      done();
      reject(error);
    };
    const onAbort = () => {
      done();
      signalProcessGroup(child, 'SIGKILL');
      reject(signal?.reason);
    };
    child.once('spawn', onSpawn).once('error', onError);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

function writeLine(child: ChildProcessWithoutNullStreams, line: string): Promise<void> {
  return new Promise((resolve, reject) => {
    child.stdin.write(`${line}\n`, (error) => (error ? reject(error) : resolve()));
  });
}

/**
 * Makes a subprocess launcher (the `createX` way every long-lived ordo component is made; the class is exported for its
 * type and `instanceof`, and `new SubprocessLauncher(…)` keeps working).
 *
 * @example
 * ```ts
 * const launcher = createSubprocessLauncher({ command: process.execPath, args: ['worker.js'] });
 * ```
 */
export function createSubprocessLauncher(options: SubprocessLauncherOptions): SubprocessLauncher {
  return new SubprocessLauncher(options);
}
