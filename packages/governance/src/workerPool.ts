import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import {
  type Clock,
  type Logger,
  noopLogger,
  signalProcessGroup,
  systemClock,
  TaskPriority,
  type TimerHandle,
} from '@ordo/contracts';
import { EventEmitter } from 'eventemitter3';
import {
  GovernanceOptionsError,
  IpcResultError,
  IpcVersionMismatchError,
  PoolClosedError,
  PoolQueueFullError,
  PoolRestartBudgetError,
  TaskCancelledError,
  TaskDroppedError,
  TaskFailedError,
  TaskTimeoutError,
  WorkerCrashedError,
  type WorkerExitInfo,
  WorkerOomError,
} from './errors.js';
import { positive, positiveInteger } from './internal/validate.js';
import {
  type ChildMessage,
  ChunkAssembler,
  encodeMessage,
  IPC_PROTOCOL_VERSION,
  IpcEnv,
  LineSplitter,
  parseChildMessage,
} from './ipcProtocol.js';
import { PriorityQueue, type QueueItem } from './priorityQueue.js';

/** Options for {@link WorkerPool}. */
export interface WorkerPoolOptions {
  /** The worker script: a file that calls `serveWorker` from `@ordo/governance/worker`. */
  entry: string;
  /** Arguments after the script path. @default [] */
  args?: readonly string[] | undefined;
  /** Node options before the script path (e.g. `['--import', 'tsx']`). @default [] */
  execArgv?: readonly string[] | undefined;
  /** Extra environment variables, on top of this process's environment. @default {} */
  env?: Readonly<Record<string, string>> | undefined;
  /** How many workers run at once. @default 2 */
  maxWorkers?: number | undefined;
  /** Each worker's V8 heap limit (`--max-old-space-size`), in MB. @default 512 */
  heapMB?: number | undefined;
  /** A worker reporting more RSS than this triggers `memoryWarning`. @default 300 MB */
  rssWarnBytes?: number | undefined;
  /** An idle worker exits after this many ms. @default 300000 (5 min) */
  idleTimeoutMs?: number | undefined;
  /**
   * How many crashed workers may be respawned within a sliding hour; past it the pool is degraded and
   * refuses work with `POOL_RESTART_BUDGET` while no worker is alive.
   * @default 10
   */
  maxRestartsPerHour?: number | undefined;
  /** A task running longer is cancelled with `TASK_TIMEOUT`. @default no timeout */
  taskTimeoutMs?: number | undefined;
  /** How long a worker may take to stop after CANCEL or SHUTDOWN before it is killed, in ms. @default 5000 */
  cancelGraceMs?: number | undefined;
  /** How long a new worker may take to announce READY before it is killed, in ms. @default 30000 */
  startupTimeoutMs?: number | undefined;
  /** How often workers report MEMORY and HEARTBEAT, in ms. @default 5000 */
  reportIntervalMs?: number | undefined;
  /** Results whose line would be longer are streamed by the worker as CHUNKs. @default 1 MiB */
  maxMessageBytes?: number | undefined;
  /** The most JSON text a chunked result may total. @default 64 MiB */
  maxResultBytes?: number | undefined;
  /**
   * The queue tasks wait in, FIFO within a priority. Pass one to share it with `createAdmission` (429 when
   * full) or to set its `memoryHigh` from a governor (queued heartbeats then fail with `TASK_DROPPED`). It
   * must be dedicated to this pool: items anything else enqueues are discarded when dequeued.
   * @default a new `PriorityQueue({ maxDepth: 10000 })`
   */
  queue?: PriorityQueue<QueueItem> | undefined;
  /** @default systemClock */
  clock?: Clock | undefined;
  /** Worker spawns and exits at info, crashes and memory warnings at warn, worker LOG lines at their level. @default noopLogger */
  logger?: Logger | undefined;
}

/** Options for {@link WorkerPool.run}. */
export interface RunOptions {
  /** The task's priority; FIFO within a priority. @default TaskPriority.NORMAL */
  priority?: TaskPriority | undefined;
  /** Aborting it cancels the task: removed if queued, CANCEL then kill if running; rejects with `TASK_CANCELLED`. */
  signal?: AbortSignal | undefined;
  /** Called with each PROGRESS the worker sends (at most every 10 points or 30 s). */
  onProgress?: ((progress: { percent: number; message?: string | undefined }) => void) | undefined;
  /**
   * How many times to run the task again when its worker dies while running it (crash or OOM). A task
   * whose handler throws is never retried. A retried task goes to the back of its priority.
   * @default 0
   */
  retries?: number | undefined;
}

