import type { PolicyContext } from '@ordo/contracts';
import { EventEmitter } from 'eventemitter3';
import { BulkheadFullError, GovernanceOptionsError } from './errors.js';
import { IDLE_CONTEXT } from './internal/idle.js';
import { positiveInteger } from './internal/validate.js';
import type { GovernancePolicy, PolicyStats } from './policy.js';

/** Options for {@link bulkhead}. */
export interface BulkheadOptions {
  /** @default 'bulkhead' */
  name?: string | undefined;
  /** The most calls that run at once. */
  maxConcurrent: number;
  /**
   * The most calls that wait for a slot (first in, first out); one more is refused with `BULKHEAD_FULL`.
   * @default 0 (refuse at once when every slot is taken)
   */
  maxQueued?: number | undefined;
}

/** The events of a {@link BulkheadPolicy}. */
export interface BulkheadPolicyEvents {
  /** A call was refused: every slot and queue place was taken. */
  rejected: [error: BulkheadFullError];
}

/** A policy that runs at most `maxConcurrent` calls at once and queues at most `maxQueued` more. */
export interface BulkheadPolicy extends GovernancePolicy, EventEmitter<BulkheadPolicyEvents> {
  readonly kind: 'bulkhead';
  readonly maxConcurrent: number;
  readonly maxQueued: number;
  /** Calls running now. */
  readonly executing: number;
  /** Calls waiting for a slot now. */
  readonly queued: number;
}

interface Waiter {
  start(): void;
}

class Bulkhead extends EventEmitter<BulkheadPolicyEvents> implements BulkheadPolicy {
  readonly kind = 'bulkhead';
  readonly name: string;
  readonly maxConcurrent: number;
  readonly maxQueued: number;
  #executing = 0;
  readonly #queue: Waiter[] = [];
  #attempts = 0;
  #rejections = 0;

  constructor(options: BulkheadOptions) {
    super();
    if (typeof options !== 'object' || options === null) {
      throw new GovernanceOptionsError('bulkhead', 'options', options, '{ maxConcurrent, maxQueued? }');
    }
    this.name = options.name ?? 'bulkhead';
    this.maxConcurrent = positiveInteger('bulkhead', 'maxConcurrent', options.maxConcurrent);
    const maxQueued = options.maxQueued ?? 0;
    if (!Number.isInteger(maxQueued) || maxQueued < 0) {
      throw new GovernanceOptionsError('bulkhead', 'maxQueued', maxQueued, 'an integer >= 0');
    }
    this.maxQueued = maxQueued;
  }

  get executing(): number {
    return this.#executing;
  }

  get queued(): number {
    return this.#queue.length;
  }

  stats(): PolicyStats {
    return { attempts: this.#attempts, rejections: this.#rejections };
  }

  execute<T>(fn: (context: PolicyContext) => PromiseLike<T> | T, signal?: AbortSignal): Promise<T> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (this.#executing < this.maxConcurrent) return this.#run(fn, signal);
    if (this.#queue.length >= this.maxQueued) {
      const error = new BulkheadFullError(this.name, this.maxConcurrent, this.maxQueued);
      this.#rejections++;
      this.emit('rejected', error);
      return Promise.reject(error);
    }
    return new Promise<T>((resolve, reject) => {
      const onAbort = () => {
        const index = this.#queue.indexOf(waiter);
        if (index !== -1) this.#queue.splice(index, 1);
        reject(signal?.reason);
      };
      const waiter: Waiter = {
        start: () => {
          signal?.removeEventListener('abort', onAbort);
          this.#run(fn, signal).then(resolve, reject);
        },
      };
      this.#queue.push(waiter);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  async #run<T>(
    fn: (context: PolicyContext) => PromiseLike<T> | T,
    signal: AbortSignal | undefined,
  ): Promise<T> {
    this.#executing++;
    this.#attempts++;
    try {
      return await fn(signal ? { signal } : IDLE_CONTEXT);
    } finally {
      this.#executing--;
      this.#queue.shift()?.start();
    }
  }
}

/**
 * A bulkhead: at most `maxConcurrent` calls run at once, at most `maxQueued` more wait (FIFO) for a slot,
 * and any call past that is refused at once with `BULKHEAD_FULL`. A waiting call whose signal aborts
 * leaves the queue and rejects with `signal.reason`.
 *
 * When to use: to keep one slow dependency from taking every connection, worker or socket of the host.
 *
 * Gotchas: nothing is lost: every call either runs once or is refused; `stats()` counts both.
 *
 * @example
 * ```ts
 * const engine = bulkhead({ maxConcurrent: 8, maxQueued: 100 });
 * const info = await engine.execute(({ signal }) => inspect(id, signal));
 * ```
 */
export function bulkhead(options: BulkheadOptions): BulkheadPolicy {
  return new Bulkhead(options);
}
