import { type Clock, type PolicyContext, systemClock } from '@ordo/contracts';
import { EventEmitter } from 'eventemitter3';
import { GovernanceOptionsError } from './errors.js';
import { type BackoffSettings, type Jitter, nextDelay } from './internal/backoff.js';
import { IDLE_CONTEXT } from './internal/idle.js';
import { retryAfterOf } from './internal/retryAfter.js';
import { positive, positiveInteger } from './internal/validate.js';
import type { GovernancePolicy, PolicyStats } from './policy.js';

/** The backoff between attempts of a {@link retry} policy. */
export interface RetryBackoffOptions {
  /**
   * The first delay, in ms (the base of the exponential).
   * @default 100
   */
  initialMs?: number | undefined;
  /**
   * What each delay is multiplied by (for `decorrelated`: the most the next delay may grow by).
   * @default 2
   */
  factor?: number | undefined;
  /**
   * The cap: no delay is longer. A `retryAfterMs` longer than this ends the retries at once.
   * @default 30000
   */
  maxMs?: number | undefined;
  /**
   * How delays are spread: `full` picks uniformly in [0, exponential) (AWS "full jitter"), `decorrelated`
   * picks in [initialMs, previous * factor] (AWS "decorrelated jitter"), `none` waits the exponential itself.
   * @default 'full'
   */
  jitter?: Jitter | undefined;
}

/** Options for {@link retry}. */
export interface RetryOptions {
  /** @default 'retry' */
  name?: string | undefined;
  /**
   * The most times `fn` runs, the first attempt included.
   * @default 3
   */
  maxAttempts?: number | undefined;
  /**
   * Which errors are retried. The caller's abort is never retried.
   * @default () => true (every error)
   */
  retryOn?: ((error: unknown) => boolean) | undefined;
  /**
   * Which results are retried (an answer that says "try again"); the last one is returned when attempts
   * run out.
   * @default never
   */
  retryOnResult?: ((value: unknown) => boolean) | undefined;
  /** @default { initialMs: 100, factor: 2, maxMs: 30000, jitter: 'full' } */
  backoff?: RetryBackoffOptions | undefined;
  /**
   * The jitter's source of numbers in [0, 1); tests pass a seeded one.
   * @default Math.random
   */
  random?: (() => number) | undefined;
  /** Times the waits between attempts. @default systemClock */
  clock?: Clock | undefined;
}

/** A retry about to happen, as the `retry` event reports it. */
export interface RetryEvent {
  readonly policy: string;
  /** The attempt that failed, from 1. */
  readonly attempt: number;
  /** How long the policy waits before the next attempt, in ms. */
  readonly delayMs: number;
  /** The failure, or the result `retryOnResult` asked to retry (then `error` is undefined). */
  readonly error?: unknown;
  readonly value?: unknown;
}

/** Why a retry policy stopped retrying, as the `giveUp` event reports it. */
export interface RetryGiveUp {
  readonly policy: string;
  /** Attempts made. */
  readonly attempts: number;
  /**
   * `maxAttempts`: attempts ran out; `notRetryable`: `retryOn` refused the error; `retryAfter`: the error
   * asked for a wait longer than `backoff.maxMs`.
   */
  readonly reason: 'maxAttempts' | 'notRetryable' | 'retryAfter';
  readonly error?: unknown;
  readonly value?: unknown;
}

/** The events of a {@link RetryPolicy}. */
export interface RetryPolicyEvents {
  /** An attempt failed (or returned a result to retry) and the policy waits `delayMs` for the next one. */
  retry: [event: RetryEvent];
  /** The policy stopped: it throws the last error (or returns the last result). */
  giveUp: [event: RetryGiveUp];
}

/** A policy that runs `fn` again after a failure, with exponential backoff and jitter. */
export interface RetryPolicy extends GovernancePolicy, EventEmitter<RetryPolicyEvents> {
  readonly kind: 'retry';
  /** The most times `fn` runs. */
  readonly maxAttempts: number;
}

const never = () => false;
const always = () => true;

class Retry extends EventEmitter<RetryPolicyEvents> implements RetryPolicy {
  readonly kind = 'retry';
  readonly name: string;
  readonly maxAttempts: number;
  readonly #retryOn: (error: unknown) => boolean;
  readonly #retryOnResult: (value: unknown) => boolean;
  readonly #backoff: BackoffSettings;
  readonly #clock: Clock;
  #attempts = 0;
  #rejections = 0;

