/** What a call run through a {@link Policy} receives. */
export interface PolicyContext {
  /** Aborts when the caller's signal aborts or the policy gives up on the call (a timeout, say). */
  signal: AbortSignal;
}

/**
 * A resilience policy with cockatiel's shape: it runs `fn` on the caller's behalf, maybe more than once,
 * maybe not at all (retry, timeout, bulkhead, fallback, circuit breaker, or several wrapped together).
 * Packages that call a dependency ask for one (the restricted fetch per host, the container launcher for its
 * Engine API calls) and the facade passes the implementation in.
 *
 * Gotchas: `fn` may run several times (a retry), so it must be safe to repeat; it must stop when its
 * context's signal aborts.
 */
export interface Policy {
  /**
   * Runs `fn` under the policy. Rejects with `signal.reason` once `signal` aborts, with the policy's own
   * error when it refuses or abandons the call, and otherwise with `fn`'s error.
   */
  execute<T>(fn: (context: PolicyContext) => PromiseLike<T> | T, signal?: AbortSignal): Promise<T>;
}
