import {
  type ChildMessage,
  ChunkAssembler,
  type Clock,
  encodeMessage,
  IPC_PROTOCOL_VERSION,
  IpcEnv,
  isOrdoError,
  type Launcher,
  type Logger,
  type MemoryLevel,
  type MemoryPressure,
  noopLogger,
  parseChildMessage,
  systemClock,
  TaskPriority,
  type TimerHandle,
  type WorkerSpec,
} from '@ordo/contracts';
import { EventEmitter } from 'eventemitter3';
import {
  GovernanceErrorCode,
  GovernanceOptionsError,
  IpcResultError,
  IpcVersionMismatchError,
  PoolClosedError,
  PoolQueueFullError,
  PoolRestartBudgetError,
  type WorkerExitInfo,
} from './errors.js';
import { startChildWorker } from './internal/childTransport.js';
import { startLauncherWorker } from './internal/launcherTransport.js';
import {
  taskCancelled,
  taskDropped,
  taskFailed,
  taskStalled,
  taskTimedOut,
  workerCrashed,
  workerOom,
  workerStartFailed,
} from './internal/poolErrors.js';
import { positive, positiveInteger } from './internal/validate.js';
import type { TransportEvents, TransportExit, WorkerTransport } from './internal/workerTransport.js';
import type { RunningTask, RunningTasks } from './memoryGovernor.js';
import { PriorityQueue, type QueueItem } from './priorityQueue.js';

/** Options for {@link WorkerPool}. */
export interface WorkerPoolOptions {
  /**
   * Where workers run: any contracts `Launcher` whose handles have `io` (`SubprocessLauncher`, a
   * `ContainerLauncher` with `attachStdio: true`, …). Its command must run a script that calls
   * `serveWorker`. The pool starts workers on it as `<id>` (ids are unique per pool), stops them with
   * `terminate`, and leaves closing the launcher to its owner. Give either `launcher` or `entry`.
   */
  launcher?: Launcher | undefined;
  /** With `launcher`: what each worker starts with (the pool adds its IPC and heap-cap variables). @default {} */
  spec?: WorkerSpec | undefined;
  /**
   * Without `launcher`: the worker script, run as a child process of this Node (`process.execPath`), a
   * file that calls `serveWorker` from `@ordo/governance/worker`.
   */
  entry?: string | undefined;
  /** With `entry`: arguments after the script path. @default [] */
  args?: readonly string[] | undefined;
  /** With `entry`: Node options before the script path (e.g. `['--import', 'tsx']`). @default [] */
  execArgv?: readonly string[] | undefined;
  /** With `entry`: extra environment variables, on top of this process's environment. @default {} */
  env?: Readonly<Record<string, string>> | undefined;
  /** How many workers run at once. @default 2 */
  maxWorkers?: number | undefined;
  /**
   * Each worker's V8 heap limit, in MB: `--max-old-space-size` on the command line with `entry`, in the
   * worker's `NODE_OPTIONS` (after `spec.env.NODE_OPTIONS`) with a `launcher`.
   * @default 512
   */
  heapMB?: number | undefined;
  /** A worker reporting more RSS than this triggers `memoryWarning`. @default 300 MB */
  rssWarnBytes?: number | undefined;
  /** An idle worker exits after this many ms. @default 300000 (5 min) */
  idleTimeoutMs?: number | undefined;
  /**
   * How many crashed (or stalled) workers may be respawned within a sliding hour; past it the pool is
   * degraded and refuses work with `POOL_RESTART_BUDGET` while no worker is alive.
   * @default 10
   */
  maxRestartsPerHour?: number | undefined;
  /** A task running longer is cancelled with `TASK_TIMEOUT`. @default no timeout */
  taskTimeoutMs?: number | undefined;
  /**
   * A live worker that sent nothing (no HEARTBEAT, no message) for longer is STALLED: its task fails with
   * `TASK_STALLED` and the worker is killed (its process group or container) and replaced. A task that
   * blocks its worker's event loop ends this way even without a timeout. Keep it well above
   * `reportIntervalMs`.
   * @default 120000 (2 min)
   */
  stallTimeoutMs?: number | undefined;
  /** How long a worker may take to stop after CANCEL or SHUTDOWN before it is killed, in ms. @default 5000 */
  cancelGraceMs?: number | undefined;
  /**
   * How long a new worker may take to announce READY before it is killed, in ms, counted from when the
   * launcher hands it over: a launcher whose spawn waits for a worker (a remote endpoint waiting for one
   * to join) is not cut short, and that wait never counts against the restart budget.
   * @default 30000
   */
  startupTimeoutMs?: number | undefined;
  /**
   * How often workers report MEMORY and HEARTBEAT, in ms; at most half of `stallTimeoutMs`.
   * @default 5000, or a quarter of `stallTimeoutMs` when that is less
   */
  reportIntervalMs?: number | undefined;
  /** Results whose line would be longer are streamed by the worker as CHUNKs. @default 1 MiB */
  maxMessageBytes?: number | undefined;
  /** The most JSON text a chunked result may total. @default 64 MiB */
  maxResultBytes?: number | undefined;
  /**
   * The queue tasks wait in, FIFO within a priority. Pass one to share it with `createAdmission` (429 when
   * full) or with a `MemoryGovernor` (with `running`: queued heartbeats then fail with `TASK_DROPPED`,
   * preempted tasks come back through it). It must be dedicated to this pool: items anything else
   * enqueues are discarded when dequeued.
   * @default a new `PriorityQueue({ maxDepth: 10000 })`
   */
  queue?: PriorityQueue<QueueItem> | undefined;
  /**
   * The memory level to gate on: under pressure lower priorities wait in the queue (warning: LOW waits;
   * critical: NORMAL and LOW; emergency: all but CRITICAL). Call `pump()` when the level falls.
   * @default no gating
   */
  memory?: Pick<MemoryPressure, 'level'> | undefined;
  /** @default systemClock */
  clock?: Clock | undefined;
  /** Worker spawns and exits at info, crashes, stalls and memory warnings at warn, worker LOG lines at their level. @default noopLogger */
  logger?: Logger | undefined;
}

