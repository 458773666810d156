import type { PolicyContext } from '@ordo/contracts';
import { GovernanceOptionsError } from './errors.js';
import type { FallbackPolicy } from './fallback.js';
import { IDLE_SIGNAL } from './internal/idle.js';

/** Anything with a policy's `execute(fn, signal)`: governance policies, a `CircuitBreaker`, cockatiel's. */
export interface PolicyLike {
  // biome-ignore lint/suspicious/noExplicitAny: any policy's generic execute fits this shape
  execute(fn: (context: PolicyContext) => any, signal?: AbortSignal): Promise<unknown>;
}

/** What a fallback among the wrapped policies may answer instead of `fn`'s value. */
export type FallbackValueOf<P> = P extends FallbackPolicy<infer F> ? F : never;

/** Policies run one inside the other, the first outermost. */
export interface WrappedPolicy<F = never> {
  /** The names of the wrapped policies, outermost first, joined by `>`. */
  readonly name: string;
  /** The policies, outermost first. */
  readonly policies: readonly PolicyLike[];
  execute<T>(fn: (context: PolicyContext) => PromiseLike<T> | T, signal?: AbortSignal): Promise<T | F>;
}

class Wrapped<F> implements WrappedPolicy<F> {
  readonly name: string;
  readonly policies: readonly PolicyLike[];
  readonly #last: number;

  constructor(policies: readonly PolicyLike[]) {
    if (policies.length === 0) {
      throw new GovernanceOptionsError('wrap', 'policies', [], 'at least one policy');
    }
    policies.forEach((policy, i) => {
      if (typeof policy?.execute !== 'function') {
        throw new GovernanceOptionsError(
          'wrap',
          `policies[${i}]`,
          typeof policy,
          'an object with execute(fn, signal)',
        );
      }
    });
    this.policies = Object.freeze([...policies]);
    this.#last = policies.length - 1;
    this.name = policies.map((p) => (p as { name?: unknown }).name ?? 'policy').join('>');
  }

  execute<T>(fn: (context: PolicyContext) => PromiseLike<T> | T, signal?: AbortSignal): Promise<T | F> {
    return this.#run(0, fn, signal) as Promise<T | F>;
  }

  #run<T>(
    index: number,
    fn: (context: PolicyContext) => PromiseLike<T> | T,
    signal: AbortSignal | undefined,
  ): Promise<unknown> {
    const policy = this.policies[index] as PolicyLike;
    if (index === this.#last) return policy.execute(fn, signal);
    return policy.execute(
      (context: PolicyContext) =>
        this.#run(index + 1, fn, context.signal === IDLE_SIGNAL ? undefined : context.signal),
      signal,
    );
  }
}

/**
 * Composes policies: `wrap(a, b, c).execute(fn)` runs `a.execute(() => b.execute(() => c.execute(fn)))`,
 * the first outermost (cockatiel's order). Each layer passes its signal to the next, so aborting the
 * caller's signal, or a timeout's deadline, reaches `fn`.
 *
 * When to use: `wrap(fallback, retry, breaker, timeout)` is the usual order: the timeout bounds each
 * attempt, the breaker counts each one, the retry spaces them, the fallback answers when all else failed.
 * The result is a contracts `Policy`, so it fits anywhere one is asked for (the restricted fetch's
 * `breakerFor`, the container launcher's `policy`). It counts nothing itself: `createMetrics().bind({
 * policies: [wrapped] })` reads the governance policies inside it.
 *
 * @example
 * ```ts
 * const policy = wrap(retry({ maxAttempts: 3 }), createCircuitBreaker({ name: 'api' }), timeout(2_000));
 * await policy.execute(({ signal }) => fetch(url, { signal }));
 * ```
 */
export function wrap<const P extends readonly PolicyLike[]>(
  ...policies: P
): WrappedPolicy<FallbackValueOf<P[number]>> {
  return new Wrapped<FallbackValueOf<P[number]>>(policies);
}
