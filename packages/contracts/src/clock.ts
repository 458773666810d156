/** An opaque timer handle returned by {@link Clock.setTimeout}. */
export type TimerHandle = unknown;

/** Options for {@link Clock.setTimeout}. */
export interface TimerOptions {
  /**
   * Let the process exit while this timer is pending (Node's `timer.unref()`). Use it for background
   * polls that must never keep a host alive on their own.
   * @default false
   */
  unref?: boolean | undefined;
}

/**
 * The only source of time in ordo. Everything time-based takes a `clock` so tests can use
 * `ManualClock` from `@ordo/contracts/testing` instead of sleeping.
 *
 * Gotchas: `now()` is wall-clock epoch milliseconds (it can jump if the system clock is changed);
 * durations inside ordo are measured as differences of `now()` on the same clock.
 */
export interface Clock {
  /** Milliseconds since the Unix epoch. */
  now(): number;
  /** Calls `fn` once after `ms` milliseconds. */
  setTimeout(fn: () => void, ms: number, options?: TimerOptions): TimerHandle;
  /** Cancels a timer made by {@link Clock.setTimeout}; unknown or fired handles are ignored. */
  clearTimeout(handle: TimerHandle): void;
  /**
   * Resolves after `ms` milliseconds. Rejects with `signal.reason` as soon as `signal` aborts, and at once
   * if it already has; the timer is cleared either way.
   */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

/**
 * Builds `sleep` from a clock's own timers, so every {@link Clock} implementation shares one
 * abort-aware behaviour.
 */
export function sleepOn(
  clock: Pick<Clock, 'setTimeout' | 'clearTimeout'>,
  ms: number,
  signal?: AbortSignal,
): Promise<void> {
  if (signal?.aborted) return Promise.reject(signal.reason);
  return new Promise<void>((resolve, reject) => {
    const onAbort = () => {
      clock.clearTimeout(handle);
      reject(signal?.reason);
    };
    const handle = clock.setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * The real clock: `Date.now()` and Node's timers.
 *
 * @example
 * ```ts
 * import { systemClock } from '@ordo/contracts';
 * await systemClock.sleep(100, AbortSignal.timeout(1_000));
 * ```
 */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout(fn, ms, options) {
    const timer = globalThis.setTimeout(fn, Math.max(0, ms));
    if (options?.unref) (timer as { unref?: () => void }).unref?.();
    return timer;
  },
  clearTimeout(handle) {
    globalThis.clearTimeout(handle as Parameters<typeof globalThis.clearTimeout>[0]);
  },
  sleep(ms, signal) {
    return sleepOn(systemClock, ms, signal);
  },
};
