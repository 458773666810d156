import { type Clock, type PolicyContext, systemClock, type TimerHandle } from '@ordo/contracts';
import { EventEmitter } from 'eventemitter3';
import { GovernanceOptionsError, PolicyTimeoutError } from './errors.js';
import { positive } from './internal/validate.js';
import type { GovernancePolicy, PolicyStats } from './policy.js';

/**
 * `cooperative`: at the deadline `fn`'s signal aborts and the policy waits for `fn` to settle (it should
 * stop); `aggressive`: at the deadline the signal aborts and the call rejects at once, leaving `fn` behind.
 */
export type TimeoutStrategy = 'cooperative' | 'aggressive';

/** Options for {@link timeout}. */
export interface TimeoutOptions {
  /** @default 'timeout' */
  name?: string | undefined;
  /** @default 'cooperative' */
  strategy?: TimeoutStrategy | undefined;
  /** Times the deadline. @default systemClock */
  clock?: Clock | undefined;
}

/** The events of a {@link TimeoutPolicy}. */
export interface TimeoutPolicyEvents {
  /** A call passed its deadline; its signal was aborted with `error`. */
  timeout: [error: PolicyTimeoutError];
}

/** A policy that abandons calls that take longer than `timeoutMs`. */
export interface TimeoutPolicy extends GovernancePolicy, EventEmitter<TimeoutPolicyEvents> {
  readonly kind: 'timeout';
  readonly timeoutMs: number;
  readonly strategy: TimeoutStrategy;
}

class Timeout extends EventEmitter<TimeoutPolicyEvents> implements TimeoutPolicy {
  readonly kind = 'timeout';
  readonly name: string;
  readonly timeoutMs: number;
  readonly strategy: TimeoutStrategy;
  readonly #clock: Clock;
  #attempts = 0;
  #rejections = 0;

  constructor(timeoutMs: number, options: TimeoutOptions) {
    super();
    this.timeoutMs = positive('timeout', 'timeoutMs', timeoutMs);
    this.name = options.name ?? 'timeout';
    const strategy = options.strategy ?? 'cooperative';
    if (strategy !== 'cooperative' && strategy !== 'aggressive') {
      throw new GovernanceOptionsError('timeout', 'strategy', strategy, "'cooperative' or 'aggressive'");
    }
    this.strategy = strategy;
    this.#clock = options.clock ?? systemClock;
  }

  stats(): PolicyStats {
    return { attempts: this.#attempts, rejections: this.#rejections };
  }

  execute<T>(fn: (context: PolicyContext) => PromiseLike<T> | T, signal?: AbortSignal): Promise<T> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    this.#attempts++;
    const controller = new AbortController();
    const aggressive = this.strategy === 'aggressive';
    return new Promise<T>((resolve, reject) => {
      let settled = false;
      let timedOut: PolicyTimeoutError | undefined;
      const onAbort = () => {
        controller.abort(signal?.reason);
        finish();
        reject(signal?.reason);
      };
      const finish = () => {
        settled = true;
        this.#clock.clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
      };
      const timer: TimerHandle = this.#clock.setTimeout(() => {
        timedOut = new PolicyTimeoutError(this.name, this.timeoutMs);
        controller.abort(timedOut);
        this.emit('timeout', timedOut);
        if (aggressive && !settled) {
          finish();
          this.#rejections++;
          reject(timedOut);
        }
      }, this.timeoutMs);
      signal?.addEventListener('abort', onAbort, { once: true });
      let pending: PromiseLike<T> | T;
      try {
        pending = fn({ signal: controller.signal });
      } catch (error) {
        finish();
        reject(error);
        return;
      }
      Promise.resolve(pending).then(
        (value) => {
          if (settled) return;
          finish();
          resolve(value);
        },
        (error: unknown) => {
          if (settled) return;
          finish();
          // fn stopped because the deadline passed: say so, not with whatever its abort looked like.
          if (timedOut) this.#rejections++;
          reject(timedOut ?? error);
        },
      );
    });
  }
}

/**
 * A timeout policy: `fn` gets a signal that aborts with `POLICY_TIMEOUT` after `timeoutMs`. With the
 * `cooperative` strategy (the default) the call then waits for `fn` to settle and rejects with that
 * `POLICY_TIMEOUT` if `fn` rejects (a value it still returns is returned); with `aggressive` it rejects with
 * `POLICY_TIMEOUT` at the deadline and leaves `fn` running unobserved.
 *
 * When to use: `cooperative` when `fn` honours its signal (fetch, child processes): nothing is left behind.
 * `aggressive` when it may not, and the caller must get its answer on time.
 *
 * Gotchas: inside `wrap(retry, timeout)` each attempt has its own deadline; `wrap(timeout, retry)` bounds
 * all attempts together.
 *
 * @example
 * ```ts
 * const policy = timeout(5_000, { strategy: 'aggressive' });
 * const body = await policy.execute(({ signal }) => fetch(url, { signal }).then((r) => r.text()));
 * ```
 */
export function timeout(timeoutMs: number, options: TimeoutOptions = {}): TimeoutPolicy {
  return new Timeout(timeoutMs, options);
}
