import type { Policy } from './policy.js';

/** A circuit breaker's state: `closed` lets calls through, `open` rejects them, `half-open` lets a few probe. */
export type BreakerState = 'closed' | 'open' | 'half-open';

/** What a call run through a {@link Breaker} receives. */
export interface BreakerContext {
  /** Aborts when the caller's signal aborts or the breaker's own timeout fires. */
  signal: AbortSignal;
}

/**
 * A circuit breaker, as other packages ask for one (the restricted fetch wraps each host in one). The
 * governance package's `CircuitBreaker` implements it; any cockatiel-like policy with this shape fits. Where
 * only `execute` is needed, ask for a {@link Policy} instead, so a wrapped chain (retry around a breaker) fits.
 */
export interface Breaker extends Policy {
  /** The current state. */
  readonly state: BreakerState;
  /**
   * Runs `fn` unless the breaker is open, recording its outcome. Rejects with an error whose `code` is
   * `BREAKER_OPEN` (and a `retryAfterMs` detail) while open.
   */
  execute<T>(fn: (context: BreakerContext) => PromiseLike<T> | T, signal?: AbortSignal): Promise<T>;
}
