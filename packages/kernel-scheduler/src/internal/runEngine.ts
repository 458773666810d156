import type { Clock, Logger } from '@ordo/contracts';
import type { LimitFunction } from 'p-limit';
import { type CancelReason, SchedulerError, SchedulerErrorCode } from '../errors.js';
import type { Run, StatusCounts, Task, TaskContext, TaskRecord } from '../task.js';
import {
  chainDigest,
  genesisDigest,
  resultDigest,
  type TaskStatus,
  TRACE_VERSION,
  type TraceEntry,
} from '../trace.js';

/** The edges of a task graph, by commit position. */
export interface PlanGraph {
  /** For each task, the positions of the tasks that depend on it. */
  readonly dependents: readonly (readonly number[])[];
  /** For each task, how many distinct dependencies it has. */
  readonly depCounts: readonly number[];
  /** Where each level starts in commit order. */
  readonly levelStarts: readonly number[];
  /** `levels`: start a level once the previous one committed; `eager`: start a task once its deps committed. */
  readonly mode: 'levels' | 'eager';
}

/** What the engine reports to its scheduler. */
export interface EngineHooks {
  start(runId: string, seq: number, id: string, startedAt: number): void;
  settle(record: TaskRecord): void;
  commit(record: TaskRecord): void;
  end(run: Run, error: unknown): void;
}

export interface EngineOptions<T> {
  readonly runId: string;
  readonly seed: string;
  /** The tasks in commit order. */
  readonly tasks: readonly Task<T>[];
  /** The graph's edges; `undefined` for a flat run, where every task is ready at once. */
  readonly graph: PlanGraph | undefined;
  readonly limit: LimitFunction;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly failFast: boolean;
  readonly taskTimeoutMs: number | undefined;
  readonly hooks: EngineHooks;
  readonly onCommit: ((record: TaskRecord<T>) => void) | undefined;
}

enum State {
  Waiting = 0,
  Queued = 1,
  Running = 2,
  Settled = 3,
}

const isFailure = (status: TaskStatus) => status === 'failed' || status === 'timed_out';

/**
 * Runs one plan: starts nodes as their level (or their dependencies) allow, on workers that each hold one
 * slot of the scheduler's shared p-limit, and commits settled records strictly in plan order, chaining the
 * trace as it goes.
 */
export class RunEngine<T> {
  readonly #o: EngineOptions<T>;
  readonly #state: Uint8Array;
  readonly #results: (TaskRecord<T> | undefined)[];
  /** Graphs only: how many dependencies of each task have not committed yet (eager mode). */
  readonly #pendingDeps: number[] | undefined;
  /** Graphs only: the first dependency of each task that did not succeed. */
  readonly #blockedBy: (string | undefined)[] | undefined;
  /** The attempt of each running task, by commit position. */
  readonly #running: (Attempt<T> | undefined)[] = [];
  /** Queued tasks in start order; `#readyHead` is the next to start. */
  readonly #ready: number[] = [];
  #readyHead = 0;
  #workers = 0;
  readonly #records: TaskRecord<T>[] = [];
  readonly #entries: TraceEntry[] = [];
  readonly #counts: StatusCounts = { ok: 0, failed: 0, timed_out: 0, cancelled: 0 };
  readonly #order: string[];
  #digest: string;
  #next = 0;
  #level = 0;
  #draining = false;
  #finished = false;
  #tripped = false;
  #stopped: Extract<CancelReason, 'aborted' | 'closed'> | undefined;
  #error: unknown;
  #callbackFailed = false;
  readonly #startedAt: number;
  readonly #done: Promise<Run<T>>;
  #resolve!: (run: Run<T>) => void;
  #reject!: (error: unknown) => void;

  constructor(options: EngineOptions<T>) {
    this.#o = options;
    const n = options.tasks.length;
    this.#state = new Uint8Array(n); // all State.Waiting
    this.#results = new Array<TaskRecord<T> | undefined>(n);
    this.#pendingDeps = options.graph && [...options.graph.depCounts];
    this.#blockedBy = options.graph && new Array<string | undefined>(n);
    this.#order = options.tasks.map((task) => task.id);
    this.#digest = genesisDigest(options.seed, this.#order);
    this.#startedAt = options.clock.now();
    this.#done = new Promise<Run<T>>((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
  }

