import { isOrdoError, type Policy, type PolicyContext } from '@ordo/contracts';
import { ManualClock } from '@ordo/contracts/testing';
import { ConsecutiveBreaker, circuitBreaker, handleAll } from 'cockatiel';
import { describe, expect, expectTypeOf, it } from 'vitest';
import {
  bulkhead,
  CircuitBreaker,
  createMetrics,
  fallback,
  type PolicyLike,
  retry,
  timeout,
  wrap,
} from '../src/index.js';

/** A policy that records when it enters and leaves, and which signal it was given. */
function tracer(name: string, log: string[]): PolicyLike & { signals: (AbortSignal | undefined)[] } {
  const signals: (AbortSignal | undefined)[] = [];
  return {
    signals,
    async execute(fn: (context: PolicyContext) => unknown, signal?: AbortSignal) {
      signals.push(signal);
      log.push(`>${name}`);
      try {
        return await fn({ signal: signal ?? new AbortController().signal });
      } finally {
        log.push(`<${name}`);
      }
    },
  };
}

describe('wrap', () => {
  it('runs the first policy outermost', async () => {
    const log: string[] = [];
    const policy = wrap(tracer('a', log), tracer('b', log), tracer('c', log));
    await expect(policy.execute(() => log.push('fn'))).resolves.toBe(4);
    expect(log).toEqual(['>a', '>b', '>c', 'fn', '<c', '<b', '<a']);
    expect(policy.name).toBe('policy>policy>policy');
  });

  it("passes each layer's signal to the next: a caller's abort and an inner timeout both reach fn", async () => {
    const clock = new ManualClock(0);
    const log: string[] = [];
    const outer = tracer('outer', log);
    const policy = wrap(outer, timeout(500, { clock }));
    let seen: AbortSignal | undefined;
    const hang = ({ signal }: PolicyContext) =>
      new Promise((_r, reject) => {
        seen = signal;
        signal.addEventListener('abort', () => reject(signal.reason), { once: true });
      });
    const controller = new AbortController();
    const aborted = policy.execute(hang, controller.signal).catch((e: unknown) => e);
    controller.abort('caller');
    expect(await aborted).toBe('caller');
    expect(seen?.aborted).toBe(true);
    expect(outer.signals[0]).toBe(controller.signal);

    const timedOut = policy.execute(hang).catch((e: unknown) => e);
    clock.advance(500);
    expect(isOrdoError(await timedOut, 'POLICY_TIMEOUT')).toBe(true);
  });

  it('without a signal, governance layers hand none down (each stays on its fast path)', async () => {
    const log: string[] = [];
    const inner = tracer('inner', log);
    const breaker = new CircuitBreaker({ name: 'b' });
    await wrap(retry(), breaker, bulkhead({ maxConcurrent: 1 }), inner).execute(() => 1);
    expect(inner.signals).toEqual([undefined]);
  });

  it('is a contracts Policy, and a fallback in it widens the result type', async () => {
    const plain = wrap(retry(), new CircuitBreaker({ name: 'b' }));
    expectTypeOf(plain).toExtend<Policy>();
    const withFallback = wrap(
      fallback(() => 'cached' as const),
      retry({ maxAttempts: 1 }),
    );
    const value = await withFallback.execute(() => Promise.reject<number>(new Error('x')));
    expectTypeOf(value).toEqualTypeOf<number | 'cached'>();
    expect(value).toBe('cached');
  });

  it('retry outside a breaker: the breaker sees every attempt, then BREAKER_OPEN ends the retries', async () => {
    const clock = new ManualClock(0);
    const breaker = new CircuitBreaker({
      name: 'api',
      clock,
      failureThreshold: 2,
      backoff: { initialMs: 5_000 },
    });
    const policy = wrap(retry({ clock, maxAttempts: 5, backoff: { initialMs: 10, maxMs: 1_000 } }), breaker);
    let calls = 0;
    const done = policy
      .execute(() => {
        calls++;
        return Promise.reject(new Error('500'));
      })
      .catch((e: unknown) => e);
    await clock.advanceAsync(1_000);
    // two failures open it; the third attempt is refused, asks for 5 s, more than the 1 s cap: give up
    expect(isOrdoError(await done, 'BREAKER_OPEN')).toBe(true);
    expect(calls).toBe(2);
    expect(breaker.stats()).toEqual({ attempts: 2, rejections: 1 });
  });

  it('composes with a cockatiel policy', async () => {
    const clock = new ManualClock(0);
    const cockatielBreaker = circuitBreaker(handleAll, {
      halfOpenAfter: 1_000,
      breaker: new ConsecutiveBreaker(2),
    });
    const policy = wrap(retry({ clock, maxAttempts: 2, backoff: { jitter: 'none' } }), cockatielBreaker);
    let calls = 0;
    const done = policy.execute(() => (++calls === 1 ? Promise.reject(new Error('once')) : 'ok'));
    await clock.advanceAsync(1_000);
    await expect(done).resolves.toBe('ok');
    expect(calls).toBe(2);
  });

  it('refuses no policies and things that are not policies', () => {
    expect(() => wrap()).toThrow(expect.objectContaining({ code: 'GOVERNANCE_OPTIONS_INVALID' }));
    expect(() => wrap(retry(), {} as never)).toThrow(/policies\[1\]/);
  });

  it("metrics count each wrapped policy's attempts and rejections and each breaker's open time", async () => {
    const clock = new ManualClock(0);
    const breaker = new CircuitBreaker({
      name: 'api',
      clock,
      failureThreshold: 1,
      backoff: { initialMs: 2_000 },
    });
    const retrying = retry({
      name: 'api-retry',
      clock,
      maxAttempts: 3,
      backoff: { initialMs: 10, maxMs: 100 },
    });
    const policy = wrap(retrying, breaker);
    const metrics = createMetrics();
    using _binding = metrics.bind({ policies: [policy], breakers: [breaker] });
    const done = policy.execute(() => Promise.reject(new Error('down'))).catch(() => undefined);
    await clock.advanceAsync(100); // the one backoff wait (at most 10 ms), then BREAKER_OPEN ends it
    await done;
    clock.advance(1_400);
    const text = await metrics.registry.metrics();
    expect(text).toContain('ordo_policy_attempts_total{policy="api-retry",kind="retry"} 2');
    expect(text).toContain('ordo_policy_rejections_total{policy="api-retry",kind="retry"} 1');
    expect(text).toContain('ordo_policy_attempts_total{policy="api",kind="breaker"} 1');
    expect(text).toContain('ordo_policy_rejections_total{policy="api",kind="breaker"} 1');
    expect(text).toContain('ordo_circuit_breaker_open_seconds_total{name="api"} 1.5');
    clock.advance(1_000); // it went half-open at 2 s: open time stops there
    expect(await metrics.registry.metrics()).toContain(
      'ordo_circuit_breaker_open_seconds_total{name="api"} 2',
    );
    await breaker.close();
  });
});

