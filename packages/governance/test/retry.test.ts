import { getEventListeners } from 'node:events';
import { isOrdoError, OrdoError } from '@ordo/contracts';
import { ManualClock } from '@ordo/contracts/testing';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  CircuitBreaker,
  type RetryEvent,
  type RetryGiveUp,
  type RetryOptions,
  retry,
  wrap,
} from '../src/index.js';

/** Returns the numbers of `values` in turn, then repeats the last one. */
const sequence = (...values: number[]) => {
  let i = 0;
  return () => values[Math.min(i++, values.length - 1)] as number;
};

class Flaky extends OrdoError {
  override readonly code = 'TEST_FLAKY';
  readonly retryAfterMs: number | undefined;
  constructor(retryAfterMs?: number) {
    super('flaky');
    this.retryAfterMs = retryAfterMs;
  }
}

/** A retry on a ManualClock, an always-failing call that records when each attempt ran, and the events. */
function setup(options: RetryOptions = {}) {
  const clock = new ManualClock(0);
  const policy = retry({ clock, ...options });
  const times: number[] = [];
  const retries: RetryEvent[] = [];
  const giveUps: RetryGiveUp[] = [];
  policy.on('retry', (e) => retries.push(e));
  policy.on('giveUp', (e) => giveUps.push(e));
  const failing =
    (error: () => unknown = () => new Flaky()) =>
    () => {
      times.push(clock.now());
      return Promise.reject(error());
    };
  return { clock, policy, times, retries, giveUps, failing };
}