  constructor(options: RetryOptions) {
    super();
    const component = 'retry';
    this.name = options.name ?? 'retry';
    this.maxAttempts = positiveInteger(component, 'maxAttempts', options.maxAttempts ?? 3);
    this.#retryOn = options.retryOn ?? always;
    this.#retryOnResult = options.retryOnResult ?? never;
    const jitter = options.backoff?.jitter ?? 'full';
    if (jitter !== 'full' && jitter !== 'decorrelated' && jitter !== 'none') {
      throw new GovernanceOptionsError(
        component,
        'backoff.jitter',
        jitter,
        "'full', 'decorrelated' or 'none'",
      );
    }
    const random = options.random ?? Math.random;
    if (typeof random !== 'function') {
      throw new GovernanceOptionsError(
        component,
        'random',
        random,
        'a function returning a number in [0, 1)',
      );
    }
    const factor = positive(component, 'backoff.factor', options.backoff?.factor ?? 2);
    if (factor < 1) throw new GovernanceOptionsError(component, 'backoff.factor', factor, 'a number >= 1');
    this.#backoff = {
      initialMs: positive(component, 'backoff.initialMs', options.backoff?.initialMs ?? 100),
      factor,
      maxMs: positive(component, 'backoff.maxMs', options.backoff?.maxMs ?? 30_000),
      jitter,
      random,
    };
    this.#clock = options.clock ?? systemClock;
  }

  stats(): PolicyStats {
    return { attempts: this.#attempts, rejections: this.#rejections };
  }

  async execute<T>(fn: (context: PolicyContext) => PromiseLike<T> | T, signal?: AbortSignal): Promise<T> {
    signal?.throwIfAborted();
    const context: PolicyContext = signal ? { signal } : IDLE_CONTEXT;
    let previousMs = this.#backoff.initialMs;
    for (let attempt = 1; ; attempt++) {
      this.#attempts++;
      let failed = false;
      let error: unknown;
      let value: T | undefined;
      try {
        value = await fn(context);
        if (!this.#retryOnResult(value)) return value;
      } catch (caught) {
        if (signal?.aborted) throw signal.reason;
        failed = true;
        error = caught;
      }
      const outcome = failed ? { error } : { value };
      if (failed && !this.#retryOn(error)) return this.#giveUp(attempt, 'notRetryable', outcome);
      if (attempt >= this.maxAttempts) return this.#giveUp(attempt, 'maxAttempts', outcome);
      let delayMs = nextDelay(this.#backoff, attempt - 1, previousMs);
      previousMs = delayMs;
      const retryAfterMs = failed ? retryAfterOf(error) : undefined;
      if (retryAfterMs !== undefined && retryAfterMs > delayMs) {
        if (retryAfterMs > this.#backoff.maxMs) return this.#giveUp(attempt, 'retryAfter', outcome);
        delayMs = retryAfterMs;
      }
      this.emit('retry', { policy: this.name, attempt, delayMs, ...outcome });
      await this.#clock.sleep(delayMs, signal);
    }
  }

  #giveUp<T>(
    attempts: number,
    reason: RetryGiveUp['reason'],
    outcome: { error?: unknown; value?: T | undefined },
  ): T {
    this.emit('giveUp', { policy: this.name, attempts, reason, ...outcome });
    if (!('error' in outcome)) return outcome.value as T;
    this.#rejections++;
    throw outcome.error;
  }
}

/**
 * A retry policy: runs `fn` up to `maxAttempts` times while it fails with an error `retryOn` accepts (or
 * returns a result `retryOnResult` accepts), waiting an exponential backoff with jitter between attempts.
 * An error that carries `retryAfterMs` (a `BREAKER_OPEN`, a rate limit, a 429/503 `Retry-After` surfaced
 * by the restricted fetch) makes the next wait at least that long; one longer than `backoff.maxMs` ends the
 * retries at once, so a retry around an open breaker fails fast instead of waiting it out.
 *
 * When to use: around a call that fails transiently and is safe to repeat. Put it outside a circuit
 * breaker (`wrap(retry(...), breaker)`) so the breaker sees every attempt and stops a retry storm.
 *
 * Gotchas: the caller's signal is checked first and aborts a wait at once (rejecting with `signal.reason`,
 * timer and listener removed); an attempt that fails after the abort is not retried. When attempts run out
 * the last error is thrown as it is.
 *
 * @example
 * ```ts
 * const policy = wrap(retry({ maxAttempts: 3, backoff: { initialMs: 100, maxMs: 2_000 } }), breaker);
 * const text = await policy.execute(({ signal }) => fetch(url, { signal }).then((r) => r.text()), signal);
 * ```
 */
export function retry(options: RetryOptions = {}): RetryPolicy {
  return new Retry(options);
}
