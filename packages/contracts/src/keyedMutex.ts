/**
 * Mutual exclusion per key: calls with the same key run one at a time in arrival order (FIFO); calls with
 * different keys run in parallel.
 *
 * Gotchas: to hold several keys at once, take them in sorted order, so two holders never deadlock.
 */
export interface KeyedMutex {
  /** Runs `fn` once every earlier holder of `key` has finished. Rejects with `signal.reason` if aborted while waiting. */
  runExclusive<T>(key: string, fn: () => PromiseLike<T> | T, signal?: AbortSignal): Promise<T>;
}