/** Options for {@link WorkerPool.run}. */
export interface RunOptions {
  /**
   * The task's id: in the RUN message, the events and the errors. Must be unique among the pool's queued
   * and running tasks (`GOVERNANCE_OPTIONS_INVALID` otherwise).
   * @default `t1`, `t2`, …
   */
  id?: string | undefined;
  /** The task's priority; FIFO within a priority. @default TaskPriority.NORMAL */
  priority?: TaskPriority | undefined;
  /**
   * Aborting it cancels the task: removed if queued, CANCEL then kill if running; rejects with
   * `TASK_CANCELLED` (whose `cause` is the reason), or with the reason itself when that is an ordo error
   * (e.g. a `TASK_TIMEOUT` the caller made).
   */
  signal?: AbortSignal | undefined;
  /** This task's time limit on its worker, in ms (`TASK_TIMEOUT`). @default the pool's `taskTimeoutMs` */
  timeoutMs?: number | undefined;
  /** Whether a `MemoryGovernor` on this pool's `running` may preempt it at the critical level. @default false */
  preemptable?: boolean | undefined;
  /** Called when a worker takes the task (again, after a retry or a preemption). */
  onStart?: ((start: { taskId: string; workerId: string; attempt: number }) => void) | undefined;
  /** Called with each PROGRESS the worker sends (at most every 10 points or 30 s). */
  onProgress?: ((progress: { percent: number; message?: string | undefined }) => void) | undefined;
  /**
   * How many times to run the task again when its worker dies while running it (crash or OOM). A task
   * whose handler throws, or that stalled its worker, is never retried. A retried task goes to the back of
   * its priority.
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
  | 'handshake'
  | 'stalled'
  | 'memory';

/** A worker's exit, as the `workerExited` event reports it. */
export interface WorkerExit {
  workerId: string;
  pid: number | undefined;
  code: number | null;
  signal: string | null;
  /**
   * `idle`, `shutdown` (close), `killed` (close in kill mode), `cancel` (did not stop after CANCEL),
   * `memory` (killed by a memory governor), or the unexpected `crash`, `oom`, `startup`, `handshake`,
   * `stalled`.
   */
  reason: WorkerExitReason;
}

/** The events of a {@link WorkerPool}. */
export interface WorkerPoolEvents {
  /** A worker was started. */
  workerSpawned: [worker: { workerId: string; pid: number | undefined }];
  /** A worker announced READY: it takes tasks from now on. */
  workerReady: [worker: { workerId: string; pid: number | undefined }];
  /** A worker ended. */
  workerExited: [exit: WorkerExit];
  /** A worker took a task. */
  taskStarted: [task: { taskId: string; workerId: string; attempt: number }];
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
  /** A worker sent nothing for longer than `stallTimeoutMs`; it is being killed (then `workerExited` with reason `stalled`). */
  stalled: [
    stall: { workerId: string; pid: number | undefined; taskId: string | undefined; silentMs: number },
  ];
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
  /** Unexpected worker exits (crashes, OOMs, stalls) since the pool was created, and within the last hour. */
  crashes: number;
  restartsInLastHour: number;
  /** Workers killed for a stale heartbeat since the pool was created. */
  stalls: number;
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
  readonly timeoutMs: number | undefined;
  resolve(value: unknown): void;
  reject(error: unknown): void;
  attempts: number;
  worker: Worker | undefined;
  startedAt: number;
  timer: TimerHandle | undefined;
  assembler: ChunkAssembler | undefined;
  detachAbort: (() => void) | undefined;
  /** The governor's view of the running task (its controller aborts with PREEMPTED or KILLED_MEMORY). */
  governed: (RunningTask & { listed: boolean }) | undefined;
}

interface Worker {
  readonly id: string;
  transport: WorkerTransport | undefined;
  pid: number | undefined;
  readonly exited: Promise<void>;
  markExited(): void;
  state: WorkerState;
  task: PoolTask | undefined;
  /** The id of a task whose late messages are expected and dropped (cancelled, or failed mid-stream). */
  staleTaskId: string | undefined;
  timer: TimerHandle | undefined;
  /** When the worker last sent anything (epoch ms on the pool's clock). */
  lastSeenAt: number;
  stallTimer: TimerHandle | undefined;
  exitReason: WorkerExitReason | undefined;
  handshakeError: IpcVersionMismatchError | undefined;
  startError: unknown;
  stderr: string[];
  memoryWarned: boolean;
  log: Logger;
}

const HOUR_MS = 3_600_000;
const STDERR_TAIL = 20;
/** Exits that count against the restart budget. */
const UNEXPECTED: ReadonlySet<WorkerExitReason> = new Set([
  'crash',
  'oom',
  'startup',
  'handshake',
  'stalled',
]);
/** Exits of a worker that had been ready, replaced at once. */
const REPLACED: ReadonlySet<WorkerExitReason> = new Set(['crash', 'oom', 'stalled']);
const OOM_TEXT = /heap out of memory|Reached heap limit|Allocation failed|out of memory/i;

/**
 * Which priorities may start a task at each memory level: under pressure the lower priorities wait in the
 * queue (warning: LOW waits; critical: NORMAL and LOW; emergency: all but CRITICAL).
 */
const LOWEST_ADMITTED: Readonly<Record<MemoryLevel, TaskPriority>> = {
  normal: TaskPriority.HEARTBEAT,
  warning: TaskPriority.NORMAL,
  critical: TaskPriority.HIGH,
  emergency: TaskPriority.CRITICAL,
};

/**
 * The one worker pool of ordo: runs tasks in isolated workers that speak the IPC protocol v1 (see
 * `PROTOCOL.md`), started on any contracts `Launcher` (child processes, containers, …) or, given an
 * `entry`, as child processes of this Node. Each worker's heap is capped (`heapMB`); tasks wait in a
 * {@link PriorityQueue} (FIFO within a priority); workers start on demand up to `maxWorkers` and exit after
 * `idleTimeoutMs` idle. A worker whose heartbeat is older than `stallTimeoutMs` is STALLED: its task fails
 * with `TASK_STALLED`, the worker is killed and replaced.
 *
 * A task is never lost nor silently run twice: if its worker dies mid-task the task fails with the cause
 * (`WORKER_OOM`, `WORKER_CRASHED`, `TASK_STALLED`), or runs again only when `retries` asked for it. A
 * crashed worker is replaced while the hourly restart budget lasts; then the pool is `degraded`
 * (`POOL_RESTART_BUDGET`).
 *
 * When to use: CPU-heavy or memory-risky work that must not take the host down with it. For tiny tasks,
 * threads (piscina) are faster; a process costs ~30 MB and a JSON round trip per task.
 *
 * Gotchas: payloads and results cross the wire as JSON. A cancelled task rejects at once, but its worker is
 * reused only after it acknowledges the CANCEL (or is killed after `cancelGraceMs`). With a `launcher`, the
 * heap cap travels in `NODE_OPTIONS`, which replaces an inherited one: put what the worker needs in
 * `spec.env.NODE_OPTIONS`.
 *
 * @example
 * ```ts
 * await using pool = createWorkerPool({ entry: new URL('./worker.mjs', import.meta.url).pathname, heapMB: 256 });
 * const result = await pool.run({ file: 'a.ts' }, { priority: TaskPriority.HIGH, signal });
 * // or on a launcher: createWorkerPool({ launcher: createSubprocessLauncher({ command: process.execPath, args: ['worker.mjs'] }) })
 * ```
 */
export class WorkerPool<P = unknown, R = unknown> extends EventEmitter<WorkerPoolEvents> {
  /** The queue tasks wait in. */
  readonly queue: PriorityQueue<QueueItem>;
  /**
   * The running tasks, as a `MemoryGovernor` reads them (`new MemoryGovernor({ queue: pool.queue, running:
   * pool.running, … })`): at critical it may preempt a `preemptable` one (the task goes back to the queue
   * and runs again), at emergency kill one (it fails with `KILLED_MEMORY`, its worker is killed).
   */
  readonly running: RunningTasks<QueueItem>;
  readonly maxWorkers: number;
  readonly heapMB: number;
  readonly #options: WorkerPoolOptions;
  readonly #rssWarnBytes: number;
  readonly #idleTimeoutMs: number;
  readonly #maxRestarts: number;
  readonly #taskTimeoutMs: number | undefined;
  readonly #stallTimeoutMs: number;
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
  #stalls = 0;
  #textLines = 0;
  #invalid = 0;
  #averageMs = 0;
  #wasDegraded = false;
  #lastCrash: unknown;
  #closing: Promise<void> | undefined;
  #drained: (() => void) | undefined;
  readonly #readyWaiters = new Set<{ resolve(): void; reject(error: unknown): void }>();
  readonly #onDropped: Record<'evicted' | 'skipped' | 'removed', (item: QueueItem) => void>;

