import { setMaxListeners } from 'node:events';
import {
  type Clock,
  childAbortController,
  type Launcher,
  type Logger,
  noopLogger,
  systemClock,
  type TimerHandle,
  type WorkerStatus,
} from '@ordo/contracts';
import { EventEmitter } from 'eventemitter3';
import { assertNumber } from './internal/validate.js';

/** A launcher that counts its Engine API calls (`ContainerLauncher` does), for calls per minute. */
export interface CountsApiCalls {
  /** Calls made so far, by endpoint. */
  apiCalls(): Readonly<Record<string, number>>;
}

/** Options for {@link createPoller}. */
export interface PollerOptions {
  /** The launcher whose `syncState` runs on each tick. */
  launcher: Pick<Launcher, 'syncState'> & Partial<CountsApiCalls>;
  /** Time between ticks (fixed rate: a slow tick does not push the next ones back). @default 15000 */
  intervalMs?: number | undefined;
  /** The time source for scheduling and for measuring ticks. @default systemClock */
  clock?: Clock | undefined;
  /** Where failed ticks are logged. @default noopLogger */
  logger?: Logger | undefined;
}

/** One finished tick, as the `tick` event reports it. */
export interface PollerTick {
  /** Every worker's status after the tick. */
  states: ReadonlyMap<string, WorkerStatus>;
  /** How long `syncState` took, on the clock. */
  durationMs: number;
}

/** What a poller has done since `start()`. */
export interface PollerStats {
  /** Ticks that ran `syncState` (failed ones included). */
  ticks: number;
  /** Ticks skipped because the previous one was still running. */
  skipped: number;
  /** Ticks whose `syncState` failed. */
  errors: number;
  /** Total time spent in `syncState`, on the clock. */
  busyMs: number;
  /** Time since `start()`, on the clock. */
  elapsedMs: number;
  /** The monitoring overhead: `busyMs ÷ elapsedMs` (0…1), the share of time spent polling. */
  overhead: number;
  /** Engine API calls since `start()`, when the launcher counts them. */
  apiCalls: number | undefined;
  /** `apiCalls` per minute of `elapsedMs`, when the launcher counts them. */
  callsPerMinute: number | undefined;
}

/** The events a poller emits. */
export interface PollerEvents {
  /** A tick finished. */
  tick: [tick: PollerTick];
  /** A tick's `syncState` failed; the poller keeps going. */
  error: [error: unknown];
}

/** A running poll loop; see {@link createPoller}. */
export interface Poller extends AsyncDisposable {
  /** Starts ticking every `intervalMs` (the first tick after one interval). Calling it again does nothing. */
  start(): void;
  /**
   * Runs one tick now; if one is already running, waits for that one instead of overlapping it. Resolves
   * with the states, or `undefined` when the tick failed (see the `error` event).
   */
  tick(): Promise<ReadonlyMap<string, WorkerStatus> | undefined>;
  /** Counters since `start()`. */
  stats(): PollerStats;
  on<E extends keyof PollerEvents>(event: E, listener: (...args: PollerEvents[E]) => void): unknown;
  off<E extends keyof PollerEvents>(event: E, listener: (...args: PollerEvents[E]) => void): unknown;
  /** Stops ticking, aborts a running tick and waits for it. */
  close(): Promise<void>;
}

/**
 * Runs `launcher.syncState()` every `intervalMs`, never two at once (a tick that falls due while the last
 * one runs is skipped and counted), and reports the cost of monitoring: the overhead (time in `syncState`
 * ÷ time elapsed) and Engine API calls per minute.
 *
 * When to use: to keep every worker's status fresh in the background. With `ContainerLauncher` in batch
 * mode each tick is one Engine API call for all workers.
 *
 * @example
 * ```ts
 * await using poller = createPoller({ launcher, intervalMs: 15_000 });
 * poller.on('tick', ({ states }) => render(states));
 * poller.start();
 * // later
 * console.log(poller.stats()); // { ticks, skipped, overhead, callsPerMinute, … }
 * ```
 */
export function createPoller(options: PollerOptions): Poller {
  const { launcher } = options;
  const intervalMs = options.intervalMs ?? 15_000;
  assertNumber('intervalMs', intervalMs, 1);
  const clock = options.clock ?? systemClock;
  const logger = options.logger ?? noopLogger;
  const events = new EventEmitter<PollerEvents>();
  const abort = childAbortController();
  setMaxListeners(0, abort.signal); // one listener per in-flight request of a tick: many workers, many requests
  const counted = () => {
    const calls = launcher.apiCalls?.();
    return calls ? Object.values(calls).reduce((a, b) => a + b, 0) : undefined;
  };
  let startedAt: number | undefined;
  let callsAtStart: number | undefined;
  let timer: TimerHandle | undefined;
  let running: Promise<ReadonlyMap<string, WorkerStatus> | undefined> | undefined;
  let closed = false;
  const counters = { ticks: 0, skipped: 0, errors: 0, busyMs: 0 };

  const run = async (): Promise<ReadonlyMap<string, WorkerStatus> | undefined> => {
    const t0 = clock.now();
    counters.ticks++;
    try {
      const states = await launcher.syncState(abort.signal);
      const durationMs = clock.now() - t0;
      counters.busyMs += durationMs;
      events.emit('tick', { states, durationMs });
      return states;
    } catch (error) {
      counters.busyMs += clock.now() - t0;
      if (abort.signal.aborted) return undefined;
      counters.errors++;
      logger.warn({ err: error }, 'poll tick failed; the poller keeps going');
      events.emit('error', error);
      return undefined;
    }
  };

  const tick = (): Promise<ReadonlyMap<string, WorkerStatus> | undefined> => {
    if (running) return running;
    if (closed) return Promise.resolve(undefined);
    running = run().finally(() => {
      running = undefined;
    });
    return running;
  };

  const schedule = (due: number) => {
    timer = clock.setTimeout(
      () => {
        if (closed) return;
        if (running) counters.skipped++;
        else void tick();
        schedule(due + intervalMs);
      },
      due - clock.now(),
      { unref: true },
    );
  };

  const poller: Poller = {
    start() {
      if (startedAt !== undefined || closed) return;
      startedAt = clock.now();
      callsAtStart = counted();
      schedule(startedAt + intervalMs);
    },
    tick,
    stats() {
      const elapsedMs = startedAt === undefined ? 0 : clock.now() - startedAt;
      const now = counted();
      const apiCalls = now === undefined ? undefined : now - (callsAtStart ?? 0);
      return {
        ...counters,
        elapsedMs,
        overhead: elapsedMs > 0 ? counters.busyMs / elapsedMs : 0,
        apiCalls,
        callsPerMinute:
          apiCalls === undefined || elapsedMs === 0 ? undefined : (apiCalls * 60_000) / elapsedMs,
      };
    },
    on(event, listener) {
      events.on(event, listener as never);
      return poller;
    },
    off(event, listener) {
      events.off(event, listener as never);
      return poller;
    },
    async close() {
      closed = true;
      if (timer !== undefined) clock.clearTimeout(timer);
      abort.controller.abort(new Error('poller closed'));
      await running;
    },
    [Symbol.asyncDispose]() {
      return poller.close();
    },
  };
  return poller;
}
