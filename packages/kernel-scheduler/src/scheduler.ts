import { randomUUID } from 'node:crypto';
import { type Clock, type Logger, noopLogger, systemClock } from '@ordo/contracts';
import { EventEmitter } from 'eventemitter3';
import pLimit, { type LimitFunction } from 'p-limit';
import { SchedulerError, SchedulerErrorCode } from './errors.js';
import { type EngineHooks, type PlanGraph, RunEngine } from './internal/runEngine.js';
import { duplicateIdError, planLevels } from './planLevels.js';
import { planOrder } from './planOrder.js';
import { RunHistory } from './runHistory.js';
import type { GraphTask, Run, Task, TaskRecord } from './task.js';
import type { Trace } from './trace.js';

/** Options for {@link createScheduler}. */
export interface SchedulerOptions {
  /**
   * How many tasks may run at once, across every run of this scheduler.
   * @default 8
   */
  concurrency?: number | undefined;
  /**
   * The seed of the order among tasks of equal priority. Same seed and same ids give the same order on
   * every run and every machine. Numbers are used as their decimal string.
   * @default '0'
   */
  seed?: string | number | undefined;
  /**
   * Stop at the first failure in commit order: running tasks are aborted, no more start, and every task
   * after the failure is recorded `cancelled` (even one that had already finished, so records never depend
   * on timing). `timed_out` counts as a failure.
   * @default false
   */
  failFast?: boolean | undefined;
  /**
   * Milliseconds after which a task without its own `timeoutMs` is recorded `timed_out`.
   * @default undefined (no timeout)
   */
  taskTimeoutMs?: number | undefined;
  /**
   * Keep the hash-chained trace: digest every result (RFC 8785 JSON, sha256) and chain the entries. With
   * `false` nothing is digested, `run.trace` is `undefined`, any value may be returned (a BigInt too), and the
   * history keeps no digests or checkpoints; order, records and events are the same.
   * @default true
   */
  trace?: boolean | undefined;
  /** The bounded run history. @default { maxRuns: 100 } */
  history?: { maxRuns?: number | undefined } | undefined;
  /** The source of time for timeouts and timestamps. @default systemClock */
  clock?: Clock | undefined;
  /** Where the scheduler logs. @default noopLogger */
  logger?: Logger | undefined;
}

/** Options for {@link Scheduler.schedule}. */
export interface ScheduleOptions<T = unknown> {
  /** Cancels the run: running tasks are aborted, the rest recorded `cancelled`, and `schedule` rejects with `signal.reason`. */
  signal?: AbortSignal | undefined;
  /**
   * Called with each record in commit order, as soon as it and every earlier one have settled. If it
   * throws, the run stops as if aborted and `schedule` rejects with that error.
   */
  onCommit?: ((record: TaskRecord<T>) => void) | undefined;
  /** The run's id. @default a random UUID */
  runId?: string | undefined;
}

/** Options for {@link Scheduler.scheduleGraph}. */
export interface ScheduleGraphOptions<T = unknown> extends ScheduleOptions<T> {
  /**
   * `levels`: a whole level commits before the next level starts (a barrier). `eager`: a task starts as soon
   * as all of its dependencies have committed. Both commit in the same order with the same records.
   * @default 'eager'
   */
  mode?: 'levels' | 'eager' | undefined;
}

/** The `scheduled` event's payload. */
export interface ScheduledEvent {
  readonly runId: string;
  readonly seed: string;
  /** Task ids in commit order. */
  readonly order: readonly string[];
}

/** The `start` event's payload. */
export interface StartEvent {
  readonly runId: string;
  readonly seq: number;
  readonly id: string;
  readonly startedAt: number;
}

/**
 * The scheduler's events.
 *
 * - `scheduled`: a run was planned, before any task starts.
 * - `start`: a task started.
 * - `settle`: a task finished, in completion order (random under concurrency).
 * - `commit`: a task's record was committed, in the deterministic order.
 * - `end`: a run finished; `error` is what `schedule` rejects with, `undefined` when it resolves.
 *
 * A listener that throws is logged at `error` level and does not affect the run (use `onCommit` to be able
 * to stop a run).
 */
export interface SchedulerEvents<Tr extends Trace | undefined = Trace> {
  scheduled: [event: ScheduledEvent];
  start: [event: StartEvent];
  settle: [record: TaskRecord];
  commit: [record: TaskRecord];
  end: [run: Run<unknown, Tr>, error: unknown];
}

