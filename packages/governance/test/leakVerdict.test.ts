import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { HEAP_BOUND, judgeSeries, leakVerdict, leastSquaresSlope } from '../bench/leakVerdict.js';

const MB = 1024 * 1024;
const line = (
  n: number,
  everyMs: number,
  start: number,
  perMs: number,
  noise: (i: number) => number = () => 0,
) =>
  Array.from({ length: n }, (_, i) => ({ at: i * everyMs, bytes: start + perMs * i * everyMs + noise(i) }));

describe('the soak leak verdict', () => {
  it('recovers the slope of a straight line exactly', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 2, max: 200 }),
        fc.double({ min: -1e4, max: 1e4, noNaN: true }),
        (n, perMs) => {
          expect(leastSquaresSlope(line(n, 1_000, 50 * MB, perMs))).toBeCloseTo(perMs, 6);
        },
      ),
    );
    expect(leastSquaresSlope([{ at: 5, bytes: 1 }])).toBe(0);
  });

  it('passes flat noisy memory and fails a leak, for a 60 s and a 60 min run', () => {
    const wobble = (i: number) => (i % 2 === 0 ? 1 : -1) * 0.5 * MB;
    // 60 s at 1 Hz: 1 MB/s is a leak; flat ±0.5 MB is not.
    expect(leakVerdict({ heap: line(60, 1_000, 40 * MB, 0, wobble) }, 10_000).pass).toBe(true);
    expect(leakVerdict({ heap: line(60, 1_000, 40 * MB, MB / 1_000) }, 10_000).pass).toBe(false);
    // 60 min at 0.1 Hz: 32 MB/h is a leak, 4 MB/h is under the 16 MB/h floor.
    const perHour = (mb: number) => (mb * MB) / 3_600_000;
    expect(leakVerdict({ heap: line(360, 10_000, 40 * MB, perHour(32), wobble) }, 60_000).pass).toBe(false);
    expect(leakVerdict({ heap: line(360, 10_000, 40 * MB, perHour(4), wobble) }, 60_000).pass).toBe(true);
  });

  it('ignores the warm-up, and refuses to judge too few samples', () => {
    const warm = [
      ...line(10, 1_000, 0, (6 * MB) / 1_000),
      ...line(50, 1_000, 0, 0).map((s) => ({ at: s.at + 10_000, bytes: 60 * MB })),
    ];
    expect(judgeSeries(warm, HEAP_BOUND, 10_000).pass).toBe(true);
    expect(judgeSeries(warm, HEAP_BOUND, 0).pass).toBe(false);
    expect(judgeSeries(line(5, 1_000, 0, 0), HEAP_BOUND, 0).pass).toBe(false);
  });
});
