import { WorkerStatus } from '@ordo/contracts';
import { ManualClock, RecordingLogger } from '@ordo/contracts/testing';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createPoller } from '../src/index.js';

/** A launcher whose syncState takes `costMs` on the clock and makes `calls` API calls. */
function slowLauncher(clock: ManualClock, costMs: number, calls = 1) {
  const state = { active: 0, maxActive: 0, syncs: 0, apiCalls: 0, fail: false };
  return {
    state,
    apiCalls: () => ({ 'GET /containers/json': state.apiCalls }),
    async syncState(signal?: AbortSignal) {
      state.active++;
      state.maxActive = Math.max(state.maxActive, state.active);
      try {
        state.syncs++;
        state.apiCalls += calls;
        await clock.sleep(costMs, signal);
        if (state.fail) throw new Error('engine down');
        return new Map([['w1', WorkerStatus.IDLE]]);
      } finally {
        state.active--;
      }
    },
  };
}

describe('createPoller', () => {
  it('ticks every interval and reports overhead and calls per minute', async () => {
    const clock = new ManualClock(0);
    const launcher = slowLauncher(clock, 3_000);
    await using poller = createPoller({ launcher, intervalMs: 15_000, clock });
    const ticks: number[] = [];
    poller.on('tick', ({ durationMs, states }) => {
      ticks.push(durationMs);
      expect(states.get('w1')).toBe('idle');
    });
    poller.start();
    await clock.advanceAsync(60_000);
    expect(ticks).toEqual([3_000, 3_000, 3_000]); // the 4th started at 60 s and is still running
    await clock.advanceAsync(3_000);
    expect(poller.stats()).toEqual({
      ticks: 4,
      skipped: 0,
      errors: 0,
      busyMs: 12_000,
      elapsedMs: 63_000,
      overhead: 12_000 / 63_000,
      apiCalls: 4,
      callsPerMinute: (4 * 60_000) / 63_000,
    });
  });

  it('property: never runs two syncStates at once, and every due tick either runs or is skipped', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 40 }),
        fc.integer({ min: 0, max: 100 }),
        fc.integer({ min: 1, max: 20 }),
        async (interval, cost, intervals) => {
          const clock = new ManualClock(0);
          const launcher = slowLauncher(clock, cost);
          const poller = createPoller({ launcher, intervalMs: interval, clock });
          poller.start();
          await clock.advanceAsync(interval * intervals);
          const stats = poller.stats();
          await poller.close();
          expect(launcher.state.maxActive).toBeLessThanOrEqual(1);
          expect(stats.ticks + stats.skipped).toBe(intervals);
          if (cost < interval) expect(stats.skipped).toBe(0);
        },
      ),
      { numRuns: 60 },
    );
  });

  it('tick() joins a running tick instead of overlapping it', async () => {
    const clock = new ManualClock(0);
    const launcher = slowLauncher(clock, 1_000);
    await using poller = createPoller({ launcher, clock });
    const a = poller.tick();
    const b = poller.tick();
    expect(a).toBe(b);
    await clock.advanceAsync(1_000);
    expect((await a)?.get('w1')).toBe('idle');
    expect(launcher.state.syncs).toBe(1);
  });

  it('logs and emits a failed tick, and keeps going', async () => {
    const clock = new ManualClock(0);
    const logger = new RecordingLogger();
    const launcher = slowLauncher(clock, 0);
    launcher.state.fail = true;
    await using poller = createPoller({ launcher, intervalMs: 1_000, clock, logger });
    const errors: unknown[] = [];
    poller.on('error', (e) => errors.push(e));
    poller.start();
    await clock.advanceAsync(2_000);
    launcher.state.fail = false;
    await clock.advanceAsync(1_000);
    expect(errors).toHaveLength(2);
    expect(poller.stats()).toMatchObject({ ticks: 3, errors: 2 });
    expect(logger.at('warn')).toHaveLength(2);
  });

  it('close() aborts the running tick and leaves no timer', async () => {
    const clock = new ManualClock(0);
    const launcher = slowLauncher(clock, 60_000);
    const poller = createPoller({ launcher, intervalMs: 1_000, clock });
    poller.start();
    await clock.advanceAsync(1_000);
    expect(launcher.state.active).toBe(1);
    await poller.close();
    expect(launcher.state.active).toBe(0);
    expect(clock.pendingTimers).toBe(0);
    expect(poller.stats().errors).toBe(0);
  });

  it('rejects a bad interval', () => {
    const clock = new ManualClock(0);
    expect(() => createPoller({ launcher: slowLauncher(clock, 0), intervalMs: 0 })).toThrow(/intervalMs/);
  });
});
