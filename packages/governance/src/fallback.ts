import type { PolicyContext } from '@ordo/contracts';
import { EventEmitter } from 'eventemitter3';
import { GovernanceOptionsError } from './errors.js';
import { IDLE_CONTEXT } from './internal/idle.js';
import type { GovernancePolicy, PolicyStats } from './policy.js';

/** Options for {@link fallback}. */
export interface FallbackOptions {
  /** @default 'fallback' */
  name?: string | undefined;
  /**
   * Which errors the fallback answers; others are thrown as they are. The caller's abort never is.
   * @default () => true (every error)
   */
  handle?: ((error: unknown) => boolean) | undefined;
}

/** The events of a {@link FallbackPolicy}. */
export interface FallbackPolicyEvents {
  /** `fn` failed with `error` and the fallback answered instead. */
  fallback: [error: unknown];
}

/** A policy that answers with a fallback value when `fn` fails. */
export interface FallbackPolicy<F>
  extends Omit<GovernancePolicy, 'execute'>,
    EventEmitter<FallbackPolicyEvents> {
  readonly kind: 'fallback';
  execute<T>(fn: (context: PolicyContext) => PromiseLike<T> | T, signal?: AbortSignal): Promise<T | F>;
}

const always = () => true;

class Fallback<F> extends EventEmitter<FallbackPolicyEvents> implements FallbackPolicy<F> {
  readonly kind = 'fallback';
  readonly name: string;
  readonly #answer: (error: unknown) => PromiseLike<F> | F;
  readonly #handle: (error: unknown) => boolean;
  #attempts = 0;
  #rejections = 0;

  constructor(answer: (error: unknown) => PromiseLike<F> | F, options: FallbackOptions) {
    super();
    if (typeof answer !== 'function') {
      throw new GovernanceOptionsError('fallback', 'answer', answer, 'a function (error) => value');
    }
    this.#answer = answer;
    this.name = options.name ?? 'fallback';
    this.#handle = options.handle ?? always;
  }

  stats(): PolicyStats {
    return { attempts: this.#attempts, rejections: this.#rejections };
  }

  async execute<T>(fn: (context: PolicyContext) => PromiseLike<T> | T, signal?: AbortSignal): Promise<T | F> {
    signal?.throwIfAborted();
    this.#attempts++;
    try {
      return await fn(signal ? { signal } : IDLE_CONTEXT);
    } catch (error) {
      if (signal?.aborted) throw signal.reason;
      if (!this.#handle(error)) throw error;
      this.#rejections++;
      this.emit('fallback', error);
      return await this.#answer(error);
    }
  }
}

/**
 * A fallback policy: when `fn` fails with an error `handle` accepts, answers with `answer(error)` instead
 * (a cached value, a default, a degraded path). Put it outermost: `wrap(fallback(...), retry, breaker)`
 * answers once the retries are spent or the breaker is open (`BREAKER_OPEN`).
 *
 * Gotchas: the caller's abort is not answered; it rejects with `signal.reason`. An error `answer` throws
 * is the call's error.
 *
 * @example
 * ```ts
 * const cached = fallback(() => lastKnownPrice, { handle: (e) => isOrdoError(e, 'BREAKER_OPEN') });
 * const price = await cached.execute(() => fetchPrice());
 * ```
 */
export function fallback<F>(
  answer: (error: unknown) => PromiseLike<F> | F,
  options: FallbackOptions = {},
): FallbackPolicy<F> {
  return new Fallback(answer, options);
}