/** Why a worker exited, as `workerExited` reports it. */
export type WorkerExitReason =
  | 'idle'
  | 'shutdown'
  | 'killed'
  | 'crash'
  | 'oom'
  | 'cancel'
  | 'startup'
  | 'handshake';

/** A worker's exit, as the `workerExited` event reports it. */
export interface WorkerExit {
  workerId: string;
  pid: number | undefined;
  code: number | null;
  signal: NodeJS.Signals | null;
  /** `idle`, `shutdown` (close), `killed` (close in kill mode), `cancel` (did not stop after CANCEL), or the unexpected `crash`, `oom`, `startup`, `handshake`. */
  reason: WorkerExitReason;
}

/** The events of a {@link WorkerPool}. */
export interface WorkerPoolEvents {
  /** A worker process was started. */
  workerSpawned: [worker: { workerId: string; pid: number | undefined }];
  /** A worker process ended. */
  workerExited: [exit: WorkerExit];
  /** A task's result arrived. */
  taskCompleted: [task: { taskId: string; workerId: string; durationMs: number }];
  /** A task failed; `willRetry` when it goes back to the queue (see `RunOptions.retries`). */
  taskFailed: [task: { taskId: string; workerId: string | undefined; error: unknown; willRetry: boolean }];
  /** A worker's RSS rose above `rssWarnBytes` (emitted again only after it fell below). */
  memoryWarning: [
    warning: {
      workerId: string;
      pid: number | undefined;
      rss: number;
      heapUsed: number;
      taskId: string | undefined;
    },
  ];
  /** A worker ran out of heap (after `workerExited` with reason `oom`); counted by the metrics' `worker_oom_kills_total`. */
  oom: [workerId: string];
  /** Workers crashed more than `maxRestartsPerHour` times in the last hour; the pool stopped respawning. */
  degraded: [state: { restartsInLastHour: number; maxRestartsPerHour: number }];
}

/** A snapshot of a pool, as {@link WorkerPool.stats} returns it. */
export interface WorkerPoolStats {
  /** Live workers (starting, idle, busy or stopping). */
  workers: number;
  /** Workers running a task (or finishing a cancelled one). */
  active: number;
  idle: number;
  starting: number;
  /** Tasks waiting in the queue. */
  queued: number;
  /** Tasks completed / failed since the pool was created. */
  completed: number;
  failed: number;
  /** Unexpected worker exits since the pool was created, and within the last hour. */
  crashes: number;
  restartsInLastHour: number;
  degraded: boolean;
  /** Plain-text lines workers printed on stdout (logged at info). */
  textLines: number;
  /** Lines that were JSON but no valid protocol message, or too long (logged at warn). */
  invalidMessages: number;
  /** A moving average of completed tasks' durations, in ms (0 before the first). */
  averageTaskMs: number;
}

type WorkerState = 'starting' | 'idle' | 'busy' | 'cancelling' | 'stopping' | 'exited';

interface PoolTask extends QueueItem {
  readonly runLine: string;
  readonly options: RunOptions;
  resolve(value: unknown): void;
  reject(error: unknown): void;
  attempts: number;
  worker: Worker | undefined;
  startedAt: number;
  timer: TimerHandle | undefined;
  assembler: ChunkAssembler | undefined;
  detachAbort: (() => void) | undefined;
}

interface Worker {
  readonly id: string;
  readonly child: ChildProcessWithoutNullStreams;
  readonly exited: Promise<void>;
  state: WorkerState;
  task: PoolTask | undefined;
  /** The id of a task whose late messages are expected and dropped (cancelled, or failed mid-stream). */
  staleTaskId: string | undefined;
  timer: TimerHandle | undefined;
  exitReason: WorkerExitReason | undefined;
  handshakeError: IpcVersionMismatchError | undefined;
  stderr: string[];
  memoryWarned: boolean;
}

const HOUR_MS = 3_600_000;
const STDERR_TAIL = 20;
/** Exits that count against the restart budget. */
const UNEXPECTED: ReadonlySet<WorkerExitReason> = new Set(['crash', 'oom', 'startup', 'handshake']);
const OOM_TEXT = /heap out of memory|Reached heap limit|Allocation failed/i;

