import { SchedulerError, SchedulerErrorCode } from './errors.js';
import { planLevels } from './planLevels.js';
import { planOrder } from './planOrder.js';
import { createScheduler, type SchedulerOptions } from './scheduler.js';
import type { GraphTask, Run, TaskRecord } from './task.js';
import { type Trace, type TraceV1, type TraceV2, verifyTrace } from './trace.js';

/**
 * Options for {@link replay}: the scheduler's options except the seed, which comes from the trace. `failFast`
 * and `taskTimeoutMs` default to what the trace recorded (version 2 and 3 traces), so a replay runs as the
 * original did unless you say otherwise.
 */
export interface ReplayOptions extends Omit<SchedulerOptions, 'seed' | 'history' | 'trace'> {
  /** Cancels the replay; `replay` rejects with `signal.reason`. */
  signal?: AbortSignal | undefined;
  /** How a graph is run; `levels` and `eager` give the same records. @default 'eager' */
  mode?: 'levels' | 'eager' | undefined;
  /** Called with each record of the replay in commit order, as `schedule`'s `onCommit`. */
  onCommit?: ((record: TaskRecord<unknown>) => void) | undefined;
}

/** Where a replay first differs from its trace. */
export interface Divergence {
  /** The position in commit order. */
  readonly seq: number;
  /** The task id the trace has at `seq` (`undefined` past its end). */
  readonly id: string | undefined;
  /** `order`: a different task (or count) at this position; `status` or `result`: the task's outcome differs. */
  readonly kind: 'order' | 'status' | 'result';
  /** What the trace recorded (an id, a status or a result digest). */
  readonly expected: string | undefined;
  /** What the replay produced. */
  readonly actual: string | undefined;
}

/** The answer of {@link replay}. `run` is absent when the order already differed and nothing ran. */
export type ReplayResult<T> =
  | { readonly ok: true; readonly run: Run<T> }
  | { readonly ok: false; readonly divergence: Divergence; readonly run: Run<T> | undefined };

/**
 * Runs `tasks` again with the trace's seed and reports the first divergence in order, status or result, or
 * `ok`. The trace is verified first (`SCHEDULER_TRACE_INVALID` if its chain is broken), and the order is
 * compared before anything runs, so a plan that already differs runs no task.
 *
 * When to use: to prove that a stored run is reproducible, or to find where a changed task behaves
 * differently. The run's recorded options (`failFast`, `taskTimeoutMs`, flat or graph) are used unless
 * `options` overrides them. A version 1 trace has none: pass them, and tasks with `deps` are replayed as a
 * graph.
 *
 * @example
 * ```ts
 * const result = await replay(JSON.parse(stored), tasks, { concurrency: 4 });
 * if (!result.ok) console.log(`diverged at #${result.divergence.seq}: ${result.divergence.kind}`);
 * ```
 */
export async function replay<T>(
  trace: Trace | TraceV2 | TraceV1,
  tasks: readonly GraphTask<T>[],
  options: ReplayOptions = {},
): Promise<ReplayResult<T>> {
  options.signal?.throwIfAborted();
  const check = verifyTrace(trace);
  if (!check.ok) {
    throw new SchedulerError(
      SchedulerErrorCode.TRACE_INVALID,
      `The trace does not verify (${check.message}) so it cannot be replayed. Use an untampered trace.`,
      { details: { ...check } },
    );
  }
  const { signal, mode, onCommit, ...schedulerOptions } = options;
  const recorded = trace.version === 1 ? undefined : trace.options;
  const graph = recorded ? recorded.mode === 'graph' : tasks.some((task) => (task.deps?.length ?? 0) > 0);
  const plannedOrder = graph
    ? planLevels(tasks, trace.seed).flatMap((level) => level.map((task) => task.id))
    : undefined;
  const scheduler = createScheduler({
    failFast: recorded?.failFast,
    taskTimeoutMs: recorded?.taskTimeoutMs ?? undefined,
    ...definedOnly(schedulerOptions),
    seed: trace.seed,
    history: { maxRuns: 0 },
  });
  try {
    const order = plannedOrder ?? planOrder(tasks, trace.seed).map((task) => task.id);
    const orderDivergence = compareOrder(trace.order, order);
    if (orderDivergence) return { ok: false, divergence: orderDivergence, run: undefined };
    const run = graph
      ? await scheduler.scheduleGraph(tasks, { signal, mode, onCommit })
      : await scheduler.schedule(tasks, { signal, onCommit });
    const divergence = compareEntries(trace, run);
    return divergence ? { ok: false, divergence, run } : { ok: true, run };
  } finally {
    await scheduler.close();
  }
}

function compareOrder(expected: readonly string[], actual: readonly string[]): Divergence | undefined {
  const length = Math.max(expected.length, actual.length);
  for (let seq = 0; seq < length; seq++) {
    if (expected[seq] !== actual[seq]) {
      return { seq, id: expected[seq], kind: 'order', expected: expected[seq], actual: actual[seq] };
    }
  }
  return undefined;
}

/** The options that were passed, so `{ failFast: undefined }` keeps the recorded value. */
function definedOnly<O extends object>(options: O): Partial<O> {
  return Object.fromEntries(Object.entries(options).filter(([, value]) => value !== undefined)) as Partial<O>;
}

function compareEntries(trace: Trace | TraceV2 | TraceV1, run: Run<unknown>): Divergence | undefined {
  const entries = run.trace?.entries ?? [];
  for (const [seq, entry] of trace.entries.entries()) {
    const actual = entries[seq];
    if (!actual) return { seq, id: entry.id, kind: 'order', expected: entry.id, actual: undefined };
    if (actual.status !== entry.status) {
      return { seq, id: entry.id, kind: 'status', expected: entry.status, actual: actual.status };
    }
    if (actual.resultDigest !== entry.resultDigest) {
      return { seq, id: entry.id, kind: 'result', expected: entry.resultDigest, actual: actual.resultDigest };
    }
  }
  return undefined;
}
