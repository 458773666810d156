import { LRUCache } from 'lru-cache';
import type { Run, StatusCounts } from './task.js';
import { type Trace, type TraceEntry, traceCheckpoints } from './trace.js';

/** What the history keeps of a run once its records are trimmed away. */
export interface RunSummary {
  readonly runId: string;
  readonly seed: string;
  readonly startedAt: number;
  readonly endedAt: number;
  /** How many tasks the run had. */
  readonly total: number;
  readonly counts: StatusCounts;
  /** The trace's final digest; `undefined` for a scheduler with `trace: false`. */
  readonly digest: string | undefined;
  /** Set when the run was stopped early (see {@link Run.stopped}). */
  readonly stopped: Run['stopped'];
  /**
   * Checkpoints kept after trimming: the first entry, the last entry and every `failed` or `timed_out`
   * entry, in commit order. Each carries its chain digest, so a later trace can be checked against them.
   */
  readonly checkpoints: readonly TraceEntry[];
}

/**
 * The last `maxRuns` runs of a scheduler, as {@link RunSummary} objects in an LRU cache: each run's records,
 * values and full trace are dropped and only its checkpoints stay, so memory stays flat however many runs go
 * through.
 *
 * @example
 * ```ts
 * const scheduler = createScheduler({ history: { maxRuns: 50 } });
 * const run = await scheduler.schedule(tasks);
 * scheduler.history.get(run.runId)?.checkpoints;
 * ```
 */
export class RunHistory {
  readonly #cache: LRUCache<string, RunSummary> | undefined;
  /** How many runs are kept at most. */
  readonly maxRuns: number;

  constructor(maxRuns: number) {
    this.maxRuns = maxRuns;
    this.#cache = maxRuns > 0 ? new LRUCache({ max: maxRuns }) : undefined;
  }

  /** How many runs are kept now. */
  get size(): number {
    return this.#cache?.size ?? 0;
  }

  /** Trims a finished run to its summary and keeps it, evicting the least recently used one when full. */
  add(run: Run<unknown, Trace | undefined>): void {
    if (!this.#cache) return;
    const checkpoints = run.trace ? traceCheckpoints(run.trace) : [];
    const summary: RunSummary = {
      runId: run.runId,
      seed: run.seed,
      startedAt: run.startedAt,
      endedAt: run.endedAt,
      total: run.records.length,
      counts: { ...run.counts },
      digest: run.trace?.digest,
      stopped: run.stopped,
      checkpoints,
    };
    this.#cache.set(run.runId, summary);
  }

  /** The summary of a kept run, or `undefined` once it was evicted. */
  get(runId: string): RunSummary | undefined {
    return this.#cache?.get(runId);
  }

  /** The kept runs, most recently used first. */
  list(): RunSummary[] {
    return this.#cache ? [...this.#cache.values()] : [];
  }

  /** Forgets every kept run. */
  clear(): void {
    this.#cache?.clear();
  }
}