/**
 * Runs tasks in isolated Node child processes that speak the IPC protocol v1 (see `PROTOCOL.md`), each
 * started with `--max-old-space-size=<heapMB>`. Tasks wait in a {@link PriorityQueue} (FIFO within a
 * priority); workers start on demand up to `maxWorkers` and exit after `idleTimeoutMs` idle.
 *
 * A task is never lost nor silently run twice: if its worker dies mid-task the task fails with the cause
 * (`WORKER_OOM`, `WORKER_CRASHED`), or runs again only when `retries` asked for it. A crashed worker is
 * replaced while the hourly restart budget lasts; then the pool is `degraded` (`POOL_RESTART_BUDGET`).
 *
 * When to use: CPU-heavy or memory-risky work that must not take the host down with it. For tiny tasks,
 * threads (piscina) are faster; a process costs ~30 MB and a JSON round trip per task.
 *
 * Gotchas: payloads and results cross the wire as JSON. A cancelled task rejects at once, but its worker is
 * reused only after it acknowledges the CANCEL (or is killed after `cancelGraceMs`).
 *
 * @example
 * ```ts
 * await using pool = new WorkerPool({ entry: new URL('./worker.mjs', import.meta.url).pathname, heapMB: 256 });
 * const result = await pool.run({ file: 'a.ts' }, { priority: TaskPriority.HIGH, signal });
 * ```
 */
export class WorkerPool<P = unknown, R = unknown> extends EventEmitter<WorkerPoolEvents> {
  /** The queue tasks wait in. */
  readonly queue: PriorityQueue<QueueItem>;
  readonly maxWorkers: number;
  readonly heapMB: number;
  readonly #options: WorkerPoolOptions;
  readonly #rssWarnBytes: number;
  readonly #idleTimeoutMs: number;
  readonly #maxRestarts: number;
  readonly #taskTimeoutMs: number | undefined;
  readonly #graceMs: number;
  readonly #startupTimeoutMs: number;
  readonly #reportIntervalMs: number;
  readonly #maxMessageBytes: number;
  readonly #maxResultBytes: number;
  readonly #ownQueue: boolean;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #workers = new Map<string, Worker>();
  readonly #tasks = new Map<string, PoolTask>();
  readonly #crashTimes: number[] = [];
  #nextWorker = 1;
  #taskSeq = 1;
  #completed = 0;
  #failed = 0;
  #crashes = 0;
  #textLines = 0;
  #invalid = 0;
  #averageMs = 0;
  #wasDegraded = false;
  #lastCrash: unknown;
  #closing: Promise<void> | undefined;
  #drained: (() => void) | undefined;
  readonly #onDropped: Record<'evicted' | 'skipped' | 'removed', (item: QueueItem) => void>;

  constructor(options: WorkerPoolOptions) {
    super();
    const c = 'WorkerPool';
    if (typeof options?.entry !== 'string' || options.entry === '') {
      throw new TypeError('WorkerPool needs `entry`: the path of a worker script that calls serveWorker().');
    }
    this.#options = options;
    this.maxWorkers = positiveInteger(c, 'maxWorkers', options.maxWorkers ?? 2);
    this.heapMB = positiveInteger(c, 'heapMB', options.heapMB ?? 512);
    this.#rssWarnBytes = positive(c, 'rssWarnBytes', options.rssWarnBytes ?? 300 * 1024 * 1024);
    this.#idleTimeoutMs = positive(c, 'idleTimeoutMs', options.idleTimeoutMs ?? 300_000);
    const maxRestarts = options.maxRestartsPerHour ?? 10;
    this.#maxRestarts = maxRestarts === 0 ? 0 : positiveInteger(c, 'maxRestartsPerHour', maxRestarts);
    this.#taskTimeoutMs =
      options.taskTimeoutMs === undefined ? undefined : positive(c, 'taskTimeoutMs', options.taskTimeoutMs);
    this.#graceMs = positive(c, 'cancelGraceMs', options.cancelGraceMs ?? 5_000);
    this.#startupTimeoutMs = positive(c, 'startupTimeoutMs', options.startupTimeoutMs ?? 30_000);
    this.#reportIntervalMs = positive(c, 'reportIntervalMs', options.reportIntervalMs ?? 5_000);
    this.#maxMessageBytes = positiveInteger(c, 'maxMessageBytes', options.maxMessageBytes ?? 1024 * 1024);
    this.#maxResultBytes = positiveInteger(c, 'maxResultBytes', options.maxResultBytes ?? 64 * 1024 * 1024);
    this.#ownQueue = options.queue === undefined;
    this.queue = options.queue ?? new PriorityQueue<QueueItem>({ maxDepth: 10_000 });
    this.#clock = options.clock ?? systemClock;
    this.#logger = (options.logger ?? noopLogger).child({ component: 'WorkerPool' });
    this.#onDropped = {
      evicted: (item) => this.#drop(item, 'evicted'),
      skipped: (item) => this.#drop(item, 'skipped'),
      removed: (item) => this.#drop(item, 'removed'),
    };
    for (const [event, listener] of Object.entries(this.#onDropped)) {
      this.queue.on(event as 'evicted', listener);
    }
  }