  /** Starts the run; resolves with the run, or rejects with the stop reason after the `end` event. */
  start(): Promise<Run<T>> {
    const { tasks, graph } = this.#o;
    if (graph === undefined) {
      for (let seq = 0; seq < tasks.length; seq++) this.#launch(seq);
    } else if (graph.mode === 'levels') {
      this.#launchLevel(graph, 0);
    } else {
      for (let seq = 0; seq < tasks.length; seq++) if (graph.depCounts[seq] === 0) this.#launch(seq);
    }
    this.#drain();
    return this.#done;
  }

  /** Stops the run: every task not yet committed is recorded `cancelled`, running ones are aborted. */
  stop(reason: Extract<CancelReason, 'aborted' | 'closed'>, error: unknown): void {
    if (this.#finished || this.#stopped) return;
    this.#stopped = reason;
    this.#error = error;
    this.#cancelFrom(this.#next, reason);
    this.#drain();
  }

  #launchLevel(graph: PlanGraph, level: number): void {
    if (level >= graph.levelStarts.length) return;
    this.#level = level;
    const end = graph.levelStarts[level + 1] ?? this.#o.tasks.length;
    for (let seq = graph.levelStarts[level] as number; seq < end; seq++) this.#launch(seq);
  }

  /** After a graph task committed: block its dependents if it did not succeed, and start what is now ready. */
  #advance(graph: PlanGraph, record: TaskRecord<T>): void {
    const dependents = graph.dependents[record.seq] as readonly number[];
    if (record.status !== 'ok') {
      for (const d of dependents) (this.#blockedBy as (string | undefined)[])[d] ??= record.id;
    }
    if (graph.mode === 'eager') {
      const pending = this.#pendingDeps as number[];
      for (const d of dependents) if (--(pending[d] as number) === 0) this.#launch(d);
    } else if (this.#next === graph.levelStarts[this.#level + 1]) {
      this.#launchLevel(graph, this.#level + 1);
    }
  }

  #launch(seq: number): void {
    if (this.#state[seq] !== State.Waiting) return;
    const blockedBy = this.#blockedBy?.[seq];
    if (blockedBy !== undefined) {
      this.#settle(seq, this.#cancelled(seq, 'dependency', blockedBy));
      return;
    }
    this.#state[seq] = State.Queued;
    this.#ready.push(seq);
    if (this.#workers < this.#o.limit.concurrency) {
      this.#workers++;
      void this.#o.limit(() => this.#work());
    }
  }

