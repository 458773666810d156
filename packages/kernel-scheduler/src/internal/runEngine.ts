import {
  type Clock,
  type Logger,
  TaskCancelledError,
  type TaskRunStatus,
  TaskTimeoutError,
} from '@ordo/contracts';
import type { LimitFunction } from 'p-limit';
import { type CancelReason, SchedulerError, SchedulerErrorCode } from '../errors.js';
import type { Run, StatusCounts, Task, TaskContext, TaskRecord } from '../task.js';
import {
  errorDigest,
  NULL_DIGEST,
  type Trace,
  TraceBuilder,
  type TraceOptions,
  valueDigest,
} from '../trace.js';

/** The edges of a task graph, by commit position. */
export interface PlanGraph {
  /** For each task, the positions of the tasks that depend on it. */
  readonly dependents: readonly (readonly number[])[];
  /** For each task, how many distinct dependencies it has. */
  readonly depCounts: readonly number[];
  /** For each task, the positions of the tasks ordered after it (their `after` names it). */
  readonly followers: readonly (readonly number[])[];
  /** For each task, how many distinct tasks it is ordered after. */
  readonly afterCounts: readonly number[];
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
  end(run: Run<unknown, Trace | undefined>, error: unknown): void;
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
  /** Whether to digest results and chain the trace; `false` leaves `run.trace` undefined. */
  readonly trace: boolean;
  /** What the trace records of the options (bound into its genesis digest). */
  readonly traceOptions: TraceOptions;
  readonly hooks: EngineHooks;
  readonly onCommit: ((record: TaskRecord<T>) => void) | undefined;
}

enum State {
  Waiting = 0,
  Queued = 1,
  Running = 2,
  Settled = 3,
}

const isFailure = (status: TaskRunStatus) => status === 'failed' || status === 'timed_out';

/**
 * Runs one plan: starts nodes as their level (or their dependencies) allow, on workers that each hold one
 * slot of the scheduler's shared p-limit, and commits settled records strictly in plan order, chaining the
 * trace as it goes.
 */
export class RunEngine<T> {
  readonly #o: EngineOptions<T>;
  readonly #state: Uint8Array;
  readonly #results: (TaskRecord<T> | undefined)[];
  /** The result digest of each settled, uncommitted task (trace on only), computed when it settled. */
  readonly #resultDigests: (string | undefined)[];
  /** Graphs only: how many dependencies of each task have not committed yet (eager mode). */
  readonly #pendingDeps: number[] | undefined;
  /** Graphs only: how many of each task's `after` tasks have not committed yet. */
  readonly #pendingAfter: number[] | undefined;
  /** Graphs only: the first dependency of each task that did not succeed. */
  readonly #blockedBy: (string | undefined)[] | undefined;
  /** The attempt of each running task, by commit position. */
  readonly #running: (Attempt<T> | undefined)[] = [];
  /** Queued tasks in start order; `#readyHead` is the next to start. */
  readonly #ready: number[] = [];
  #readyHead = 0;
  #workers = 0;
  readonly #records: TaskRecord<T>[] = [];
  /** The trace being built (trace on only). */
  readonly #trace: TraceBuilder | undefined;
  readonly #counts: StatusCounts = { ok: 0, failed: 0, timed_out: 0, cancelled: 0 };
  #next = 0;
  /** Whether the task at `#next` is in its commit stage (its `commit` hook runs). */
  #committing = false;
  /** The position whose commit hook has finished (its record holds the hook's outcome). */
  #hooked = -1;
  #level = 0;
  #draining = false;
  #finished = false;
  #tripped = false;
  #stopped: Extract<CancelReason, 'aborted' | 'closed'> | undefined;
  /** The commit stages' signal: aborted (with the stop's error) when the run stops. Made at the first commit. */
  #commitAbort: AbortController | undefined;
  #error: unknown;
  #callbackFailed = false;
  readonly #startedAt: number;
  readonly #done: Promise<Run<T, Trace | undefined>>;
  #resolve!: (run: Run<T, Trace | undefined>) => void;
  #reject!: (error: unknown) => void;

  constructor(options: EngineOptions<T>) {
    this.#o = options;
    const n = options.tasks.length;
    this.#state = new Uint8Array(n); // all State.Waiting
    this.#results = new Array<TaskRecord<T> | undefined>(n);
    this.#resultDigests = options.trace ? new Array<string | undefined>(n) : [];
    this.#pendingDeps = options.graph && [...options.graph.depCounts];
    this.#pendingAfter = options.graph && [...options.graph.afterCounts];
    this.#blockedBy = options.graph && new Array<string | undefined>(n);
    this.#trace = options.trace
      ? new TraceBuilder(
          options.seed,
          options.traceOptions,
          options.tasks.map((task) => task.id),
        )
      : undefined;
    this.#startedAt = options.clock.now();
    this.#done = new Promise<Run<T, Trace | undefined>>((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
  }

