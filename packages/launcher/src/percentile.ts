import { MetricsInputError } from './errors.js';

/**
 * The `p`-th percentile of `values` by the **nearest-rank method**: sort ascending and take the value at
 * rank `ceil(p / 100 × n)` (1-based; rank 1 for `p = 0`). The result is always one of the values, never an
 * interpolation between two.
 *
 * Gotchas: an empty list gives `0`. With few values the high percentiles are the maximum (p95 of 10 values
 * is the 10th). The input is not modified.
 *
 * @param values finite numbers, in any order
 * @param p the percentile, 0–100 inclusive
 * @throws MetricsInputError (`METRICS_INPUT_INVALID`) when `p` is outside 0–100 or a value is not finite.
 * @example
 * ```ts
 * percentile([15, 20, 35, 40, 50], 40); // 20
 * percentile([15, 20, 35, 40, 50], 95); // 50
 * percentile([], 50); // 0
 * ```
 */
export function percentile(values: readonly number[], p: number): number {
  if (!(p >= 0 && p <= 100)) {
    throw new MetricsInputError(`The percentile p must be between 0 and 100, got ${p}.`, { p });
  }
  const bad = values.find((v) => !Number.isFinite(v));
  if (bad !== undefined) {
    throw new MetricsInputError(`percentile() needs finite numbers, got ${bad}. Drop missing values first.`, {
      value: String(bad),
    });
  }
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[rank - 1] as number;
}
