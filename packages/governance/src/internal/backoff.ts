/** How {@link nextDelay} spreads delays: none, AWS "full jitter", or AWS "decorrelated jitter". */
export type Jitter = 'none' | 'full' | 'decorrelated';

/** The settled backoff options of a retry policy. */
export interface BackoffSettings {
  readonly initialMs: number;
  readonly factor: number;
  readonly maxMs: number;
  readonly jitter: Jitter;
  /** A number in [0, 1), as Math.random returns. */
  readonly random: () => number;
}

/**
 * The delay before retry number `retry` (0 for the first retry), in ms, within [0, maxMs]:
 *
 * - `none`: `min(maxMs, initialMs * factor^retry)`;
 * - `full`: a uniform pick in [0, that);
 * - `decorrelated`: `min(maxMs, initialMs + random * (previous * factor - initialMs))`, where `previous` is
 *   the last delay (`initialMs` before the first): each delay depends on the one before, not on the count.
 */
export function nextDelay(settings: BackoffSettings, retry: number, previousMs: number): number {
  const { initialMs, factor, maxMs, jitter } = settings;
  if (jitter === 'decorrelated') {
    const base = Math.min(initialMs, maxMs);
    const high = Math.max(base, Math.min(maxMs, Math.max(previousMs, base) * factor));
    return Math.min(maxMs, base + unit(settings.random) * (high - base));
  }
  const exponential = Math.min(maxMs, initialMs * factor ** retry);
  return jitter === 'full' ? unit(settings.random) * exponential : exponential;
}

/** `random()` clamped into [0, 1], so a bad generator cannot push a delay outside its range. */
function unit(random: () => number): number {
  const value = random();
  return value > 0 ? (value < 1 ? value : 1) : 0;
}
