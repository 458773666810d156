import { type Clock, sleepOn, type TimerHandle } from './clock.js';

interface PendingTimer {
  readonly id: number;
  readonly due: number;
  readonly fn: () => void;
}

/**
 * A {@link Clock} that only moves when a test moves it. `advance(ms)` fires every timer that falls due, in
 * order of due time and then of creation, including timers those callbacks set inside the window.
 *
 * When to use: every unit test of something time-based. Use `advanceAsync` when the code under test awaits
 * between timers (a `sleep` in a loop): it lets promise callbacks run after each timer.
 *
 * @example
 * ```ts
 * import { ManualClock } from '@ordo/contracts/testing';
 * const clock = new ManualClock();
 * const done = clock.sleep(1_000);
 * clock.advance(1_000);
 * await done;
 * ```
 */
export class ManualClock implements Clock {
  #now: number;
  #nextId = 1;
  #timers: PendingTimer[] = [];

  /** @param startMs the initial `now()`, epoch ms. @default 0 */
  constructor(startMs = 0) {
    this.#now = startMs;
  }

  now(): number {
    return this.#now;
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    const timer: PendingTimer = { id: this.#nextId++, due: this.#now + Math.max(0, ms), fn };
    // Keep sorted by (due, id): insert after every timer due at or before this one.
    let index = this.#timers.length;
    while (index > 0 && (this.#timers[index - 1] as PendingTimer).due > timer.due) index--;
    this.#timers.splice(index, 0, timer);
    return timer.id;
  }

  clearTimeout(handle: TimerHandle): void {
    const index = this.#timers.findIndex((t) => t.id === handle);
    if (index !== -1) this.#timers.splice(index, 1);
  }

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return sleepOn(this, ms, signal);
  }

  /** How many timers are waiting to fire. */
  get pendingTimers(): number {
    return this.#timers.length;
  }

  /** Moves time forward by `ms`, firing due timers synchronously in order. */
  advance(ms: number): void {
    if (!(ms >= 0)) throw new RangeError(`ManualClock.advance needs ms >= 0, got ${ms}`);
    const target = this.#now + ms;
    for (let timer = this.#nextDue(target); timer; timer = this.#nextDue(target)) {
      this.#now = timer.due;
      timer.fn();
    }
    this.#now = target;
  }

  /**
   * Moves time forward by `ms` like {@link advance}, but lets pending promise callbacks run before and
   * after each timer fires, so awaiting code can set its next timer inside the window.
   */
  async advanceAsync(ms: number): Promise<void> {
    if (!(ms >= 0)) throw new RangeError(`ManualClock.advanceAsync needs ms >= 0, got ${ms}`);
    const target = this.#now + ms;
    await flushMicrotasks();
    for (let timer = this.#nextDue(target); timer; timer = this.#nextDue(target)) {
      this.#now = timer.due;
      timer.fn();
      await flushMicrotasks();
    }
    this.#now = target;
  }

  /** Sets `now()` to `epochMs` without firing timers (it may not go backwards). */
  setNow(epochMs: number): void {
    if (epochMs < this.#now) throw new RangeError('ManualClock.setNow cannot move time backwards');
    this.#now = epochMs;
  }

  #nextDue(target: number): PendingTimer | undefined {
    const first = this.#timers[0];
    if (!first || first.due > target) return undefined;
    this.#timers.shift();
    return first;
  }
}

async function flushMicrotasks(turns = 20): Promise<void> {
  for (let i = 0; i < turns; i++) await Promise.resolve();
}
