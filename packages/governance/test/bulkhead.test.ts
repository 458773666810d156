import { getEventListeners } from 'node:events';
import { isOrdoError } from '@ordo/contracts';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type BulkheadFullError, bulkhead } from '../src/index.js';

/** A call that runs until `release()`; `running` counts the calls inside it now and the most at once. */
function gate() {
  const waiting: (() => void)[] = [];
  const state = { running: 0, peak: 0, ran: 0 };
  const call = () =>
    new Promise<number>((resolve) => {
      state.running++;
      state.ran++;
      state.peak = Math.max(state.peak, state.running);
      waiting.push(() => {
        state.running--;
        resolve(state.ran);
      });
    });
  const release = async (count = Number.POSITIVE_INFINITY) => {
    for (let i = 0; i < count && waiting.length > 0; i++) waiting.shift()?.();
    for (let i = 0; i < 5; i++) await Promise.resolve();
  };
  return { call, release, state, pending: () => waiting.length };
}

describe('bulkhead', () => {
  it('runs at most maxConcurrent calls, queues maxQueued and refuses the rest with BULKHEAD_FULL', async () => {
    const policy = bulkhead({ name: 'engine', maxConcurrent: 2, maxQueued: 1 });
    const rejected: BulkheadFullError[] = [];
    policy.on('rejected', (e) => rejected.push(e));
    const g = gate();
    const calls = [1, 2, 3, 4].map(() => policy.execute(g.call).catch((e: unknown) => e));
    expect(policy.executing).toBe(2);
    expect(policy.queued).toBe(1);
    const fourth = await calls[3];
    expect(isOrdoError(fourth, 'BULKHEAD_FULL')).toBe(true);
    expect(rejected).toEqual([fourth]);
    await g.release(1);
    expect(policy.executing).toBe(2); // the queued call took the freed slot
    expect(policy.queued).toBe(0);
    await g.release();
    await g.release();
    expect((await Promise.all(calls.slice(0, 3))).every((v) => typeof v === 'number')).toBe(true);
    expect(g.state.peak).toBe(2);
    expect(policy.stats()).toEqual({ attempts: 3, rejections: 1 });
  });

  it('a queued call whose signal aborts leaves the queue and rejects with the reason', async () => {
    const policy = bulkhead({ maxConcurrent: 1, maxQueued: 5 });
    const g = gate();
    const first = policy.execute(g.call);
    const controller = new AbortController();
    const queued = policy.execute(g.call, controller.signal).catch((e: unknown) => e);
    expect(policy.queued).toBe(1);
    controller.abort('gone');
    expect(await queued).toBe('gone');
    expect(policy.queued).toBe(0);
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
    await g.release();
    await first;
    expect(g.state.ran).toBe(1);
  });

  it('a slot frees when fn fails, and an already aborted signal is refused without taking one', async () => {
    const policy = bulkhead({ maxConcurrent: 1 });
    await expect(policy.execute(() => Promise.reject(new Error('x')))).rejects.toThrow('x');
    await expect(policy.execute(() => 'y', AbortSignal.abort('no'))).rejects.toBe('no');
    await expect(policy.execute(() => 'z')).resolves.toBe('z');
    expect(policy.executing).toBe(0);
  });

  it('loses no call under 1,000 concurrent calls: each runs once or is refused with BULKHEAD_FULL', async () => {
    const policy = bulkhead({ maxConcurrent: 16, maxQueued: 300 });
    const g = gate();
    const outcomes = Array.from({ length: 1_000 }, () =>
      policy.execute(g.call).then(
        () => 'ran',
        (e) => e,
      ),
    );
    while (g.pending() > 0) await g.release(7);
    const settled = await Promise.all(outcomes);
    const ran = settled.filter((o) => o === 'ran').length;
    const full = settled.filter((o) => isOrdoError(o, 'BULKHEAD_FULL')).length;
    expect(ran).toBe(316);
    expect(full).toBe(684);
    expect(ran + full).toBe(1_000);
    expect(g.state.ran).toBe(ran);
    expect(g.state.peak).toBe(16);
    expect(policy.stats()).toEqual({ attempts: ran, rejections: full });
  });

  it('property: calls run + refused + aborted = calls made, and never more than maxConcurrent at once', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 8 }),
        fc.integer({ min: 0, max: 8 }),
        fc.array(fc.constantFrom('call', 'abortable', 'release', 'abort'), { maxLength: 60 }),
        async (maxConcurrent, maxQueued, ops) => {
          const policy = bulkhead({ maxConcurrent, maxQueued });
          const g = gate();
          const controllers: AbortController[] = [];
          const outcomes: Promise<string>[] = [];
          for (const op of ops) {
            if (op === 'release') await g.release(1);
            else if (op === 'abort') controllers.shift()?.abort('aborted');
            else {
              const controller = op === 'abortable' ? new AbortController() : undefined;
              if (controller) controllers.push(controller);
              outcomes.push(
                policy.execute(g.call, controller?.signal).then(
                  () => 'ran',
                  (e: unknown) => (isOrdoError(e, 'BULKHEAD_FULL') ? 'full' : String(e)),
                ),
              );
            }
            expect(policy.executing).toBeLessThanOrEqual(maxConcurrent);
            expect(policy.queued).toBeLessThanOrEqual(maxQueued);
          }
          while (g.pending() > 0) await g.release();
          const settled = await Promise.all(outcomes);
          const count = (what: string) => settled.filter((o) => o === what).length;
          expect(count('ran') + count('full') + count('aborted')).toBe(outcomes.length);
          expect(g.state.ran).toBe(count('ran'));
          expect(g.state.peak).toBeLessThanOrEqual(maxConcurrent);
          expect(policy.stats()).toEqual({ attempts: count('ran'), rejections: count('full') });
        },
      ),
      { numRuns: 200 },
    );
  });

  it('refuses bad options', () => {
    for (const options of [{ maxConcurrent: 0 }, { maxConcurrent: 2, maxQueued: -1 }, null]) {
      expect(() => bulkhead(options as never)).toThrow(
        expect.objectContaining({ code: 'GOVERNANCE_OPTIONS_INVALID' }),
      );
    }
  });
});
