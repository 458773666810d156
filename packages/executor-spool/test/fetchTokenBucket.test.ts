import { ManualClock } from '@ordo/contracts/testing';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createTokenBucket } from '../src/index.js';

describe('createTokenBucket', () => {
  it('allows a burst, then one token per 1/perSecond, per key', () => {
    const clock = new ManualClock();
    const limiter = createTokenBucket({ perSecond: 2, burst: 3, clock });
    expect([1, 2, 3].map(() => limiter.tryAcquire('a').acquired)).toEqual([true, true, true]);
    expect(limiter.tryAcquire('a')).toEqual({ acquired: false, retryAfterMs: 500 });
    expect(limiter.tryAcquire('b').acquired).toBe(true);
    clock.advance(250);
    expect(limiter.tryAcquire('a')).toEqual({ acquired: false, retryAfterMs: 250 });
    clock.advance(250);
    expect(limiter.tryAcquire('a').acquired).toBe(true);
    clock.advance(60_000);
    expect([1, 2, 3, 4].map(() => limiter.tryAcquire('a').acquired)).toEqual([true, true, true, false]);
  });

  it('acquire waits for the token, first come first served', async () => {
    const clock = new ManualClock();
    const limiter = createTokenBucket({ perSecond: 1, burst: 1, clock });
    await limiter.acquire('h');
    const order: number[] = [];
    const waits = [1, 2, 3].map((i) => limiter.acquire('h').then(() => order.push(i)));
    expect(limiter.tryAcquire('h').acquired).toBe(false);
    await clock.advanceAsync(999);
    expect(order).toEqual([]);
    await clock.advanceAsync(1);
    expect(order).toEqual([1]);
    await clock.advanceAsync(2_000);
    await Promise.all(waits);
    expect(order).toEqual([1, 2, 3]);
  });

  it('a new call never overtakes the line, even while a waiter’s timer fires late', async () => {
    const clock = new ManualClock();
    const limiter = createTokenBucket({ perSecond: 1, burst: 1, clock });
    await limiter.acquire('h');
    const order: string[] = [];
    const first = limiter.acquire('h').then(() => order.push('first'));
    await clock.advanceAsync(0);
    clock.setNow(1_500); // a token is due, but the waiter's timer has not fired yet
    const second = limiter.acquire('h').then(() => order.push('second'));
    await clock.advanceAsync(2_000);
    await Promise.all([first, second]);
    expect(order).toEqual(['first', 'second']);
  });

  it('acquire rejects with the reason on abort, and the line moves on', async () => {
    const clock = new ManualClock();
    const limiter = createTokenBucket({ perSecond: 1, burst: 1, clock });
    await limiter.acquire('h');
    const controller = new AbortController();
    const aborted = limiter.acquire('h', controller.signal);
    const next = limiter.acquire('h');
    const reason = new Error('gone');
    controller.abort(reason);
    await expect(aborted).rejects.toBe(reason);
    await expect(limiter.acquire('h', AbortSignal.abort(reason))).rejects.toBe(reason);
    await clock.advanceAsync(1_000);
    await next;
  });

  it('never hands out more than burst + perSecond × elapsed tokens (property)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 50 }),
        fc.integer({ min: 1, max: 10 }),
        fc.array(fc.integer({ min: 0, max: 700 }), { maxLength: 60 }),
        (perSecond, burst, steps) => {
          const clock = new ManualClock();
          const limiter = createTokenBucket({ perSecond, burst, clock });
          let granted = 0;
          for (const step of steps) {
            clock.advance(step);
            const decision = limiter.tryAcquire('k');
            if (decision.acquired) granted++;
            else expect(decision.retryAfterMs).toBeGreaterThan(0);
            expect(granted).toBeLessThanOrEqual(burst + Math.floor((clock.now() * perSecond) / 1000));
          }
        },
      ),
    );
  });

  it('acquire grants in call order and within the rate, line or no line (property)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 20 }),
        fc.integer({ min: 1, max: 5 }),
        fc.array(
          fc.record({ calls: fc.integer({ min: 0, max: 3 }), advance: fc.integer({ min: 0, max: 400 }) }),
          {
            maxLength: 30,
          },
        ),
        async (perSecond, burst, steps) => {
          const clock = new ManualClock();
          const limiter = createTokenBucket({ perSecond, burst, clock });
          const granted: number[] = [];
          const pending: Promise<unknown>[] = [];
          let calls = 0;
          for (const step of steps) {
            for (let i = 0; i < step.calls; i++) {
              const id = calls++;
              pending.push(limiter.acquire('k').then(() => granted.push(id)));
            }
            await clock.advanceAsync(step.advance);
            expect(granted).toEqual(granted.map((_, i) => i));
            expect(granted.length).toBeLessThanOrEqual(burst + Math.floor((clock.now() * perSecond) / 1000));
          }
          await clock.advanceAsync(Math.ceil((calls * 1000) / perSecond) + 1000);
          await Promise.all(pending);
          expect(granted).toEqual(granted.map((_, i) => i));
          expect(granted).toHaveLength(calls);
        },
      ),
      { numRuns: 60 },
    );
  });

  it('refuses bad rates', () => {
    expect(() => createTokenBucket({ perSecond: 0 })).toThrowError(
      expect.objectContaining({ code: 'FETCH_INVALID_OPTION' }),
    );
    expect(() => createTokenBucket({ perSecond: 1, burst: 0.5 })).toThrowError(
      expect.objectContaining({ code: 'FETCH_INVALID_OPTION' }),
    );
  });
});
