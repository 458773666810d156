import { getEventListeners } from 'node:events';
import { isOrdoError } from '@ordo/contracts';
import { ManualClock } from '@ordo/contracts/testing';
import { describe, expect, it } from 'vitest';
import { type PolicyTimeoutError, timeout } from '../src/index.js';

/** A call that settles only when its signal aborts (rejecting with `abortedWith`) or when `finish` is called. */
function slowCall(abortedWith: (signal: AbortSignal) => unknown = (s) => s.reason) {
  let finish: (value: string) => void = () => {};
  let seen: AbortSignal | undefined;
  const call = ({ signal }: { signal: AbortSignal }) =>
    new Promise<string>((resolve, reject) => {
      seen = signal;
      finish = resolve;
      signal.addEventListener('abort', () => reject(abortedWith(signal)), { once: true });
    });
  return { call, finish: (value: string) => finish(value), signal: () => seen };
}

describe('timeout', () => {
  it('passes a result through before the deadline and clears its timer', async () => {
    const clock = new ManualClock(0);
    const policy = timeout(1_000, { clock });
    await expect(policy.execute(() => 'fast')).resolves.toBe('fast');
    expect(clock.pendingTimers).toBe(0);
  });

  it('cooperative: aborts the signal with POLICY_TIMEOUT at the deadline and waits for fn to stop', async () => {
    const clock = new ManualClock(0);
    const policy = timeout(1_000, { clock });
    const timeouts: PolicyTimeoutError[] = [];
    policy.on('timeout', (e) => timeouts.push(e));
    // fn rejects with its own AbortError-like error; the policy says why: POLICY_TIMEOUT.
    const slow = slowCall(() => new Error('aborted'));
    let settled = false;
    const done = policy.execute(slow.call).catch((e: unknown) => e);
    void done.then(() => {
      settled = true;
    });
    clock.advance(999);
    await Promise.resolve();
    expect(settled).toBe(false);
    clock.advance(1);
    const error = await done;
    expect(isOrdoError(error, 'POLICY_TIMEOUT')).toBe(true);
    expect(slow.signal()?.reason).toBe(error);
    expect(timeouts).toEqual([error]);
    expect(policy.stats()).toEqual({ attempts: 1, rejections: 1 });
  });

  it('cooperative: a value fn still returns after the abort is returned', async () => {
    const clock = new ManualClock(0);
    const policy = timeout(100, { clock });
    let finish: (v: string) => void = () => {};
    const done = policy.execute(() => new Promise<string>((resolve) => (finish = resolve)));
    clock.advance(100);
    finish('late but whole');
    await expect(done).resolves.toBe('late but whole');
    expect(policy.stats()).toEqual({ attempts: 1, rejections: 0 });
  });

  it('aggressive: rejects at the deadline although fn ignores its signal', async () => {
    const clock = new ManualClock(0);
    const policy = timeout(100, { clock, strategy: 'aggressive' });
    let finish: (v: string) => void = () => {};
    let signal: AbortSignal | undefined;
    const done = policy
      .execute((context) => {
        signal = context.signal;
        return new Promise<string>((resolve) => (finish = resolve));
      })
      .catch((e: unknown) => e);
    clock.advance(100);
    const error = await done;
    expect(isOrdoError(error, 'POLICY_TIMEOUT')).toBe(true);
    expect(signal?.aborted).toBe(true);
    finish('too late'); // ignored
    expect(clock.pendingTimers).toBe(0);
    expect(policy.stats()).toEqual({ attempts: 1, rejections: 1 });
  });

  it("the caller's abort rejects with its reason at once and leaves no timer or listener", async () => {
    for (const strategy of ['cooperative', 'aggressive'] as const) {
      const clock = new ManualClock(0);
      const policy = timeout(1_000, { clock, strategy });
      const controller = new AbortController();
      const slow = slowCall();
      const done = policy.execute(slow.call, controller.signal).catch((e: unknown) => e);
      controller.abort('stop');
      expect(await done).toBe('stop');
      expect(slow.signal()?.aborted).toBe(true);
      expect(clock.pendingTimers).toBe(0);
      expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
    }
  });

  it('rejects with what fn throws synchronously', async () => {
    const clock = new ManualClock(0);
    const policy = timeout(1_000, { clock });
    await expect(
      policy.execute(() => {
        throw new Error('sync');
      }),
    ).rejects.toThrow('sync');
    expect(clock.pendingTimers).toBe(0);
  });

  it('refuses bad options', () => {
    expect(() => timeout(0)).toThrow(expect.objectContaining({ code: 'GOVERNANCE_OPTIONS_INVALID' }));
    expect(() => timeout(Number.POSITIVE_INFINITY)).toThrow(/timeoutMs/);
    expect(() => timeout(10, { strategy: 'eager' as never })).toThrow(/strategy/);
  });
});