  /** Starts the run; resolves with the run, or rejects with the stop reason after the `end` event. */
  start(): Promise<Run<T, Trace | undefined>> {
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
    this.#commitAbort?.abort(error);
    // A commit in progress is awaited: its task keeps the outcome of its commit.
    this.#cancelFrom(this.#committing ? this.#next + 1 : this.#next, reason);
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
    const pendingAfter = this.#pendingAfter as number[];
    if (graph.mode === 'eager') {
      const pending = this.#pendingDeps as number[];
      for (const d of dependents) if (--(pending[d] as number) === 0) this.#launch(d);
      for (const f of graph.followers[record.seq] as readonly number[]) {
        if (--(pendingAfter[f] as number) === 0 && pending[f] === 0) this.#launch(f);
      }
    } else {
      const levelEnd = graph.levelStarts[this.#level + 1] ?? this.#o.tasks.length;
      for (const f of graph.followers[record.seq] as readonly number[]) {
        // A follower of a later level starts with its level (by then this task has long committed).
        if (--(pendingAfter[f] as number) === 0 && f < levelEnd) this.#launch(f);
      }
      if (this.#next === graph.levelStarts[this.#level + 1]) this.#launchLevel(graph, this.#level + 1);
    }
  }

  #launch(seq: number): void {
    if (this.#state[seq] !== State.Waiting) return;
    const blockedBy = this.#blockedBy?.[seq];
    if (blockedBy !== undefined) {
      this.#settle(seq, this.#cancelled(seq, 'dependency', blockedBy));
      return;
    }
    // Ordered after a task that has not committed yet: launched again when it has.
    if ((this.#pendingAfter?.[seq] ?? 0) > 0) return;
    this.#state[seq] = State.Queued;
    this.#ready.push(seq);
    if (this.#workers < this.#o.limit.concurrency) {
      this.#workers++;
      void this.#o.limit(() => this.#work());
    }
  }

  /**
   * A worker holds one slot of the shared limit and runs ready tasks one after another until none is left,
   * so the limit is paid per worker, not per task. A task without a timeout is awaited directly (no
   * per-task closures); one with a timeout goes through {@link RunEngine.#executeTimed}.
   */
  async #work(): Promise<void> {
    const ready = this.#ready;
    const tasks = this.#o.tasks;
    while (this.#readyHead < ready.length && !this.#finished) {
      const seq = ready[this.#readyHead++] as number;
      if (this.#state[seq] !== State.Queued) continue;
      this.#state[seq] = State.Running;
      const task = tasks[seq] as Task<T>;
      const startedAt = this.#o.clock.now();
      this.#o.hooks.start(this.#o.runId, seq, task.id, startedAt);
      const attempt = new Attempt(this, seq, task.id, startedAt);
      this.#running[seq] = attempt;
      const timeoutMs = task.timeoutMs ?? this.#o.taskTimeoutMs;
      if (timeoutMs !== undefined) {
        const running = this.#executeTimed(task, attempt, timeoutMs);
        if (running) await running;
        continue;
      }
      let status: TaskRunStatus = 'ok';
      let value: T | undefined;
      let error: unknown;
      try {
        const result = task.run(attempt);
        value = isPromiseLike(result) ? await result : result;
      } catch (thrown) {
        // run() threw, returned a promise that rejected, or a thenable whose `then` threw.
        status = 'failed';
        error = thrown;
        value = undefined;
      }
      Attempt.finish(attempt, status, value, error);
    }
    if (this.#readyHead === ready.length) {
      ready.length = 0;
      this.#readyHead = 0;
    }
    this.#workers--;
  }

  /**
   * Starts a task with a timeout. Returns what its worker waits for: the task or its timeout, whichever
   * comes first (so a timed-out task frees its slot at once); `undefined` when the task finished at once.
   */
  #executeTimed(task: Task<T>, attempt: Attempt<T>, timeoutMs: number): PromiseLike<void> | undefined {
    const released = Attempt.armTimeout(attempt, this.#o.clock, timeoutMs);
    try {
      const result = task.run(attempt);
      if (isPromiseLike(result)) {
        result.then(
          (value) => Attempt.finish(attempt, 'ok', value, undefined),
          (error: unknown) => Attempt.finish(attempt, 'failed', undefined, error),
        );
        return released;
      }
      Attempt.finish(attempt, 'ok', result, undefined);
    } catch (error) {
      Attempt.finish(attempt, 'failed', undefined, error);
    }
    return undefined;
  }

  /** @internal called by an {@link Attempt} exactly once. */
  attemptSettled(attempt: Attempt<T>, status: TaskRunStatus, value: T | undefined, error: unknown): void {
    const seq = attempt.seq;
    this.#running[seq] = undefined;
    if (this.#state[seq] !== State.Running) return;
    let finalStatus = status;
    let finalValue = value;
    let finalError = error;
    if (this.#o.trace) {
      // Digest now, as the value was returned; a value JSON cannot express fails the task. A task with a
      // commit stage is digested when its commit returns (what it returned then is its result).
      if (status === 'ok' && this.#o.tasks[seq]?.commit !== undefined) {
        // digested after the commit stage
      } else if (status === 'ok') {
        try {
          this.#resultDigests[seq] = valueDigest(value);
        } catch (cause) {
          finalStatus = 'failed';
          finalValue = undefined;
          finalError = unserializableResult(attempt.id, cause);
          this.#resultDigests[seq] = errorDigest(finalError);
        }
      } else {
        this.#resultDigests[seq] = status === 'failed' ? errorDigest(error) : NULL_DIGEST;
      }
    }
    this.#settle(seq, {
      runId: this.#o.runId,
      seq,
      id: attempt.id,
      status: finalStatus,
      value: finalValue,
      error: finalError,
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
    const error = new TaskCancelledError(`Task "${id}" was cancelled: ${why}.`, {
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
      const running = this.#running[seq];
      if (running) Attempt.cancel(running, record.error);
      if (!wasSettled) this.#o.hooks.settle(record);
    }
  }

  #drain(): void {
    if (this.#draining || this.#finished || this.#committing) return;
    this.#draining = true;
    try {
      const { tasks, graph } = this.#o;
      for (let record = this.#results[this.#next]; record; record = this.#results[this.#next]) {
        const seq = this.#next;
        if (record.status === 'ok' && this.#hooked !== seq && tasks[seq]?.commit !== undefined) {
          this.#startCommit(seq, tasks[seq] as Task<T>, record);
          // An asynchronous commit continues the drain when it returns.
          if (this.#committing) return;
          continue;
        }
        this.#commit(record);
        if (graph) this.#advance(graph, record);
      }
      if (this.#next === tasks.length) this.#finish();
    } finally {
      this.#draining = false;
    }
  }

  /** Runs the commit stage of the task at `seq` (the next to commit); its outcome replaces the record. */
  #startCommit(seq: number, task: Task<T>, record: TaskRecord<T>): void {
    this.#committing = true;
    this.#commitAbort ??= new AbortController();
    const signal = this.#commitAbort.signal;
    const context = { runId: this.#o.runId, id: task.id, seq, signal };
    let result: T | PromiseLike<T>;
    try {
      result = (task.commit as NonNullable<Task<T>['commit']>)(record.value as T, context);
    } catch (error) {
      this.#committed(seq, record, 'failed', undefined, error);
      return;
    }
    if (!isPromiseLike(result)) {
      this.#committed(seq, record, 'ok', result, undefined);
      return;
    }
    result.then(
      (value) => {
        this.#committed(seq, record, 'ok', value, undefined);
        this.#drain();
      },
      (error: unknown) => {
        if (signal.aborted && error === signal.reason) {
          // The commit gave up because the run stopped: the task is cancelled, like every later one.
          this.#committing = false;
          this.#hooked = seq;
          this.#results[seq] = this.#cancelled(seq, this.#stopped ?? 'aborted');
        } else this.#committed(seq, record, 'failed', undefined, error);
        this.#drain();
      },
    );
  }

  /** Records what a commit stage ended with, digesting it (a value JSON cannot express fails the task). */
  #committed(
    seq: number,
    record: TaskRecord<T>,
    status: 'ok' | 'failed',
    value: T | undefined,
    error: unknown,
  ): void {
    this.#committing = false;
    this.#hooked = seq;
    let finalStatus: TaskRunStatus = status;
    let finalValue = value;
    let finalError = error;
    if (this.#o.trace) {
      if (status === 'ok') {
        try {
          this.#resultDigests[seq] = valueDigest(value);
        } catch (cause) {
          finalStatus = 'failed';
          finalValue = undefined;
          finalError = unserializableResult(record.id, cause);
          this.#resultDigests[seq] = errorDigest(finalError);
        }
      } else {
        this.#resultDigests[seq] = errorDigest(error);
      }
    }
    this.#results[seq] = {
      ...record,
      status: finalStatus,
      value: finalValue,
      error: finalError,
      endedAt: this.#o.clock.now(),
    };
  }

  #commit(record: TaskRecord<T>): void {
    const seq = this.#next++;
    this.#results[seq] = undefined;
    if (this.#trace) {
      // A cancelled record (even one that had settled before fail-fast) digests as null.
      const result = record.status === 'cancelled' ? NULL_DIGEST : (this.#resultDigests[seq] as string);
      this.#resultDigests[seq] = undefined;
      this.#trace.append(record.id, record.status, result);
    }
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
    const run: Run<T, Trace | undefined> = {
      runId: this.#o.runId,
      seed: this.#o.seed,
      records,
      trace: this.#trace?.finish(),
      counts: this.#counts,
      ok: this.#counts.ok === records.length,
      stopped: this.#stopped,
      startedAt: this.#startedAt,
      endedAt: this.#o.clock.now(),
    };
    this.#o.hooks.end(run as Run<unknown, Trace | undefined>, this.#error);
    if (this.#stopped) this.#reject(this.#error);
    else this.#resolve(run);
  }
}

/**
 * One start of a task, which is also the {@link TaskContext} handed to its `run`: `id`, `runId` and
 * `attempt` are fields, `signal` and `logger` are getters on the prototype that make the abort controller
 * and the child logger only when a task reads them. The engine drives it through static methods, so the
 * task sees nothing but the context.
 */
class Attempt<T> implements TaskContext {
  readonly attempt = 1;
  readonly runId: string;
  readonly #engine: RunEngine<T>;
  #done = false;
  /** What only some attempts need (a signal, a logger, a timeout, an abort), made on first use. */
  #extra: AttemptExtra | undefined;

  constructor(
    engine: RunEngine<T>,
    readonly seq: number,
    readonly id: string,
    readonly startedAt: number,
  ) {
    this.#engine = engine;
    this.runId = engine.runId;
  }

  #extras(): AttemptExtra {
    if (this.#extra === undefined) this.#extra = new AttemptExtra();
    return this.#extra;
  }

  get signal(): AbortSignal {
    const extra = this.#extras();
    if (!extra.controller) {
      extra.controller = new AbortController();
      if (extra.aborted) extra.controller.abort(extra.abortReason);
    }
    return extra.controller.signal;
  }

  get logger(): Logger {
    const extra = this.#extras();
    extra.logger ??= this.#engine.logger.child({ runId: this.runId, taskId: this.id });
    return extra.logger;
  }

  /** Arms the timeout; the promise resolves when the attempt finishes (by the task, the timeout or a cancel). */
  static armTimeout<T>(attempt: Attempt<T>, clock: Clock, ms: number): Promise<void> {
    const extra = attempt.#extras();
    const released = new Promise<void>((resolve) => {
      extra.release = resolve;
    });
    extra.clock = clock;
    extra.timer = clock.setTimeout(() => {
      extra.timer = undefined;
      const error = new TaskTimeoutError(
        `Task "${attempt.id}" timed out after ${ms} ms. Raise its timeoutMs or make it finish sooner.`,
        { details: { id: attempt.id, timeoutMs: ms } },
      );
      Attempt.#abort(attempt, error);
      Attempt.finish(attempt, 'timed_out', undefined, error);
    }, ms);
    return released;
  }

  /** Aborts the task because the engine recorded it cancelled; the record is already set. */
  static cancel<T>(attempt: Attempt<T>, reason: unknown): void {
    Attempt.#abort(attempt, reason);
    Attempt.finish(attempt, 'cancelled', undefined, reason);
  }

  static finish<T>(attempt: Attempt<T>, status: TaskRunStatus, value: T | undefined, error: unknown): void {
    if (attempt.#done) return;
    attempt.#done = true;
    const extra = attempt.#extra;
    if (extra?.timer !== undefined) extra.clock?.clearTimeout(extra.timer);
    attempt.#engine.attemptSettled(attempt, status, value, error);
    extra?.release?.();
  }

  static #abort<T>(attempt: Attempt<T>, reason: unknown): void {
    const extra = attempt.#extras();
    if (extra.aborted) return;
    extra.aborted = true;
    extra.abortReason = reason;
    extra.controller?.abort(reason);
  }
}

/** The rarely needed part of an {@link Attempt}, kept apart so the common attempt stays small. */
class AttemptExtra {
  controller: AbortController | undefined = undefined;
  abortReason: unknown = undefined;
  aborted = false;
  logger: Logger | undefined = undefined;
  /** Set when a timeout is armed: frees the worker when the attempt finishes, however it finishes. */
  release: (() => void) | undefined = undefined;
  timer: unknown = undefined;
  clock: Clock | undefined = undefined;
}

function unserializableResult(id: string, cause: unknown): SchedulerError {
  const inner = cause as { message?: unknown; details?: Record<string, unknown> };
  return new SchedulerError(
    SchedulerErrorCode.UNSERIALIZABLE,
    `Task "${id}" returned a value the trace cannot digest: ${String(inner.message)} Or create the scheduler with trace: false.`,
    { details: { id, ...inner.details }, cause },
  );
}

function isPromiseLike<T>(value: T | PromiseLike<T>): value is PromiseLike<T> {
  return typeof value === 'object' && value !== null && typeof (value as PromiseLike<T>).then === 'function';
}
