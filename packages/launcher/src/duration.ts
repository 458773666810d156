import { MetricsInputError } from './errors.js';

/** A point in time as the metrics helpers accept it: a `Date`, an ISO 8601 string, epoch ms, or none. */
export type TimeInput = Date | string | number | null | undefined;

/**
 * Converts a {@link TimeInput} to epoch milliseconds; `null`/`undefined` give `null`.
 * @throws MetricsInputError (`METRICS_INPUT_INVALID`) for an invalid date, unparsable string or non-finite number.
 */
export function toEpochMs(value: TimeInput): number | null {
  if (value === null || value === undefined) return null;
  const ms =
    value instanceof Date ? value.getTime() : typeof value === 'string' ? Date.parse(value) : Number(value);
  if (!Number.isFinite(ms)) {
    throw new MetricsInputError(
      `Cannot read ${describe(value)} as a point in time. Pass a Date, an ISO 8601 string or epoch ms.`,
      { value: describe(value) },
    );
  }
  return ms;
}

/**
 * The milliseconds from `start` to `end`. Either may be a `Date`, an ISO string or epoch ms.
 *
 * When to use: every duration in the metrics (`readyAt − startedAt`, `claimedAt − createdAt`, …), so that
 * a missing timestamp gives a missing duration instead of a wrong one.
 *
 * Gotchas: `null` (or `undefined`) in either place gives `null`, never 0. An `end` before `start` is an
 * error, not a negative duration: it means the timestamps were recorded out of order.
 *
 * @throws MetricsInputError (`METRICS_INPUT_INVALID`) when a time cannot be read or `end` is before `start`.
 * @example
 * ```ts
 * durationMs('2025-01-01T00:00:00Z', '2025-01-01T00:02:15Z'); // 135000
 * durationMs(1_000, null); // null
 * ```
 */
export function durationMs(start: TimeInput, end: TimeInput): number | null {
  const from = toEpochMs(start);
  const to = toEpochMs(end);
  if (from === null || to === null) return null;
  if (to < from) {
    throw new MetricsInputError(
      `The end ${describe(end)} is before the start ${describe(start)}. Record timestamps in order ` +
        '(start before end) on one clock.',
      { start: describe(start), end: describe(end) },
    );
  }
  return to - from;
}

/**
 * From `start` to `end`, or to `now` while `end` is missing (and never before `start`: the clock of the
 * process that computes may lag the one that recorded). Internal: not exported from the package.
 */
export function openDuration(start: number | null, end: number | null, now: number): number | null {
  return durationMs(start, end ?? (start === null ? null : Math.max(now, start)));
}

/**
 * Formats a duration for people: `950ms`, `1.2s` (below 10 s), `45s`, `4m30s`, `1h02m`. Each unit is
 * truncated, never rounded up, so a value never shows as the next unit early (59 999 ms is `59s`).
 * `null` gives `-`.
 *
 * @throws MetricsInputError (`METRICS_INPUT_INVALID`) for a negative or non-finite duration.
 * @example
 * ```ts
 * formatDuration(135_000); // '2m15s'
 * formatDuration(3_720_000); // '1h02m'
 * ```
 */
export function formatDuration(ms: number | null): string {
  if (ms === null) return '-';
  if (!(ms >= 0) || !Number.isFinite(ms)) {
    throw new MetricsInputError(`Cannot format the duration ${ms}: pass a finite number of ms >= 0.`, {
      ms,
    });
  }
  if (ms < 1_000) return `${Math.floor(ms)}ms`;
  if (ms < 10_000) return `${(Math.floor(ms / 100) / 10).toFixed(1)}s`;
  const totalSeconds = Math.floor(ms / 1_000);
  if (totalSeconds < 60) return `${totalSeconds}s`;
  const totalMinutes = Math.floor(totalSeconds / 60);
  if (totalMinutes < 60) return `${totalMinutes}m${pad2(totalSeconds % 60)}s`;
  return `${Math.floor(totalMinutes / 60)}h${pad2(totalMinutes % 60)}m`;
}

function pad2(n: number): string {
  return String(n).padStart(2, '0');
}

function describe(value: TimeInput): string {
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? 'Invalid Date' : value.toISOString();
  return typeof value === 'string' ? JSON.stringify(value) : String(value);
}