  /**
   * A worker holds one slot of the shared limit and runs ready tasks one after another until none is left,
   * so the limit is paid per worker, not per task.
   */
  async #work(): Promise<void> {
    const ready = this.#ready;
    while (this.#readyHead < ready.length && !this.#finished) {
      const running = this.#execute(ready[this.#readyHead++] as number);
      if (running) await running;
    }
    if (this.#readyHead === ready.length) {
      ready.length = 0;
      this.#readyHead = 0;
    }
    this.#workers--;
  }

  /**
   * Starts one task. Returns what its worker waits for: the task itself, or, when a timeout is armed, the
   * task or its timeout, whichever comes first (so a timed-out task frees its slot at once).
   */
  #execute(seq: number): PromiseLike<void> | undefined {
    if (this.#state[seq] !== State.Queued) return undefined;
    this.#state[seq] = State.Running;
    const task = this.#o.tasks[seq] as Task<T>;
    const startedAt = this.#o.clock.now();
    this.#o.hooks.start(this.#o.runId, seq, task.id, startedAt);
    const attempt = new Attempt(this, seq, task, startedAt);
    this.#running[seq] = attempt;
    const timeoutMs = task.timeoutMs ?? this.#o.taskTimeoutMs;
    const released = timeoutMs === undefined ? undefined : attempt.armTimeout(this.#o.clock, timeoutMs);
    let settled: PromiseLike<void> | undefined;
    try {
      const result = task.run(attempt.context());
      if (isPromiseLike(result)) {
        settled = result.then(
          (value) => attempt.finish('ok', value, undefined),
          (error: unknown) => attempt.finish('failed', undefined, error),
        );
      } else {
        attempt.finish('ok', result, undefined);
      }
    } catch (error) {
      // run() threw, or returned a thenable whose `then` threw.
      attempt.finish('failed', undefined, error);
    }
    return settled && (released ?? settled);
  }

  /** @internal called by an {@link Attempt} exactly once. */
  attemptSettled(attempt: Attempt<T>, status: TaskStatus, value: T | undefined, error: unknown): void {
    this.#running[attempt.seq] = undefined;
    if (this.#state[attempt.seq] !== State.Running) return;
    this.#settle(attempt.seq, {
      runId: this.#o.runId,
      seq: attempt.seq,
      id: attempt.id,
      status,
      value,
      error,
      startedAt: attempt.startedAt,
      endedAt: this.#o.clock.now(),
    });
  }

  get runId(): string {
    return this.#o.runId;
  }

  get logger(): Logger {
    return this.#o.logger;
  }

  #settle(seq: number, record: TaskRecord<T>): void {
    this.#state[seq] = State.Settled;
    this.#results[seq] = record;
    this.#o.hooks.settle(record);
    this.#drain();
  }

  #cancelled(seq: number, reason: CancelReason, dependency?: string): TaskRecord<T> {
    const { id } = this.#o.tasks[seq] as Task<T>;
    const why = {
      'fail-fast': 'an earlier task failed and failFast is on',
      dependency: `its dependency "${dependency}" did not succeed`,
      aborted: "the caller's signal aborted the run",
      closed: 'the scheduler was closed',
    }[reason];
    const error = new SchedulerError(SchedulerErrorCode.CANCELLED, `Task "${id}" was cancelled: ${why}.`, {
      details: dependency === undefined ? { id, reason } : { id, reason, dependency },
    });
    // A running task ends now; one that had already settled keeps its times; one never started has none.
    const attempt = this.#running[seq];
    const settled = this.#results[seq];
    return {
      runId: this.#o.runId,
      seq,
      id,
      status: 'cancelled',
      value: undefined,
      error,
      startedAt: attempt?.startedAt ?? settled?.startedAt,
      endedAt: attempt ? this.#o.clock.now() : settled?.endedAt,
    };
  }

  /** Records every uncommitted task from `from` on as cancelled, aborting the running ones. */
  #cancelFrom(from: number, reason: CancelReason): void {
    const n = this.#o.tasks.length;
    for (let seq = from; seq < n; seq++) {
      const record = this.#cancelled(seq, reason);
      const wasSettled = this.#state[seq] === State.Settled;
      this.#state[seq] = State.Settled;
      this.#results[seq] = record;
      this.#running[seq]?.cancel(record.error);
      if (!wasSettled) this.#o.hooks.settle(record);
    }
  }

  #drain(): void {
    if (this.#draining || this.#finished) return;
    this.#draining = true;
    try {
      const { tasks, graph } = this.#o;
      for (let record = this.#results[this.#next]; record; record = this.#results[this.#next]) {
        this.#commit(record);
        if (graph) this.#advance(graph, record);
      }
      if (this.#next === tasks.length) this.#finish();
    } finally {
      this.#draining = false;
    }
  }

  #commit(record: TaskRecord<T>): void {
    const seq = this.#next++;
    this.#results[seq] = undefined;
    const digest = resultDigest(record.status, record.value, record.error);
    const entry = { seq, id: record.id, status: record.status, resultDigest: digest, digest: '' };
    entry.digest = this.#digest = chainDigest(this.#digest, entry);
    this.#entries.push(entry);
    this.#records.push(record);
    this.#counts[record.status]++;
    this.#o.hooks.commit(record);
    if (this.#o.onCommit && !this.#callbackFailed) {
      try {
        this.#o.onCommit(record);
      } catch (error) {
        this.#callbackFailed = true;
        this.stop('aborted', error);
      }
    }
    if (this.#o.failFast && !this.#tripped && isFailure(record.status)) {
      this.#tripped = true;
      this.#cancelFrom(this.#next, 'fail-fast');
    }
  }

  #finish(): void {
    this.#finished = true;
    const records = this.#records;
    const run: Run<T> = {
      runId: this.#o.runId,
      seed: this.#o.seed,
      records,
      trace: {
        version: TRACE_VERSION,
        seed: this.#o.seed,
        order: this.#order,
        entries: this.#entries,
        digest: this.#digest,
      },
      counts: this.#counts,
      ok: this.#counts.ok === records.length,
      stopped: this.#stopped,
      startedAt: this.#startedAt,
      endedAt: this.#o.clock.now(),
    };
    this.#o.hooks.end(run as Run, this.#error);
    if (this.#stopped) this.#reject(this.#error);
    else this.#resolve(run);
  }
}