  constructor(options: WorkerPoolOptions) {
    super();
    const c = 'WorkerPool';
    const hasEntry = typeof options?.entry === 'string' && options.entry !== '';
    if (hasEntry === (options?.launcher !== undefined)) {
      throw new TypeError(
        'WorkerPool needs either `launcher` (a contracts Launcher whose workers call serveWorker()) or `entry` (the path of a worker script that calls serveWorker()), not both.',
      );
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
    this.#stallTimeoutMs = positive(c, 'stallTimeoutMs', options.stallTimeoutMs ?? 120_000);
    // Reports (heartbeats) come at least four times per stall limit, so only a silent worker stalls.
    const reportDefault = Math.min(5_000, Math.max(1, Math.floor(this.#stallTimeoutMs / 4)));
    this.#reportIntervalMs = positive(c, 'reportIntervalMs', options.reportIntervalMs ?? reportDefault);
    if (this.#reportIntervalMs * 2 > this.#stallTimeoutMs) {
      throw new GovernanceOptionsError(
        c,
        'reportIntervalMs',
        this.#reportIntervalMs,
        `at most half of stallTimeoutMs (${this.#stallTimeoutMs} ms), so a live worker never looks stalled`,
      );
    }
    this.#graceMs = positive(c, 'cancelGraceMs', options.cancelGraceMs ?? 5_000);
    this.#startupTimeoutMs = positive(c, 'startupTimeoutMs', options.startupTimeoutMs ?? 30_000);
    this.#maxMessageBytes = positiveInteger(c, 'maxMessageBytes', options.maxMessageBytes ?? 1024 * 1024);
    this.#maxResultBytes = positiveInteger(c, 'maxResultBytes', options.maxResultBytes ?? 64 * 1024 * 1024);
    this.#ownQueue = options.queue === undefined;
    this.queue = options.queue ?? new PriorityQueue<QueueItem>({ maxDepth: 10_000 });
    this.#clock = options.clock ?? systemClock;
    this.#logger = (options.logger ?? noopLogger).child({ component: 'WorkerPool' });
    this.running = this.#runningView();
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

  /** The ids of the live workers (starting, idle, busy or stopping). */
  workerIds(): string[] {
    return [...this.#workers.keys()];
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
      stalls: this.#stalls,
      degraded: restartsInLastHour > this.#maxRestarts,
      textLines: this.#textLines,
      invalidMessages: this.#invalid,
      averageTaskMs: this.#averageMs,
    };
  }

  /**
   * Starts workers up to `maxWorkers` and resolves once at least one is ready (at once when one is).
   * Rejects with `WORKER_START_FAILED` when every worker failed to start (exited before READY, or no READY
   * within `startupTimeoutMs`), `IPC_VERSION_MISMATCH` or `POOL_LAUNCHER_UNSUPPORTED` when the workers
   * cannot speak to the pool, `POOL_RESTART_BUDGET` or `POOL_CLOSED`. Optional: `run` starts workers on
   * demand; call it to pay the start-up before the first task, or to fail early.
   */
  start(options: { signal?: AbortSignal | undefined } = {}): Promise<void> {
    if (this.#closing) return Promise.reject(new PoolClosedError());
    const { signal } = options;
    if (signal?.aborted) return Promise.reject(signal.reason);
    if ([...this.#workers.values()].some((w) => w.state !== 'starting' && w.state !== 'stopping')) {
      return Promise.resolve();
    }
    if (this.degraded) return Promise.reject(new PoolRestartBudgetError(this.#maxRestarts, this.#lastCrash));
    return new Promise<void>((resolve, reject) => {
      const onAbort = () => {
        this.#readyWaiters.delete(waiter);
        reject(signal?.reason);
      };
      const waiter = {
        resolve: () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        },
        reject: (error: unknown) => {
          signal?.removeEventListener('abort', onAbort);
          reject(error);
        },
      };
      this.#readyWaiters.add(waiter);
      signal?.addEventListener('abort', onAbort, { once: true });
      while (this.#workers.size < this.maxWorkers && !this.degraded) this.#spawn();
    });
  }

  /**
   * Runs `payload` through the worker script's handler and resolves with its result. Rejects with
   * `POOL_QUEUE_FULL` when the queue is full, `TASK_CANCELLED` on abort, `TASK_TIMEOUT`, `TASK_FAILED`
   * (the handler threw), `TASK_STALLED` (its worker stopped sending heartbeats), `WORKER_OOM` /
   * `WORKER_CRASHED` (the worker died), `KILLED_MEMORY` (a memory governor killed it), `TASK_DROPPED`,
   * `POOL_RESTART_BUDGET` (degraded, no worker alive) or `POOL_CLOSED`.
   */
  run(payload: P, options: RunOptions = {}): Promise<R> {
    if (this.#closing) return Promise.reject(new PoolClosedError());
    if (
      options.id !== undefined &&
      (typeof options.id !== 'string' || options.id === '' || this.#tasks.has(options.id))
    ) {
      return Promise.reject(
        new GovernanceOptionsError(
          'WorkerPool.run',
          'id',
          options.id,
          'a non-empty string no queued or running task has',
        ),
      );
    }
    const id = options.id ?? `t${this.#taskSeq++}`;
    const { signal } = options;
    if (signal?.aborted) return Promise.reject(abortError(id, signal.reason));
    const { retries } = options;
    if (retries !== undefined && !(Number.isInteger(retries) && retries >= 0)) {
      return Promise.reject(
        new GovernanceOptionsError('WorkerPool.run', 'retries', retries, 'an integer >= 0'),
      );
    }
    let timeoutMs = this.#taskTimeoutMs;
    if (options.timeoutMs !== undefined) {
      try {
        timeoutMs = positive('WorkerPool.run', 'timeoutMs', options.timeoutMs);
      } catch (error) {
        return Promise.reject(error);
      }
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
        timeoutMs,
        resolve: resolve as (value: unknown) => void,
        reject,
        attempts: 0,
        worker: undefined,
        startedAt: 0,
        timer: undefined,
        assembler: undefined,
        detachAbort: undefined,
        governed: undefined,
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
        const onAbort = () => this.#cancel(task, abortError(id, signal.reason));
        signal.addEventListener('abort', onAbort, { once: true });
        task.detachAbort = () => signal.removeEventListener('abort', onAbort);
      }
      this.#pump();
    });
  }

  /** Hands queued tasks to idle workers again; call it when the `memory` level fell. */
  pump(): void {
    this.#pump();
  }

  /**
   * Closes the pool. `drain` (the default) refuses new tasks, lets queued and running ones finish, then
   * sends SHUTDOWN to every worker; `kill` rejects queued and running tasks with `POOL_CLOSED` and kills
   * the workers. Aborting `signal` during a drain switches to `kill`. A queue the pool created is closed
   * too; a launcher is left to its owner.
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
    this.#settleReadyWaiters(new PoolClosedError());
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

  #runningView(): RunningTasks<QueueItem> {
    const tasks = this.#tasks;
    return {
      *values() {
        for (const task of tasks.values()) if (task.governed?.listed) yield task.governed;
      },
      delete(id) {
        const governed = tasks.get(id)?.governed;
        if (governed === undefined || !governed.listed) return false;
        governed.listed = false;
        return true;
      },
    };
  }

  // ---- dispatch ------------------------------------------------------------------------------------

  #pump(): void {
    for (const worker of this.#workers.values()) {
      if (worker.state !== 'idle') continue;
      const task = this.#dequeue();
      if (task === undefined) break;
      this.#assign(worker, task);
    }
    if (this.queue.depth === 0 || (this.#closing !== undefined && this.#tasks.size === 0)) return;
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

  /** The next queued task the memory level admits (skipping items that are not this pool's). */
  #dequeue(): PoolTask | undefined {
    const level = this.#options.memory?.level;
    const lowest = level === undefined ? TaskPriority.HEARTBEAT : LOWEST_ADMITTED[level];
    for (;;) {
      const head = this.queue[Symbol.iterator]().next();
      if (head.done || head.value.priority > lowest) return undefined;
      const item = this.queue.dequeue() as QueueItem;
      const task = this.#tasks.get(item.id);
      if (task !== undefined && task.worker === undefined) return task;
    }
  }

  #assign(worker: Worker, task: PoolTask): void {
    this.#clearTimer(worker);
    worker.state = 'busy';
    worker.task = task;
    task.worker = worker;
    task.attempts++;
    task.startedAt = this.#clock.now();
    task.assembler = undefined;
    if (task.timeoutMs !== undefined) {
      const timeoutMs = task.timeoutMs;
      task.timer = this.#clock.setTimeout(
        () => this.#cancel(task, taskTimedOut(task.id, timeoutMs)),
        timeoutMs,
      );
    }
    const controller = new AbortController();
    task.governed = {
      item: task,
      preemptable: task.options.preemptable ?? false,
      controller,
      listed: true,
      kill: () => {
        if (task.worker === worker || worker.staleTaskId === task.id) this.#kill(worker, 'memory');
      },
    };
    controller.signal.addEventListener('abort', () => this.#governed(task, controller.signal.reason), {
      once: true,
    });
    worker.transport?.send(task.runLine.trimEnd());
    const start = { taskId: task.id, workerId: worker.id, attempt: task.attempts };
    this.emit('taskStarted', start);
    try {
      task.options.onStart?.(start);
    } catch (error) {
      worker.log.error({ err: error, taskId: task.id }, 'onStart threw; ignored');
    }
  }

  /** A memory governor aborted a running task: preempted (back in the queue) or killed. */
  #governed(task: PoolTask, reason: unknown): void {
    if (this.#tasks.get(task.id) !== task || task.worker === undefined) return;
    if (!isOrdoError(reason, GovernanceErrorCode.PREEMPTED)) {
      this.#cancel(task, reason);
      return;
    }
    // Preempted: the governor put the item back in the queue. Stop it on its worker and let it run again.
    const worker = task.worker;
    this.#stopOnWorker(worker, task);
    task.worker = undefined;
    task.governed = undefined;
    if (task.timer !== undefined) this.#clock.clearTimeout(task.timer);
    task.timer = undefined;
    // The governor enqueues the item right after the abort: look once it had the chance.
    queueMicrotask(() => {
      if (this.#tasks.get(task.id) !== task || task.worker !== undefined) return;
      if (!this.queue.has(task.id)) {
        this.#settle(task, reason);
        return;
      }
      this.emit('taskFailed', { taskId: task.id, workerId: worker.id, error: reason, willRetry: true });
      this.#pump();
    });
  }

  /** Cancels a task: out of the queue if waiting; CANCEL, then a kill after the grace period, if running. */
  #cancel(task: PoolTask, error: unknown): void {
    if (this.#tasks.get(task.id) !== task) return;
    const worker = task.worker;
    this.#settle(task, error);
    if (worker === undefined) this.queue.remove(task.id);
    else this.#stopOnWorker(worker, task);
  }

  /** Sends CANCEL for the task its worker runs; the worker is free once it answers, or killed after the grace. */
  #stopOnWorker(worker: Worker, task: PoolTask): void {
    if (worker.task !== task) return;
    worker.task = undefined;
    worker.staleTaskId = task.id;
    worker.state = 'cancelling';
    worker.transport?.send(encodeMessage({ type: 'CANCEL', taskId: task.id }).trimEnd());
    worker.timer = this.#clock.setTimeout(() => this.#kill(worker, 'cancel'), this.#graceMs);
  }

  /** Settles a task once: resolves with `result` when `error` is undefined. Emits the task event. */
  #settle(task: PoolTask, error: unknown, result?: unknown, willRetry = false): void {
    if (this.#tasks.get(task.id) !== task) return;
    if (task.timer !== undefined) this.#clock.clearTimeout(task.timer);
    task.timer = undefined;
    if (task.governed !== undefined) task.governed.listed = false;
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
    if (task !== undefined && task.worker === undefined) this.#settle(task, taskDropped(task.id, reason));
  }

  // ---- workers -------------------------------------------------------------------------------------

  #spawn(): void {
    const id = `w${this.#nextWorker++}`;
    let markExited: () => void = () => {};
    const worker: Worker = {
      id,
      transport: undefined,
      pid: undefined,
      exited: new Promise<void>((resolve) => {
        markExited = resolve;
      }),
      markExited: () => markExited(),
      state: 'starting',
      task: undefined,
      staleTaskId: undefined,
      timer: undefined,
      lastSeenAt: this.#clock.now(),
      stallTimer: undefined,
      exitReason: undefined,
      handshakeError: undefined,
      startError: undefined,
      stderr: [],
      memoryWarned: false,
      log: this.#logger.child({ workerId: id }),
    };
    this.#workers.set(id, worker);
    const events: TransportEvents = {
      line: (line) => this.#onLine(worker, line),
      overflow: (length) => this.#onOverflow(worker, length),
      stderr: (line) => {
        worker.stderr.push(line);
        if (worker.stderr.length > STDERR_TAIL) worker.stderr.shift();
        worker.log.warn({ stream: 'stderr' }, line);
      },
      exit: (exit) => this.#onExit(worker, exit),
    };
    const ipcEnv = {
      [IpcEnv.VERSION]: String(IPC_PROTOCOL_VERSION),
      [IpcEnv.MAX_MESSAGE_BYTES]: String(this.#maxMessageBytes),
      [IpcEnv.REPORT_INTERVAL_MS]: String(this.#reportIntervalMs),
    };
    const o = this.#options;
    if (o.launcher === undefined) {
      try {
        const transport = startChildWorker(
          {
            entry: o.entry as string,
            args: o.args ?? [],
            execArgv: o.execArgv ?? [],
            env: { ...o.env, ...ipcEnv },
            heapMB: this.heapMB,
            maxLineLength: Math.max(this.#maxMessageBytes, 65_536) * 4,
          },
          events,
          worker.log,
        );
        this.#attach(worker, transport);
      } catch (error) {
        // Counted like a crash, so a host that cannot spawn at all ends degraded rather than looping.
        worker.startError = error;
        this.#onExit(worker, { code: null, signal: null, reason: 'could not spawn' });
      }
      return;
    }
    const spec = o.spec ?? {};
    const nodeOptions = [spec.env?.NODE_OPTIONS, `--max-old-space-size=${this.heapMB}`]
      .filter((part) => part !== undefined && part !== '')
      .join(' ');
    startLauncherWorker(
      o.launcher,
      id,
      { ...spec, env: { ...spec.env, ...ipcEnv, NODE_OPTIONS: nodeOptions } },
      events,
      this.#clock,
      worker.log,
    ).then(
      (transport) => this.#attach(worker, transport),
      (error: unknown) => {
        worker.startError = error;
        this.#onExit(worker, { code: null, signal: null, reason: 'the launcher could not start it' });
      },
    );
  }

  #attach(worker: Worker, transport: WorkerTransport): void {
    worker.transport = transport;
    worker.pid = transport.pid;
    worker.log = worker.log.child({ pid: transport.pid });
    if (worker.state === 'exited') {
      transport.kill();
      return;
    }
    // Killed or retired while it was starting: end it now.
    if (worker.state === 'stopping') transport.kill();
    // The startup limit runs from here, when the worker exists: a launcher's spawn may wait for one (a
    // remote endpoint waits for a worker to join), and that wait is no failed start.
    else worker.timer = this.#clock.setTimeout(() => this.#kill(worker, 'startup'), this.#startupTimeoutMs);
    worker.log.info({ heapMB: this.heapMB }, 'worker spawned');
    this.emit('workerSpawned', { workerId: worker.id, pid: transport.pid });
    transport.listen();
  }

  #onLine(worker: Worker, line: string): void {
    const parsed = parseChildMessage(line);
    if (parsed.ok) {
      this.#seen(worker);
      this.#onMessage(worker, parsed.message);
    } else if (parsed.kind === 'text') {
      this.#textLines++;
      worker.log.info({ stream: 'stdout' }, line);
    } else {
      this.#invalid++;
      worker.log.warn(
        { line: line.slice(0, 200), reason: parsed.reason },
        'worker sent an invalid message; ignored',
      );
    }
  }

  #onOverflow(worker: Worker, length: number): void {
    this.#invalid++;
    worker.log.warn({ length }, 'worker printed a line longer than the limit; dropped');
    const task = worker.task;
    if (task !== undefined) {
      this.#finishTask(
        worker,
        task,
        new IpcResultError(task.id, new RangeError(`a ${length}-character line was dropped`)),
      );
    }
  }

  // ---- stall detection -----------------------------------------------------------------------------

  /** The worker spoke: its heartbeat is fresh. */
  #seen(worker: Worker): void {
    worker.lastSeenAt = this.#clock.now();
  }

  /** Checks the worker's heartbeat once `stallTimeoutMs` could have passed since it last spoke. */
  #watch(worker: Worker): void {
    if (worker.stallTimer !== undefined) this.#clock.clearTimeout(worker.stallTimer);
    const due = worker.lastSeenAt + this.#stallTimeoutMs - this.#clock.now();
    worker.stallTimer = this.#clock.setTimeout(() => this.#checkStall(worker), Math.max(1, due), {
      unref: true,
    });
  }

