import type { Clock } from '@ordo/contracts';

/**
 * One token bucket for an admission gate: `burst` tokens at most (it starts full), refilled continuously at
 * `perSecond`. Unlike a keyed rate limiter it can be read without taking a token, so a gate can decide
 * first and spend the token only on an admitted request.
 */
export class AdmissionRate {
  readonly perSecond: number;
  readonly burst: number;
  readonly #clock: Clock;
  #tokens: number;
  #updatedAt: number;

  constructor(perSecond: number, burst: number, clock: Clock) {
    this.perSecond = perSecond;
    this.burst = burst;
    this.#clock = clock;
    this.#tokens = burst;
    this.#updatedAt = clock.now();
  }

  /** Milliseconds until a token is free: 0 when one is free now. */
  waitMs(): number {
    this.#refill();
    if (this.#tokens >= 1) return 0;
    // Less a hair, so float noise (0.3 / 0.1 = 3.0000000000000004 s) does not round up a whole millisecond.
    return Math.max(1, Math.ceil(((1 - this.#tokens) * 1000) / this.perSecond - 1e-6));
  }

  /** Takes a token; call only after {@link AdmissionRate.waitMs} answered 0. */
  take(): void {
    this.#tokens -= 1;
  }

  #refill(): void {
    const now = this.#clock.now();
    // A clock that steps back (wall time changed) refills nothing rather than draining the bucket.
    const elapsed = Math.max(0, now - this.#updatedAt);
    this.#tokens = Math.min(this.burst, this.#tokens + (elapsed * this.perSecond) / 1000);
    this.#updatedAt = now;
  }
}
