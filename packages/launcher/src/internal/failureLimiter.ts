import type { Clock } from '@ordo/contracts';

/**
 * Counts failed connection attempts per peer (an IP address, or one key for every unix socket peer) and
 * blocks a peer that failed `maxFailures` times within `windowMs`, until its oldest failure in the window
 * ages out. Holds at most `maxPeers` peers (the least recently failed one is forgotten first).
 */
export class FailureLimiter {
  readonly #max: number;
  readonly #windowMs: number;
  readonly #maxPeers: number;
  readonly #clock: Clock;
  readonly #failures = new Map<string, number[]>();

  constructor(options: { maxFailures: number; windowMs: number; clock: Clock; maxPeers?: number }) {
    this.#max = options.maxFailures;
    this.#windowMs = options.windowMs;
    this.#clock = options.clock;
    this.#maxPeers = options.maxPeers ?? 4096;
  }

  /** Whether `peer` is blocked now. */
  blocked(peer: string): boolean {
    return this.#recent(peer).length >= this.#max;
  }

  /** Records a failure of `peer`. */
  fail(peer: string): void {
    const list = this.#recent(peer);
    list.push(this.#clock.now());
    if (list.length > this.#max) list.splice(0, list.length - this.#max);
    this.#failures.delete(peer);
    this.#failures.set(peer, list);
    if (this.#failures.size > this.#maxPeers) {
      const oldest = this.#failures.keys().next().value;
      if (oldest !== undefined) this.#failures.delete(oldest);
    }
  }

  #recent(peer: string): number[] {
    const since = this.#clock.now() - this.#windowMs;
    const list = (this.#failures.get(peer) ?? []).filter((t) => t > since);
    if (list.length === 0) this.#failures.delete(peer);
    else this.#failures.set(peer, list);
    return list;
  }
}
