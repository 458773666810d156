import { type Clock, systemClock, type TimerHandle } from '@ordo/contracts';
import { type FeatureMetrics, renderStatus } from '@ordo/launcher';
import type { CliOutput } from './io.js';

/** Moves the cursor up `n` lines (a frame ends with a newline, so the cursor is in column 0). */
export const cursorUp = (n: number): string => `\u001b[${n}A`;
/** Clears from the cursor to the end of the screen. */
export const CLEAR_DOWN = '\u001b[0J';

/** Options for {@link LiveStatusView}. */
export interface LiveStatusViewOptions {
  /** Where frames are written: a terminal. */
  out: CliOutput;
  /** The metrics to draw, read at each frame; `undefined` draws nothing. */
  source: () => FeatureMetrics | undefined;
  /** Throttles redraws and ticks the elapsed times. @default systemClock */
  clock?: Clock | undefined;
  /** At most one frame per this many milliseconds; changes in between are drawn at its end. @default 100 */
  intervalMs?: number | undefined;
  /** Redraws this often with no change, so elapsed times move. @default 1000 */
  tickMs?: number | undefined;
  /** Color the frame. @default false */
  color?: boolean | undefined;
  /** The terminal width. @default 80 */
  width?: number | undefined;
}

/**
 * The live status view of `ordo run` in a terminal: `renderStatus` frames, each drawn over the previous one
 * (cursor up + clear to the end of the screen), at most one per `intervalMs`, and one per `tickMs` so the
 * durations move while a long task runs. `finish()` draws the last frame and stops the timers.
 *
 * Gotchas: a line longer than the terminal wraps and the next redraw leaves part of the old frame; pass
 * the real `width` so `renderStatus` fits the bar.
 */
export class LiveStatusView {
  readonly #options: LiveStatusViewOptions;
  readonly #clock: Clock;
  readonly #intervalMs: number;
  readonly #tickMs: number;
  #drawnLines = 0;
  #lastDrawAt = Number.NEGATIVE_INFINITY;
  #timer: { handle: TimerHandle; dueAt: number } | undefined;
  #finished = false;

  constructor(options: LiveStatusViewOptions) {
    this.#options = options;
    this.#clock = options.clock ?? systemClock;
    this.#intervalMs = options.intervalMs ?? 100;
    this.#tickMs = options.tickMs ?? 1000;
  }

  /** Something changed: draw now if the last frame is `intervalMs` old, else at the end of the interval. */
  invalidate(): void {
    if (this.#finished) return;
    const wait = this.#lastDrawAt + this.#intervalMs - this.#clock.now();
    if (wait <= 0) this.#draw();
    else this.#schedule(wait);
  }

  /** Draws the final frame and stops redrawing. Idempotent. */
  finish(): void {
    if (this.#finished) return;
    this.#draw();
    this.#finished = true;
    this.#cancel();
  }

  #draw(): void {
    this.#cancel();
    const metrics = this.#options.source();
    const now = this.#clock.now();
    if (metrics !== undefined) {
      this.#lastDrawAt = now;
      const frame = renderStatus(metrics, { color: this.#options.color, width: this.#options.width, now });
      const erase = this.#drawnLines > 0 ? `${cursorUp(this.#drawnLines)}${CLEAR_DOWN}` : '';
      this.#options.out.write(erase + frame);
      this.#drawnLines = frame.split('\n').length - 1;
    }
    this.#schedule(this.#tickMs);
  }

  /** Keeps the earlier of the pending timer and one `delay` from now. */
  #schedule(delay: number): void {
    const dueAt = this.#clock.now() + delay;
    if (this.#timer !== undefined && this.#timer.dueAt <= dueAt) return;
    this.#cancel();
    const handle = this.#clock.setTimeout(() => this.#draw(), delay, { unref: true });
    this.#timer = { handle, dueAt };
  }

  #cancel(): void {
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer.handle);
    this.#timer = undefined;
  }
}