  #checkStall(worker: Worker): void {
    worker.stallTimer = undefined;
    if (worker.state === 'exited' || worker.state === 'stopping') return;
    const silentMs = this.#clock.now() - worker.lastSeenAt;
    if (silentMs <= this.#stallTimeoutMs) {
      this.#watch(worker);
      return;
    }
    this.#stalls++;
    const task = worker.task;
    worker.log.warn(
      { silentMs, stallTimeoutMs: this.#stallTimeoutMs, taskId: task?.id },
      'worker stalled (no heartbeat); killing it',
    );
    this.emit('stalled', { workerId: worker.id, pid: worker.pid, taskId: task?.id, silentMs });
    if (task !== undefined) {
      worker.task = undefined;
      worker.staleTaskId = task.id;
      this.#settle(task, taskStalled(task.id, worker.id, this.#stallTimeoutMs, silentMs));
    }
    this.#kill(worker, 'stalled');
  }

  // ---- messages ------------------------------------------------------------------------------------

  #onMessage(worker: Worker, message: ChildMessage): void {
    const log = worker.log;
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
        this.#watch(worker);
        this.emit('workerReady', { workerId: worker.id, pid: worker.pid });
        this.#settleReadyWaiters(undefined);
        this.#release(worker);
        break;
      case 'MEMORY':
        if (message.rss > this.#rssWarnBytes && !worker.memoryWarned) {
          worker.memoryWarned = true;
          const { rss, heapUsed } = message;
          log.warn({ rss, heapUsed }, 'worker memory above rssWarnBytes');
          const taskId = worker.task?.id;
          this.emit('memoryWarning', { workerId: worker.id, pid: worker.pid, rss, heapUsed, taskId });
        } else if (message.rss <= this.#rssWarnBytes) worker.memoryWarned = false;
        break;
      case 'HEARTBEAT':
        break;
      case 'LOG':
        log[message.level]({ stream: 'worker' }, message.msg);
        break;
      default:
        this.#onTaskMessage(worker, message);
    }
  }

  #onTaskMessage(worker: Worker, message: Extract<ChildMessage, { taskId: string }>): void {
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
      worker.log.warn(
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
          worker.log.error({ err: error, taskId: task.id }, 'onProgress threw; ignored');
        }
        break;
      case 'COMPLETE':
        this.#finishTask(worker, task, undefined, message.result);
        break;
      case 'FAILED':
        this.#finishTask(worker, task, taskFailed(task.id, worker.id, message.error));
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
    if (worker.transport === undefined) return; // still launching: ended once it is attached
    worker.transport.send(encodeMessage({ type: 'SHUTDOWN' }).trimEnd());
    worker.transport.shutdown();
    worker.timer = this.#clock.setTimeout(() => this.#kill(worker, reason), this.#graceMs);
  }

  #kill(worker: Worker, reason: WorkerExitReason): void {
    if (worker.state === 'exited') return;
    this.#clearTimer(worker);
    worker.exitReason ??= reason;
    worker.state = 'stopping';
    worker.transport?.kill();
  }

  #onExit(worker: Worker, exit: TransportExit): void {
    if (worker.state === 'exited') return;
    const wasStarting = worker.exitReason === undefined && worker.state === 'starting';
    this.#clearTimer(worker);
    if (worker.stallTimer !== undefined) this.#clock.clearTimeout(worker.stallTimer);
    worker.stallTimer = undefined;
    worker.state = 'exited';
    this.#workers.delete(worker.id);
    const stderr = exit.stderr !== undefined && exit.stderr.length > 0 ? exit.stderr : worker.stderr;
    const info: WorkerExitInfo = {
      workerId: worker.id,
      pid: worker.pid,
      code: exit.code,
      signal: exit.signal,
      stderr: [...stderr].slice(-STDERR_TAIL),
      ...(exit.reason === undefined ? {} : { reason: exit.reason }),
    };
    const oom =
      OOM_TEXT.test(info.stderr.join('\n')) ||
      OOM_TEXT.test(exit.reason ?? '') ||
      exit.signal === 'SIGABRT' ||
      exit.code === 134;
    const reason: WorkerExitReason = worker.exitReason ?? (oom ? 'oom' : wasStarting ? 'startup' : 'crash');
    const log = worker.log;
    if (UNEXPECTED.has(reason)) {
      const crash =
        worker.handshakeError ??
        (worker.startError !== undefined
          ? isOrdoError(worker.startError)
            ? worker.startError // the launcher's own error says what to do (image not found, breaker open)
            : workerStartFailed(describe(worker.startError), worker.startError)
          : workerCrashed('A worker exited unexpectedly', info));
      this.#recordCrash(crash);
      log.warn(
        { code: exit.code, signal: exit.signal, reason, stderr: info.stderr },
        'worker exited unexpectedly',
      );
    } else log.info({ code: exit.code, signal: exit.signal, reason }, 'worker exited');
    this.emit('workerExited', {
      workerId: worker.id,
      pid: worker.pid,
      code: exit.code,
      signal: exit.signal,
      reason,
    });
    if (reason === 'oom') this.emit('oom', worker.id);

    const task = worker.task;
    worker.task = undefined;
    if (task !== undefined) {
      const error = oom
        ? workerOom(task.id, this.heapMB, info)
        : workerCrashed(`Task ${task.id} failed`, info);
      const willRetry =
        this.#closing === undefined && reason !== 'memory' && task.attempts <= (task.options.retries ?? 0);
      this.#settle(task, error, undefined, willRetry);
      if (willRetry) this.#requeue(task, error);
    }
    const fatal =
      worker.handshakeError ??
      (isOrdoError(worker.startError, 'POOL_LAUNCHER_UNSUPPORTED') ? worker.startError : undefined);
    if (fatal !== undefined) {
      // Every worker of this pool would fail the same way: fail what waits rather than loop.
      this.#failQueued(fatal);
      this.#settleReadyWaiters(fatal);
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
    if (this.#readyWaiters.size > 0 && ![...this.#workers.values()].some((w) => w.state === 'starting')) {
      // Nothing is starting any more and nothing got ready: the start failed.
      this.#settleReadyWaiters(
        this.degraded
          ? new PoolRestartBudgetError(this.#maxRestarts, this.#lastCrash)
          : isOrdoError(this.#lastCrash, 'WORKER_CRASHED')
            ? workerStartFailed(
                `worker ${worker.id} ended before it was ready (${exitText(info)})`,
                this.#lastCrash,
              )
            : (this.#lastCrash ?? workerStartFailed('every worker ended before it was ready')),
      );
    }
    this.#pump();
    if (
      REPLACED.has(reason) &&
      this.#closing === undefined &&
      !this.degraded &&
      this.#workers.size < this.maxWorkers
    ) {
      // A worker that was serving died: its replacement starts now, not when the next task comes.
      this.#spawn();
    }
    worker.markExited();
  }

  /** Resolves (`error` undefined) or rejects every `start()` waiting for a ready worker. */
  #settleReadyWaiters(error: unknown): void {
    const waiters = [...this.#readyWaiters];
    this.#readyWaiters.clear();
    for (const waiter of waiters) {
      if (error === undefined) waiter.resolve();
      else waiter.reject(error);
    }
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

/** What an aborted task rejects with: an ordo error reason as it is, anything else as `TASK_CANCELLED`. */
function abortError(taskId: string, reason: unknown): unknown {
  return isOrdoError(reason) ? reason : taskCancelled(taskId, reason);
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function exitText(info: WorkerExitInfo): string {
  return info.reason ?? (info.signal ? `signal ${info.signal}` : `exit code ${info.code}`);
}

/**
 * Makes the worker pool (the `createX` way every long-lived ordo component is made; the class is exported for its
 * type and `instanceof`, and `new WorkerPool(…)` keeps working).
 *
 * @example
 * ```ts
 * const pool = createWorkerPool<{ n: number }, number>({ launcher, maxWorkers: 4 });
 * const result = await pool.run({ n: 1 });
 * ```
 */
export function createWorkerPool<P = unknown, R = unknown>(options: WorkerPoolOptions): WorkerPool<P, R> {
  return new WorkerPool<P, R>(options);
}
