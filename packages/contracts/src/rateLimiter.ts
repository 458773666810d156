/** The answer of {@link RateLimiter.tryAcquire}. */
export type RateLimitDecision = { acquired: true } | { acquired: false; retryAfterMs: number };

/** A per-key rate limiter (a token bucket per host, for instance). */
export interface RateLimiter {
  /** Waits until a token for `key` is free and takes it. Rejects with `signal.reason` on abort. */
  acquire(key: string, signal?: AbortSignal): Promise<void>;
  /** Takes a token for `key` if one is free now; otherwise says how long until one is. */
  tryAcquire(key: string): RateLimitDecision;
}