  /** Whether workers crashed more than `maxRestartsPerHour` times within the last hour. */
  get degraded(): boolean {
    return this.#recentCrashes() > this.#maxRestarts;
  }

  /** Whether `close()` was called. */
  get closed(): boolean {
    return this.#closing !== undefined;
  }

  /** Counts of workers and tasks right now. Fits the metrics' `PoolMetricsSource` (`active`, `idle`). */
  stats(): WorkerPoolStats {
    let idle = 0;
    let active = 0;
    let starting = 0;
    for (const w of this.#workers.values()) {
      if (w.state === 'idle') idle++;
      else if (w.state === 'busy' || w.state === 'cancelling') active++;
      else if (w.state === 'starting') starting++;
    }
    const restartsInLastHour = this.#recentCrashes();
    return {
      workers: this.#workers.size,
      active,
      idle,
      starting,
      queued: this.queue.depth,
      completed: this.#completed,
      failed: this.#failed,
      crashes: this.#crashes,
      restartsInLastHour,
      degraded: restartsInLastHour > this.#maxRestarts,
      textLines: this.#textLines,
      invalidMessages: this.#invalid,
      averageTaskMs: this.#averageMs,
    };
  }

  /**
   * Runs `payload` through the worker script's handler and resolves with its result. Rejects with
   * `POOL_QUEUE_FULL` when the queue is full, `TASK_CANCELLED` on abort, `TASK_TIMEOUT`, `TASK_FAILED`
   * (the handler threw), `WORKER_OOM` / `WORKER_CRASHED` (the worker died), `TASK_DROPPED`,
   * `POOL_RESTART_BUDGET` (degraded, no worker alive) or `POOL_CLOSED`.
   */
  run(payload: P, options: RunOptions = {}): Promise<R> {
    if (this.#closing) return Promise.reject(new PoolClosedError());
    const id = `t${this.#taskSeq++}`;
    const { signal } = options;
    if (signal?.aborted) return Promise.reject(new TaskCancelledError(id, signal.reason));
    const { retries } = options;
    if (retries !== undefined && !(Number.isInteger(retries) && retries >= 0)) {
      return Promise.reject(
        new GovernanceOptionsError('WorkerPool.run', 'retries', retries, 'an integer >= 0'),
      );
    }
    if (this.degraded && this.#workers.size === 0) {
      return Promise.reject(new PoolRestartBudgetError(this.#maxRestarts, this.#lastCrash));
    }
    let runLine: string;
    try {
      // `undefined` has no JSON form: it travels as null, like a missing result.
      runLine = encodeMessage({ type: 'RUN', taskId: id, payload: payload === undefined ? null : payload });
    } catch (error) {
      return Promise.reject(error);
    }
    return new Promise<R>((resolve, reject) => {
      const task: PoolTask = {
        id,
        priority: options.priority ?? TaskPriority.NORMAL,
        runLine,
        options,
        resolve: resolve as (value: unknown) => void,
        reject,
        attempts: 0,
        worker: undefined,
        startedAt: 0,
        timer: undefined,
        assembler: undefined,
        detachAbort: undefined,
      };
      this.#tasks.set(id, task);
      let accepted: boolean;
      try {
        accepted = this.queue.enqueue(task).accepted;
      } catch (error) {
        this.#tasks.delete(id);
        reject(error);
        return;
      }
      if (!accepted) {
        this.#tasks.delete(id);
        reject(new PoolQueueFullError(this.queue.maxDepth));
        return;
      }
      if (signal) {
        const onAbort = () => this.#cancel(task, new TaskCancelledError(id, signal.reason));
        signal.addEventListener('abort', onAbort, { once: true });
        task.detachAbort = () => signal.removeEventListener('abort', onAbort);
      }
      this.#pump();
    });
  }

  /**
   * Closes the pool. `drain` (the default) refuses new tasks, lets queued and running ones finish, then
   * sends SHUTDOWN to every worker; `kill` rejects queued and running tasks with `POOL_CLOSED` and kills
   * the workers. Aborting `signal` during a drain switches to `kill`. A queue the pool created is closed too.
   */
  close(
    options: { mode?: 'drain' | 'kill' | undefined; signal?: AbortSignal | undefined } = {},
  ): Promise<void> {
    if (this.#closing) {
      if (options.mode === 'kill') this.#killAll();
      return this.#closing;
    }
    this.#closing = this.#close(options.mode ?? 'drain', options.signal);
    return this.#closing;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  async #close(mode: 'drain' | 'kill', signal: AbortSignal | undefined): Promise<void> {
    if (mode === 'kill' || signal?.aborted) this.#killAll();
    if (this.#tasks.size > 0) {
      const onAbort = () => this.#killAll();
      signal?.addEventListener('abort', onAbort, { once: true });
      await new Promise<void>((resolve) => {
        this.#drained = resolve;
      });
      signal?.removeEventListener('abort', onAbort);
    }
    for (const worker of this.#workers.values()) this.#retire(worker, 'shutdown');
    await Promise.all([...this.#workers.values()].map((w) => w.exited));
    for (const [event, listener] of Object.entries(this.#onDropped)) {
      this.queue.off(event as 'evicted', listener);
    }
    if (this.#ownQueue) await this.queue.close();
  }

  #killAll(): void {
    for (const task of [...this.#tasks.values()]) {
      this.#settle(task, new PoolClosedError());
      if (task.worker === undefined) this.queue.remove(task.id);
    }
    for (const worker of this.#workers.values()) this.#kill(worker, 'killed');
  }

  // ---- dispatch ------------------------------------------------------------------------------------

  #pump(): void {
    for (const worker of this.#workers.values()) {
      if (worker.state !== 'idle') continue;
      const task = this.#dequeue();
      if (task === undefined) break;
      this.#assign(worker, task);
    }
    if (this.queue.depth === 0) return;
    let starting = 0;
    for (const w of this.#workers.values()) if (w.state === 'starting') starting++;
    let needed = this.queue.depth - starting;
    while (needed > 0 && this.#workers.size < this.maxWorkers && !this.degraded) {
      this.#spawn();
      needed--;
    }
    if (this.#workers.size === 0 && this.degraded) {
      this.#failQueued(new PoolRestartBudgetError(this.#maxRestarts, this.#lastCrash));
    }
  }

  /** Fails every task still waiting in the queue with `error`. */
  #failQueued(error: unknown): void {
    for (const task of [...this.#tasks.values()]) {
      if (task.worker !== undefined) continue;
      this.#settle(task, error);
      this.queue.remove(task.id);
    }
  }

  #dequeue(): PoolTask | undefined {
    for (let item = this.queue.dequeue(); item !== undefined; item = this.queue.dequeue()) {
      const task = this.#tasks.get(item.id);
      if (task !== undefined) return task;
    }
    return undefined;
  }

  #assign(worker: Worker, task: PoolTask): void {
    this.#clearTimer(worker);
    worker.state = 'busy';
    worker.task = task;
    task.worker = worker;
    task.attempts++;
    task.startedAt = this.#clock.now();
    task.assembler = undefined;
    if (this.#taskTimeoutMs !== undefined) {
      const timeoutMs = this.#taskTimeoutMs;
      task.timer = this.#clock.setTimeout(
        () => this.#cancel(task, new TaskTimeoutError(task.id, timeoutMs)),
        timeoutMs,
      );
    }
    worker.child.stdin.write(task.runLine);
  }

  /** Cancels a task: out of the queue if waiting; CANCEL, then a kill after the grace period, if running. */
  #cancel(task: PoolTask, error: unknown): void {
    if (this.#tasks.get(task.id) !== task) return;
    const worker = task.worker;
    this.#settle(task, error);
    if (worker === undefined) {
      this.queue.remove(task.id);
    } else {
      worker.task = undefined;
      worker.staleTaskId = task.id;
      worker.state = 'cancelling';
      worker.child.stdin.write(encodeMessage({ type: 'CANCEL', taskId: task.id }));
      worker.timer = this.#clock.setTimeout(() => this.#kill(worker, 'cancel'), this.#graceMs);
    }
  }

  /** Settles a task once: resolves with `result` when `error` is undefined. Emits the task event. */
  #settle(task: PoolTask, error: unknown, result?: unknown, willRetry = false): void {
    if (this.#tasks.get(task.id) !== task) return;
    if (task.timer !== undefined) this.#clock.clearTimeout(task.timer);
    task.timer = undefined;
    const workerId = task.worker?.id;
    if (willRetry) {
      this.emit('taskFailed', { taskId: task.id, workerId, error, willRetry });
      return;
    }
    this.#tasks.delete(task.id);
    task.detachAbort?.();
    if (error === undefined) {
      const durationMs = this.#clock.now() - task.startedAt;
      this.#averageMs = this.#completed === 0 ? durationMs : this.#averageMs * 0.8 + durationMs * 0.2;
      this.#completed++;
      this.emit('taskCompleted', { taskId: task.id, workerId: workerId as string, durationMs });
      task.resolve(result);
    } else {
      this.#failed++;
      this.emit('taskFailed', { taskId: task.id, workerId, error, willRetry });
      task.reject(error);
    }
    if (this.#tasks.size === 0) this.#drained?.();
  }

  #drop(item: QueueItem, reason: 'evicted' | 'skipped' | 'removed'): void {
    const task = this.#tasks.get(item.id);
    if (task !== undefined && task.worker === undefined)
      this.#settle(task, new TaskDroppedError(task.id, reason));
  }

  // ---- workers -------------------------------------------------------------------------------------

  #spawn(): void {
    const id = `w${this.#nextWorker++}`;
    const o = this.#options;
    const args = [...(o.execArgv ?? []), `--max-old-space-size=${this.heapMB}`, o.entry, ...(o.args ?? [])];
    let child: ChildProcessWithoutNullStreams;
    try {
      // detached: the worker leads its own process group, so a kill ends what its tasks started too. It
      // no longer gets the terminal's SIGHUP; it exits when its stdin ends (the pool went away) instead.
      child = spawn(process.execPath, args, {
        detached: true,
        stdio: ['pipe', 'pipe', 'pipe'],
        env: {
          ...process.env,
          ...o.env,
          [IpcEnv.VERSION]: String(IPC_PROTOCOL_VERSION),
          [IpcEnv.MAX_MESSAGE_BYTES]: String(this.#maxMessageBytes),
          [IpcEnv.REPORT_INTERVAL_MS]: String(this.#reportIntervalMs),
        },
      });
    } catch (error) {
      // Counted like a crash, so a host that cannot spawn at all ends degraded rather than looping.
      this.#recordCrash(error);
      this.#logger.error({ err: error, workerId: id }, 'could not spawn a worker');
      return;
    }
    let onExited: () => void = () => {};
    const worker: Worker = {
      id,
      child,
      exited: new Promise<void>((resolve) => {
        onExited = resolve;
      }),
      state: 'starting',
      task: undefined,
      staleTaskId: undefined,
      timer: undefined,
      exitReason: undefined,
      handshakeError: undefined,
      stderr: [],
      memoryWarned: false,
    };
    this.#workers.set(id, worker);
    const log = this.#logger.child({ workerId: id, pid: child.pid });
    const stdout = new LineSplitter(
      Math.max(this.#maxMessageBytes, 65_536) * 4,
      (line) => this.#onLine(worker, line, log),
      (length) => this.#onOverflow(worker, length, log),
    );
    const stderr = new LineSplitter(
      65_536,
      (line) => {
        worker.stderr.push(line);
        if (worker.stderr.length > STDERR_TAIL) worker.stderr.shift();
        log.warn({ stream: 'stderr' }, line);
      },
      () => {},
    );
    child.stdout.setEncoding('utf8');
    child.stderr.setEncoding('utf8');
    child.stdout.on('data', (text: string) => stdout.push(text));
    child.stderr.on('data', (text: string) => stderr.push(text));
    child.stdin.on('error', (error) => log.debug({ err: error }, 'worker stdin closed'));
    child.on('error', (error) => log.error({ err: error }, 'worker process error'));
    // Whatever the worker left behind in its group (a task's child processes) ends with it.
    child.on('exit', () => signalProcessGroup(child, 'SIGKILL'));
    child.on('close', (code, signal) => {
      stdout.end();
      stderr.end();
      this.#onExit(worker, code, signal, log);
      onExited();
    });
    worker.timer = this.#clock.setTimeout(() => this.#kill(worker, 'startup'), this.#startupTimeoutMs);
    log.info({ heapMB: this.heapMB }, 'worker spawned');
    this.emit('workerSpawned', { workerId: id, pid: child.pid });
  }

  #onLine(worker: Worker, line: string, log: Logger): void {
    const parsed = parseChildMessage(line);
    if (parsed.ok) {
      this.#onMessage(worker, parsed.message, log);
    } else if (parsed.kind === 'text') {
      this.#textLines++;
      log.info({ stream: 'stdout' }, line);
    } else {
      this.#invalid++;
      log.warn(
        { line: line.slice(0, 200), reason: parsed.reason },
        'worker sent an invalid message; ignored',
      );
    }
  }

  #onOverflow(worker: Worker, length: number, log: Logger): void {
    this.#invalid++;
    log.warn({ length }, 'worker printed a line longer than the limit; dropped');
    const task = worker.task;
    if (task !== undefined) {
      this.#finishTask(
        worker,
        task,
        new IpcResultError(task.id, new RangeError(`a ${length}-character line was dropped`)),
      );
    }
  }

  #onMessage(worker: Worker, message: ChildMessage, log: Logger): void {
    switch (message.type) {
      case 'READY':
        if (worker.state !== 'starting') break;
        this.#clearTimer(worker);
        if (message.v !== IPC_PROTOCOL_VERSION) {
          worker.handshakeError = new IpcVersionMismatchError(worker.id, message.v, IPC_PROTOCOL_VERSION);
          log.error({ got: message.v }, 'worker speaks another protocol version');
          this.#kill(worker, 'handshake');
          break;
        }
        this.#release(worker);
        break;
      case 'MEMORY':
        if (message.rss > this.#rssWarnBytes && !worker.memoryWarned) {
          worker.memoryWarned = true;
          const { rss, heapUsed } = message;
          log.warn({ rss, heapUsed }, 'worker memory above rssWarnBytes');
          const taskId = worker.task?.id;
          this.emit('memoryWarning', { workerId: worker.id, pid: worker.child.pid, rss, heapUsed, taskId });
        } else if (message.rss <= this.#rssWarnBytes) worker.memoryWarned = false;
        break;
      case 'HEARTBEAT':
        break;
      case 'LOG':
        log[message.level]({ stream: 'worker' }, message.msg);
        break;
      default:
        this.#onTaskMessage(worker, message, log);
    }
  }

  #onTaskMessage(worker: Worker, message: Extract<ChildMessage, { taskId: string }>, log: Logger): void {
    const task = worker.task;
    if (task === undefined || task.id !== message.taskId) {
      if (message.taskId === worker.staleTaskId) {
        // The late answer of a cancelled task: the worker is free again.
        if (
          worker.state === 'cancelling' &&
          (message.type === 'COMPLETE' ||
            message.type === 'FAILED' ||
            (message.type === 'CHUNK' && message.last))
        ) {
          worker.staleTaskId = undefined;
          this.#clearTimer(worker);
          this.#release(worker);
        }
        return;
      }
      this.#invalid++;
      log.warn(
        { taskId: message.taskId, type: message.type },
        'worker sent a message for a task it is not running; ignored',
      );
      return;
    }
    switch (message.type) {
      case 'PROGRESS':
        try {
          task.options.onProgress?.({ percent: message.percent, message: message.message });
        } catch (error) {
          log.error({ err: error, taskId: task.id }, 'onProgress threw; ignored');
        }
        break;
      case 'COMPLETE':
        this.#finishTask(worker, task, undefined, message.result);
        break;
      case 'FAILED':
        this.#finishTask(worker, task, new TaskFailedError(task.id, message.error));
        break;
      case 'CHUNK':
        try {
          task.assembler ??= new ChunkAssembler(this.#maxResultBytes);
          const step = task.assembler.add(message);
          if (step.done) this.#finishTask(worker, task, undefined, step.result);
        } catch (error) {
          this.#finishTask(worker, task, new IpcResultError(task.id, error));
        }
        break;
    }
  }

  /** A running task ended while its worker lives on: settle it and free the worker. */
  #finishTask(worker: Worker, task: PoolTask, error: unknown, result?: unknown): void {
    worker.task = undefined;
    // A failure mid-stream leaves chunks in flight: drop them quietly.
    worker.staleTaskId = error === undefined ? undefined : task.id;
    this.#settle(task, error, result);
    this.#release(worker);
  }

  /** Frees a worker: hands it the next task, or else starts its idle timer. */
  #release(worker: Worker): void {
    if (worker.state === 'exited' || worker.state === 'stopping') return;
    worker.state = 'idle';
    this.#pump();
    if (worker.state !== 'idle' || (this.#closing !== undefined && this.#tasks.size === 0)) return;
    worker.timer = this.#clock.setTimeout(() => this.#retire(worker, 'idle'), this.#idleTimeoutMs, {
      unref: true,
    });
  }

  /** Asks a worker to exit (SHUTDOWN), killing it after the grace period. */
  #retire(worker: Worker, reason: WorkerExitReason): void {
    if (worker.state === 'exited' || worker.state === 'stopping') return;
    this.#clearTimer(worker);
    worker.state = 'stopping';
    worker.exitReason = reason;
    worker.child.stdin.write(encodeMessage({ type: 'SHUTDOWN' }));
    worker.child.stdin.end();
    worker.timer = this.#clock.setTimeout(() => this.#kill(worker, reason), this.#graceMs);
  }

  #kill(worker: Worker, reason: WorkerExitReason): void {
    if (worker.state === 'exited') return;
    this.#clearTimer(worker);
    worker.exitReason ??= reason;
    worker.state = 'stopping';
    signalProcessGroup(worker.child, 'SIGKILL');
  }

  #onExit(worker: Worker, code: number | null, signal: NodeJS.Signals | null, log: Logger): void {
    const wasStarting = worker.exitReason === undefined && worker.state === 'starting';
    this.#clearTimer(worker);
    worker.state = 'exited';
    this.#workers.delete(worker.id);
    const info: WorkerExitInfo = {
      workerId: worker.id,
      pid: worker.child.pid,
      code,
      signal,
      stderr: [...worker.stderr],
    };
    const oom = OOM_TEXT.test(worker.stderr.join('\n')) || signal === 'SIGABRT' || code === 134;
    const reason: WorkerExitReason = worker.exitReason ?? (oom ? 'oom' : wasStarting ? 'startup' : 'crash');
    if (UNEXPECTED.has(reason)) {
      this.#recordCrash(
        worker.handshakeError ?? new WorkerCrashedError('A worker exited unexpectedly', info),
      );
      log.warn({ code, signal, reason, stderr: info.stderr }, 'worker exited unexpectedly');
    } else log.info({ code, signal, reason }, 'worker exited');
    this.emit('workerExited', { workerId: worker.id, pid: worker.child.pid, code, signal, reason });
    if (reason === 'oom') this.emit('oom', worker.id);