/**
 * A deterministic async pool: runs tasks with bounded concurrency and commits their results in an order
 * fixed by priority and seed, with a hash-chained trace. Make one with {@link createScheduler}.
 *
 * @example
 * ```ts
 * await using scheduler = createScheduler({ concurrency: 4, seed: 'nightly' });
 * scheduler.on('commit', (record) => audit.append(record));
 * const run = await scheduler.schedule(tasks);
 * ```
 */
export class Scheduler<Tr extends Trace | undefined = Trace> extends EventEmitter<SchedulerEvents<Tr>> {
  /** The last runs, trimmed to summaries. */
  readonly history: RunHistory;
  /** The seed runs are ordered with. */
  readonly seed: string;
  readonly #limit: LimitFunction;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #failFast: boolean;
  readonly #taskTimeoutMs: number | undefined;
  readonly #trace: boolean;
  readonly #active = new Set<RunEngine<unknown>>();
  readonly #hooks: EngineHooks;
  #closed = false;

  constructor(options: SchedulerOptions = {}) {
    super();
    const concurrency = options.concurrency ?? 8;
    if (!(Number.isInteger(concurrency) && concurrency >= 1) && concurrency !== Number.POSITIVE_INFINITY) {
      throw invalidOption(`concurrency must be an integer >= 1 (or Infinity), got ${String(concurrency)}.`);
    }
    checkTimeout(options.taskTimeoutMs, 'taskTimeoutMs');
    const maxRuns = options.history?.maxRuns ?? 100;
    if (!(Number.isInteger(maxRuns) && maxRuns >= 0)) {
      throw invalidOption(`history.maxRuns must be an integer >= 0, got ${String(maxRuns)}.`);
    }
    this.seed = String(options.seed ?? '0');
    if (!isWellFormed(this.seed))
      throw invalidOption('seed must be well-formed Unicode (no lone surrogates).');
    this.#limit = pLimit(concurrency);
    this.#clock = options.clock ?? systemClock;
    this.#logger = options.logger ?? noopLogger;
    this.#failFast = options.failFast ?? false;
    this.#taskTimeoutMs = options.taskTimeoutMs;
    if (options.trace !== undefined && typeof options.trace !== 'boolean') {
      throw invalidOption(`trace must be true or false, got ${String(options.trace)}.`);
    }
    this.#trace = options.trace ?? true;
    this.history = new RunHistory(maxRuns);
    this.#hooks = {
      start: (runId, seq, id, startedAt) => {
        // Build the payload only when someone listens: this runs once per task.
        if (this.listenerCount('start') > 0) this.#emit('start', { runId, seq, id, startedAt });
      },
      // Once per task: skip the emit (and its argument list) when nobody listens.
      settle: (record) => {
        if (this.listenerCount('settle') > 0) this.#emit('settle', record);
      },
      commit: (record) => {
        if (this.listenerCount('commit') > 0) this.#emit('commit', record);
      },
      end: (run, error) => {
        this.history.add(run);
        this.#logger.debug(
          { runId: run.runId, counts: run.counts, digest: run.trace?.digest, stopped: run.stopped },
          'run ended',
        );
        this.#emit('end', run as Run<unknown, Tr>, error);
      },
    };
  }

  /** Emits an event; a listener that throws is logged and never breaks the run. */
  #emit<E extends keyof SchedulerEvents<Tr>>(event: E, ...args: SchedulerEvents<Tr>[E]): void {
    try {
      (this.emit as (event: E, ...args: SchedulerEvents<Tr>[E]) => boolean)(event, ...args);
    } catch (error) {
      this.#logger.error({ event, err: error }, 'a scheduler event listener threw; fix the listener');
    }
  }

  /** How many of the `concurrency` slots are in use now, across runs (each held by a worker running tasks). */
  get activeCount(): number {
    return this.#limit.activeCount;
  }

  /**
   * Runs `tasks` with bounded concurrency and commits each result in the planned order (priority, then
   * seeded hash of the id, then the id) while later tasks keep running.
   *
   * Rejects with `SCHEDULER_DUPLICATE_ID` or `SCHEDULER_INVALID_TASK` before anything runs; with
   * `signal.reason` when the caller aborts; with `SCHEDULER_CLOSED` when the scheduler is closed. A task
   * that fails does not reject: it is recorded `failed`.
   *
   * @example
   * ```ts
   * const run = await scheduler.schedule(
   *   urls.map((url) => ({ id: url, run: ({ signal }) => fetch(url, { signal }).then((r) => r.status) })),
   *   { onCommit: (record) => audit.append(record) },
   * );
   * console.log(run.trace.digest);
   * ```
   */
  schedule<T>(tasks: readonly Task<T>[], options: ScheduleOptions<T> = {}): Promise<Run<T, Tr>> {
    return this.#run(options, () => {
      checkTasks(tasks, true);
      return { tasks: planOrder(tasks, this.seed), graph: undefined };
    });
  }

  /**
   * Runs a task graph: tasks start once their dependencies committed `ok`; a task whose dependency failed,
   * timed out or was cancelled is recorded `cancelled`. Commit order is {@link planLevels}' levels, each in
   * the deterministic order, so `levels` and `eager` modes give the same records and the same trace.
   *
   * A task's `after` ids delay its start until they committed (any status), without changing levels, order
   * or records; a task's `commit` stage runs in commit order, one at a time (see {@link Task.commit}).
   *
   * Rejects with `SCHEDULER_CYCLE`, `SCHEDULER_UNKNOWN_DEP` (a dependency or an `after` id not in the graph),
   * `SCHEDULER_DUPLICATE_ID` or `SCHEDULER_INVALID_TASK` (an `after` id that commits later) before anything
   * runs.
   *
   * @example
   * ```ts
   * await scheduler.scheduleGraph([
   *   { id: 'build', run: build },
   *   { id: 'test', deps: ['build'], run: test },
   *   { id: 'lint', run: lint },
   * ], { mode: 'eager' });
   * ```
   */
  scheduleGraph<T>(
    tasks: readonly GraphTask<T>[],
    options: ScheduleGraphOptions<T> = {},
  ): Promise<Run<T, Tr>> {
    return this.#run(options, () => {
      checkTasks(tasks, false);
      const levels = planLevels(tasks, this.seed);
      const ordered = levels.flat();
      const seqOf = new Map(ordered.map((task, seq) => [task.id, seq]));
      const levelStarts: number[] = [];
      let start = 0;
      for (const level of levels) {
        levelStarts.push(start);
        start += level.length;
      }
      const dependents: number[][] = ordered.map(() => []);
      const depCounts = ordered.map((task, seq) => {
        const deps = new Set(task.deps ?? []);
        for (const dep of deps) dependents[seqOf.get(dep) as number]?.push(seq);
        return deps.size;
      });
      const followers: number[][] = ordered.map(() => []);
      const afterCounts = ordered.map((task, seq) => {
        const after = new Set(task.after ?? []);
        for (const id of after) {
          const before = seqOf.get(id);
          if (before === undefined) {
            throw new SchedulerError(
              SchedulerErrorCode.UNKNOWN_DEP,
              `Task "${task.id}" is ordered after "${id}", which is not in the graph. Add a task with id "${id}" or remove it from after.`,
              { details: { id: task.id, dependency: id } },
            );
          }
          if (before >= seq) {
            throw new SchedulerError(
              SchedulerErrorCode.INVALID_TASK,
              `Task "${task.id}" is ordered after "${id}", which commits after it (position ${before} >= ${seq}). List in after only tasks earlier in commit order (see planLevels).`,
              { details: { id: task.id, after: id } },
            );
          }
          followers[before]?.push(seq);
        }
        return after.size;
      });
      const graph: PlanGraph = {
        dependents,
        depCounts,
        followers,
        afterCounts,
        levelStarts,
        mode: options.mode ?? 'eager',
      };
      return { tasks: ordered, graph };
    });
  }

  async #run<T>(
    options: ScheduleOptions<T>,
    plan: () => { tasks: readonly Task<T>[]; graph: PlanGraph | undefined },
  ): Promise<Run<T, Tr>> {
    const { signal } = options;
    signal?.throwIfAborted();
    if (this.#closed) throw closedError();
    const { tasks, graph } = plan();
    const runId = options.runId ?? randomUUID();
    const engine = new RunEngine<T>({
      runId,
      seed: this.seed,
      tasks,
      graph,
      limit: this.#limit,
      clock: this.#clock,
      logger: this.#logger,
      failFast: this.#failFast,
      taskTimeoutMs: this.#taskTimeoutMs,
      trace: this.#trace,
      traceOptions: {
        failFast: this.#failFast,
        taskTimeoutMs: this.#taskTimeoutMs ?? null,
        mode: graph === undefined ? 'flat' : 'graph',
      },
      hooks: this.#hooks,
      onCommit: options.onCommit,
    });
    const onAbort = () => engine.stop('aborted', signal?.reason);
    signal?.addEventListener('abort', onAbort, { once: true });
    this.#active.add(engine as RunEngine<unknown>);
    this.#logger.debug({ runId, tasks: tasks.length, seed: this.seed }, 'run scheduled');
    if (this.listenerCount('scheduled') > 0) {
      this.#emit('scheduled', { runId, seed: this.seed, order: tasks.map((task) => task.id) });
    }
    try {
      return (await engine.start()) as Run<T, Tr>;
    } finally {
      this.#active.delete(engine as RunEngine<unknown>);
      signal?.removeEventListener('abort', onAbort);
    }
  }

  /**
   * Stops every active run (their tasks are aborted and recorded `cancelled`, and `schedule` rejects with
   * `SCHEDULER_CLOSED`) and refuses new runs. Idempotent.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#limit.clearQueue();
    for (const engine of [...this.#active]) engine.stop('closed', closedError());
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

/**
 * Makes a {@link Scheduler}.
 *
 * When to use: many I/O-bound tasks whose results, events and evidence must come out in one reproducible
 * order. Gotchas: a task that ignores its `signal` keeps running after a timeout or a cancellation and its
 * result is ignored; after a timeout its slot is freed at once, after a cancellation the run ends at once but
 * the slot stays taken until the task settles.
 *
 * @example
 * ```ts
 * import { createScheduler } from '@ordo/kernel-scheduler';
 * await using scheduler = createScheduler({ concurrency: 16, seed: 'build-42', taskTimeoutMs: 30_000 });
 * const run = await scheduler.schedule([
 *   { id: 'a', run: async () => 1 },
 *   { id: 'b', run: async () => 2 },
 * ]);
 * run.records.map((r) => r.id); // the same order on every run with this seed
 * ```
 */
export function createScheduler(
  options?: (SchedulerOptions & { trace?: true | undefined }) | undefined,
): Scheduler<Trace>;
export function createScheduler(options: SchedulerOptions & { trace: false }): Scheduler<undefined>;
export function createScheduler(options: SchedulerOptions): Scheduler<Trace | undefined>;
export function createScheduler(options: SchedulerOptions = {}): Scheduler<Trace | undefined> {
  return new Scheduler(options);
}

function invalidOption(message: string): SchedulerError {
  return new SchedulerError(SchedulerErrorCode.INVALID_OPTIONS, `Invalid scheduler option: ${message}`);
}

function closedError(): SchedulerError {
  return new SchedulerError(
    SchedulerErrorCode.CLOSED,
    'The scheduler is closed. Create a new scheduler to run more tasks.',
  );
}

function checkTimeout(value: number | undefined, name: string): void {
  if (value !== undefined && !(typeof value === 'number' && value > 0 && Number.isFinite(value))) {
    throw invalidOption(`${name} must be a finite number of milliseconds > 0, got ${String(value)}.`);
  }
}

const isIdList = (value: unknown) =>
  value === undefined || (Array.isArray(value) && value.every((id) => typeof id === 'string'));

const isWellFormed = (text: string) => (text as unknown as { isWellFormed(): boolean }).isWellFormed();

/** Checks every task's shape, and that ids are unique when `unique` (planLevels checks graphs itself). */
function checkTasks(tasks: readonly Task<unknown>[], unique: boolean): void {
  if (!Array.isArray(tasks)) {
    throw new SchedulerError(SchedulerErrorCode.INVALID_TASK, 'Pass the tasks as an array.');
  }
  const seen = unique ? new Set<string>() : undefined;
  for (let index = 0; index < tasks.length; index++) {
    const task = tasks[index] as Task<unknown>;
    const problem =
      typeof task !== 'object' || task === null
        ? 'is not an object'
        : typeof task.id !== 'string' || task.id === '' || !isWellFormed(task.id)
          ? 'needs a non-empty string id of well-formed Unicode'
          : typeof task.run !== 'function'
            ? 'needs a run(context) function'
            : task.priority !== undefined && !Number.isFinite(task.priority)
              ? 'has a priority that is not a finite number'
              : task.timeoutMs !== undefined &&
                  !(
                    typeof task.timeoutMs === 'number' &&
                    task.timeoutMs > 0 &&
                    Number.isFinite(task.timeoutMs)
                  )
                ? 'has a timeoutMs that is not a finite number > 0'
                : task.commit !== undefined && typeof task.commit !== 'function'
                  ? 'has a commit that is not a function'
                  : !unique && !isIdList((task as GraphTask<unknown>).after)
                    ? 'has an after that is not an array of ids'
                    : undefined;
    if (problem) {
      const name = typeof task?.id === 'string' ? `"${task.id}"` : `at index ${index}`;
      throw new SchedulerError(
        SchedulerErrorCode.INVALID_TASK,
        `The task ${name} ${problem}. Fix it and retry.`,
        {
          details: { index },
        },
      );
    }
    if (seen) {
      if (seen.has(task.id)) throw duplicateIdError(task.id);
      seen.add(task.id);
    }
  }
}