/**
 * One start of a task. Its {@link TaskContext} is a plain object whose `signal` getter makes the abort
 * controller only when a task reads it, so tasks that never look at it cost no controller; spreading the
 * context (`{ ...ctx }`) reads the getter and keeps a working signal.
 */
class Attempt<T> {
  readonly #engine: RunEngine<T>;
  readonly #task: Task<T>;
  /** Set when a timeout is armed: frees the worker when the attempt finishes, however it finishes. */
  #release: (() => void) | undefined;
  #controller: AbortController | undefined;
  #abortReason: unknown;
  #aborted = false;
  #done = false;
  #timer: unknown;
  #clock: Clock | undefined;
  #logger: Logger | undefined;

  constructor(
    engine: RunEngine<T>,
    readonly seq: number,
    task: Task<T>,
    readonly startedAt: number,
  ) {
    this.#engine = engine;
    this.#task = task;
  }

  get id(): string {
    return this.#task.id;
  }

  /** The context handed to the task's `run`. */
  context(): TaskContext {
    const attempt = this;
    return {
      attempt: 1,
      id: this.#task.id,
      runId: this.#engine.runId,
      get signal() {
        return attempt.#signal();
      },
      get logger() {
        attempt.#logger ??= attempt.#engine.logger.child({ runId: this.runId, taskId: this.id });
        return attempt.#logger;
      },
    };
  }

  #signal(): AbortSignal {
    if (!this.#controller) {
      this.#controller = new AbortController();
      if (this.#aborted) this.#controller.abort(this.#abortReason);
    }
    return this.#controller.signal;
  }

  /** Arms the timeout; the promise resolves when the attempt finishes (by the task, the timeout or a cancel). */
  armTimeout(clock: Clock, ms: number): Promise<void> {
    const released = new Promise<void>((resolve) => {
      this.#release = resolve;
    });
    this.#clock = clock;
    this.#timer = clock.setTimeout(() => {
      this.#timer = undefined;
      const error = new SchedulerError(
        SchedulerErrorCode.TIMEOUT,
        `Task "${this.#task.id}" timed out after ${ms} ms. Raise its timeoutMs or make it finish sooner.`,
        { details: { id: this.#task.id, timeoutMs: ms } },
      );
      this.#abort(error);
      this.finish('timed_out', undefined, error);
    }, ms);
    return released;
  }

  /** Aborts the task because the engine recorded it cancelled; the record is already set. */
  cancel(reason: unknown): void {
    this.#abort(reason);
    this.finish('cancelled', undefined, reason);
  }

  finish(status: TaskStatus, value: T | undefined, error: unknown): void {
    if (this.#done) return;
    this.#done = true;
    if (this.#timer !== undefined) this.#clock?.clearTimeout(this.#timer);
    this.#engine.attemptSettled(this, status, value, error);
    this.#release?.();
  }

  #abort(reason: unknown): void {
    if (this.#aborted) return;
    this.#aborted = true;
    this.#abortReason = reason;
    this.#controller?.abort(reason);
  }
}

function isPromiseLike<T>(value: T | PromiseLike<T>): value is PromiseLike<T> {
  return typeof value === 'object' && value !== null && typeof (value as PromiseLike<T>).then === 'function';
}