    const task = worker.task;
    worker.task = undefined;
    if (task !== undefined) {
      const error = oom
        ? new WorkerOomError(task.id, this.heapMB, info)
        : new WorkerCrashedError(`Task ${task.id} failed`, info);
      const willRetry = this.#closing === undefined && task.attempts <= (task.options.retries ?? 0);
      this.#settle(task, error, undefined, willRetry);
      if (willRetry) this.#requeue(task, error);
    }
    if (worker.handshakeError !== undefined) {
      // Every worker of this entry would fail the same way: fail what waits rather than loop.
      this.#failQueued(worker.handshakeError);
    }
    if (this.degraded && !this.#wasDegraded) {
      this.#wasDegraded = true;
      const restartsInLastHour = this.#recentCrashes();
      log.error(
        { restartsInLastHour, maxRestartsPerHour: this.#maxRestarts },
        'worker pool degraded: restart budget spent',
      );
      this.emit('degraded', { restartsInLastHour, maxRestartsPerHour: this.#maxRestarts });
    } else if (!this.degraded) this.#wasDegraded = false;
    this.#pump();
  }

  /** Counts an unexpected exit against the restart budget; `error` becomes the cause of `POOL_RESTART_BUDGET`. */
  #recordCrash(error: unknown): void {
    this.#crashes++;
    this.#crashTimes.push(this.#clock.now());
    this.#lastCrash = error;
  }

  #requeue(task: PoolTask, cause: unknown): void {
    task.worker = undefined;
    let accepted = false;
    try {
      accepted = this.queue.enqueue(task).accepted;
    } catch {
      accepted = false;
    }
    if (!accepted) this.#settle(task, cause);
  }

  #clearTimer(worker: Worker): void {
    if (worker.timer !== undefined) this.#clock.clearTimeout(worker.timer);
    worker.timer = undefined;
  }

  #recentCrashes(): number {
    const since = this.#clock.now() - HOUR_MS;
    while (this.#crashTimes.length > 0 && (this.#crashTimes[0] as number) <= since) this.#crashTimes.shift();
    return this.#crashTimes.length;
  }
}