describe('fallback', () => {
  it('answers for an error it handles, passes others through, and never answers an abort', async () => {
    const answered: unknown[] = [];
    const policy = fallback((e) => `fallback for ${(e as Error).message}`, {
      handle: (e) => (e as Error).message !== 'fatal',
    });
    policy.on('fallback', (e) => answered.push(e));
    await expect(policy.execute(() => Promise.reject(new Error('flaky')))).resolves.toBe(
      'fallback for flaky',
    );
    await expect(policy.execute(() => Promise.reject(new Error('fatal')))).rejects.toThrow('fatal');
    await expect(policy.execute(() => 'fine')).resolves.toBe('fine');
    const controller = new AbortController();
    const aborted = policy.execute(
      ({ signal }) =>
        new Promise((_r, reject) => signal.addEventListener('abort', () => reject(new Error('x')))),
      controller.signal,
    );
    controller.abort('stop');
    await expect(aborted).rejects.toBe('stop');
    expect(answered).toHaveLength(1);
    expect(policy.stats()).toEqual({ attempts: 4, rejections: 1 });
  });

  it('answers BREAKER_OPEN outermost in a chain', async () => {
    const clock = new ManualClock(0);
    const breaker = new CircuitBreaker({ name: 'prices', clock, failureThreshold: 1 });
    const policy = wrap(
      fallback(() => 'last known', { handle: (e) => isOrdoError(e, 'BREAKER_OPEN') }),
      breaker,
    );
    await expect(policy.execute(() => Promise.reject(new Error('down')))).rejects.toThrow('down');
    let calls = 0;
    await expect(policy.execute(() => ++calls)).resolves.toBe('last known');
    expect(calls).toBe(0);
    await breaker.close();
  });

  it('refuses an answer that is not a function', () => {
    expect(() => fallback('value' as never)).toThrow(
      expect.objectContaining({ code: 'GOVERNANCE_OPTIONS_INVALID' }),
    );
  });
});