describe('retry', () => {
  it('waits the exact exponential schedule without jitter, capped at maxMs', async () => {
    const { clock, policy, times, retries, giveUps, failing } = setup({
      maxAttempts: 6,
      backoff: { initialMs: 100, factor: 2, maxMs: 1_000, jitter: 'none' },
    });
    const done = policy.execute(failing()).catch((e: unknown) => e);
    await clock.advanceAsync(10_000);
    expect(await done).toBeInstanceOf(Flaky);
    expect(retries.map((e) => e.delayMs)).toEqual([100, 200, 400, 800, 1_000]);
    expect(times).toEqual([0, 100, 300, 700, 1_500, 2_500]);
    expect(giveUps).toMatchObject([{ attempts: 6, reason: 'maxAttempts' }]);
    expect(policy.stats()).toEqual({ attempts: 6, rejections: 1 });
  });

  it('spreads delays with full jitter from the injected random', async () => {
    const { clock, policy, times, failing } = setup({
      maxAttempts: 5,
      random: sequence(0.5, 0.25, 0.75, 0),
      backoff: { initialMs: 100, maxMs: 10_000 },
    });
    const done = policy.execute(failing()).catch(() => undefined);
    await clock.advanceAsync(10_000);
    await done;
    // 0.5 × 100, 0.25 × 200, 0.75 × 400, 0 × 800
    expect(times).toEqual([0, 50, 100, 400, 400]);
  });

  it('spreads delays with decorrelated jitter: each between initialMs and the previous × factor', async () => {
    const { clock, policy, retries, failing } = setup({
      maxAttempts: 6,
      random: sequence(0.5, 0.5, 0.75, 0, 1),
      backoff: { initialMs: 100, factor: 2, maxMs: 500, jitter: 'decorrelated' },
    });
    const done = policy.execute(failing()).catch(() => undefined);
    await clock.advanceAsync(10_000);
    await done;
    // 100 + 0.5 × (200 − 100); 100 + 0.5 × (300 − 100); 100 + 0.75 × (400 − 100); 100 + 0; capped: 100 + 1 × (200 − 100)
    expect(retries.map((e) => e.delayMs)).toEqual([150, 200, 325, 100, 200]);
  });

  it('waits at least the retryAfterMs an error carries', async () => {
    const { clock, policy, times, failing } = setup({
      maxAttempts: 3,
      backoff: { initialMs: 100, maxMs: 1_000, jitter: 'none' },
    });
    const done = policy.execute(failing(() => new Flaky(700))).catch(() => undefined);
    await clock.advanceAsync(5_000);
    await done;
    expect(times).toEqual([0, 700, 1_400]);
  });

  it('gives up at once when retryAfterMs is longer than the cap', async () => {
    const { clock, policy, times, giveUps, failing } = setup({ backoff: { maxMs: 1_000 } });
    const done = policy.execute(failing(() => new Flaky(5_000))).catch((e: unknown) => e);
    await clock.advanceAsync(0);
    expect(await done).toBeInstanceOf(Flaky);
    expect(times).toEqual([0]);
    expect(giveUps).toMatchObject([{ attempts: 1, reason: 'retryAfter' }]);
    expect(clock.pendingTimers).toBe(0);
  });

  it("waits out a breaker's BREAKER_OPEN retryAfterMs, then its half-open probe succeeds", async () => {
    const clock = new ManualClock(0);
    const breaker = new CircuitBreaker({
      name: 'api',
      clock,
      failureThreshold: 1,
      successThreshold: 1,
      backoff: { initialMs: 1_000 },
    });
    await expect(breaker.execute(() => Promise.reject(new Error('down')))).rejects.toThrow('down');
    const policy = wrap(retry({ clock, maxAttempts: 2, backoff: { initialMs: 10, maxMs: 2_000 } }), breaker);
    const times: number[] = [];
    const done = policy.execute(() => {
      times.push(clock.now());
      return 'up';
    });
    await clock.advanceAsync(1_000);
    await expect(done).resolves.toBe('up');
    expect(times).toEqual([1_000]); // the first attempt was refused by the open breaker
    expect(breaker.state).toBe('closed');
    await breaker.close();
  });

  it('does not retry an error retryOn refuses', async () => {
    const { clock, policy, times, giveUps, failing } = setup({
      retryOn: (e) => !isOrdoError(e, 'TEST_FLAKY'),
    });
    const done = policy.execute(failing()).catch((e: unknown) => e);
    await clock.advanceAsync(1_000);
    expect(await done).toBeInstanceOf(Flaky);
    expect(times).toEqual([0]);
    expect(giveUps).toMatchObject([{ reason: 'notRetryable' }]);
  });

  it('retries a result retryOnResult asks for and returns the last one when attempts run out', async () => {
    const { clock, policy } = setup({
      maxAttempts: 3,
      retryOnResult: (v) => (v as { status: number }).status >= 500,
      backoff: { jitter: 'none' },
    });
    const answers = [{ status: 503 }, { status: 200 }];
    const first = policy.execute(() => answers.shift());
    await clock.advanceAsync(1_000);
    await expect(first).resolves.toEqual({ status: 200 });
    const last = policy.execute(() => ({ status: 500 }));
    await clock.advanceAsync(1_000);
    await expect(last).resolves.toEqual({ status: 500 });
    expect(policy.stats()).toEqual({ attempts: 5, rejections: 0 });
  });

  it('rejects with the reason of an already aborted signal and never calls fn', async () => {
    const { policy } = setup();
    const reason = new Error('stop');
    let calls = 0;
    await expect(policy.execute(() => calls++, AbortSignal.abort(reason))).rejects.toBe(reason);
    expect(calls).toBe(0);
  });

  it('an abort during a backoff wait rejects at once with signal.reason and leaves no timer or listener', async () => {
    const { clock, policy, times, failing } = setup({ backoff: { initialMs: 1_000, jitter: 'none' } });
    const controller = new AbortController();
    const done = policy.execute(failing(), controller.signal).catch((e: unknown) => e);
    await clock.advanceAsync(10);
    expect(clock.pendingTimers).toBe(1);
    const reason = new Error('cancelled');
    controller.abort(reason);
    expect(await done).toBe(reason);
    expect(clock.pendingTimers).toBe(0);
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
    await clock.advanceAsync(10_000);
    expect(times).toEqual([0]);
  });

  it('does not retry an attempt that failed after the caller aborted', async () => {
    const { clock, policy } = setup();
    const controller = new AbortController();
    let calls = 0;
    const done = policy
      .execute(({ signal }) => {
        calls++;
        return new Promise((_resolve, reject) => signal.addEventListener('abort', () => reject(new Flaky())));
      }, controller.signal)
      .catch((e: unknown) => e);
    controller.abort('bye');
    expect(await done).toBe('bye');
    await clock.advanceAsync(10_000);
    expect(calls).toBe(1);
  });

  it('refuses bad options with GOVERNANCE_OPTIONS_INVALID', () => {
    const bad: RetryOptions[] = [
      { maxAttempts: 0 },
      { maxAttempts: 1.5 },
      { backoff: { initialMs: -1 } },
      { backoff: { factor: 0.5 } },
      { backoff: { maxMs: Number.NaN } },
      { backoff: { jitter: 'sometimes' as never } },
      { random: 4 as never },
    ];
    for (const options of bad) {
      expect(() => retry(options), JSON.stringify(options)).toThrow(
        expect.objectContaining({ code: 'GOVERNANCE_OPTIONS_INVALID' }),
      );
    }
  });

  it('property: every delay is within [0, maxMs] and fn runs at most maxAttempts times', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          maxAttempts: fc.integer({ min: 1, max: 8 }),
          initialMs: fc.integer({ min: 1, max: 5_000 }),
          factor: fc.double({ min: 1, max: 5, noNaN: true }),
          maxMs: fc.integer({ min: 1, max: 10_000 }),
          jitter: fc.constantFrom('none' as const, 'full' as const, 'decorrelated' as const),
          randoms: fc.array(fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), { minLength: 1 }),
          retryAfterMs: fc.option(fc.integer({ min: 0, max: 20_000 }), { nil: undefined }),
        }),
        async ({ maxAttempts, initialMs, factor, maxMs, jitter, randoms, retryAfterMs }) => {
          const { clock, policy, times, retries, failing } = setup({
            maxAttempts,
            random: sequence(...randoms),
            backoff: { initialMs, factor, maxMs, jitter },
          });
          const done = policy.execute(failing(() => new Flaky(retryAfterMs))).catch(() => undefined);
          for (let i = 0; i < maxAttempts; i++) await clock.advanceAsync(maxMs);
          await done;
          expect(times.length).toBeLessThanOrEqual(maxAttempts);
          expect(times.length).toBe(retries.length + 1);
          for (const { delayMs } of retries) {
            expect(delayMs).toBeGreaterThanOrEqual(Math.min(retryAfterMs ?? 0, maxMs));
            expect(delayMs).toBeLessThanOrEqual(maxMs);
          }
          expect(clock.pendingTimers).toBe(0);
        },
      ),
      { numRuns: 150 },
    );
  });
});
