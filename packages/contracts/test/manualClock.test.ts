import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../src/testing.js';

describe('ManualClock', () => {
  it('fires due timers in order of due time, then of creation', () => {
    const clock = new ManualClock(1_000);
    const fired: string[] = [];
    clock.setTimeout(() => fired.push('c@30'), 30);
    clock.setTimeout(() => fired.push('a@10'), 10);
    clock.setTimeout(() => fired.push('b@10'), 10);
    clock.setTimeout(() => fired.push('d@50'), 50);

    clock.advance(30);
    expect(fired).toEqual(['a@10', 'b@10', 'c@30']);
    expect(clock.now()).toBe(1_030);
    expect(clock.pendingTimers).toBe(1);
  });

  it('shows each callback the time it was due at', () => {
    const clock = new ManualClock();
    const seen: number[] = [];
    clock.setTimeout(() => seen.push(clock.now()), 5);
    clock.setTimeout(() => seen.push(clock.now()), 7);
    clock.advance(100);
    expect(seen).toEqual([5, 7]);
    expect(clock.now()).toBe(100);
  });

  it('fires timers set by callbacks when they fall inside the window', () => {
    const clock = new ManualClock();
    const fired: number[] = [];
    const tick = () => {
      fired.push(clock.now());
      if (fired.length < 10) clock.setTimeout(tick, 10);
    };
    clock.setTimeout(tick, 10);
    clock.advance(35);
    expect(fired).toEqual([10, 20, 30]);
    clock.advance(1_000);
    expect(fired).toHaveLength(10);
  });

  it('never fires a cleared timer', () => {
    const clock = new ManualClock();
    let fired = false;
    const handle = clock.setTimeout(() => {
      fired = true;
    }, 10);
    clock.clearTimeout(handle);
    clock.clearTimeout('not a handle');
    clock.advance(20);
    expect(fired).toBe(false);
  });

  it('resolves sleep when advanced, and rejects with the abort reason', async () => {
    const clock = new ManualClock();
    const slept = clock.sleep(100);
    clock.advance(99);
    let done = false;
    void slept.then(() => {
      done = true;
    });
    await Promise.resolve();
    expect(done).toBe(false);
    clock.advance(1);
    await slept;

    const controller = new AbortController();
    const aborted = clock.sleep(100, controller.signal);
    controller.abort(new Error('stop'));
    await expect(aborted).rejects.toThrow('stop');
    expect(clock.pendingTimers).toBe(0);
    await expect(clock.sleep(1, controller.signal)).rejects.toThrow('stop');
  });

  it('lets awaiting loops set their next timer with advanceAsync', async () => {
    const clock = new ManualClock();
    const ticks: number[] = [];
    const loop = (async () => {
      for (let i = 0; i < 5; i++) {
        await clock.sleep(10);
        ticks.push(clock.now());
      }
    })();
    await clock.advanceAsync(50);
    await loop;
    expect(ticks).toEqual([10, 20, 30, 40, 50]);
  });

  it('refuses to go backwards', () => {
    const clock = new ManualClock(10);
    expect(() => clock.advance(-1)).toThrow(RangeError);
    expect(() => clock.setNow(5)).toThrow(RangeError);
    clock.setNow(20);
    expect(clock.now()).toBe(20);
  });

  it('fires any set of timers sorted by (due, creation) — property', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 1_000 }), { maxLength: 60 }), (delays) => {
        const clock = new ManualClock();
        const fired: number[] = [];
        for (const [index, delay] of delays.entries()) {
          clock.setTimeout(() => fired.push(index), delay);
        }
        clock.advance(1_000);
        const expected = delays
          .map((delay, index) => ({ delay, index }))
          .sort((a, b) => a.delay - b.delay || a.index - b.index)
          .map((t) => t.index);
        expect(fired).toEqual(expected);
      }),
    );
  });
});
