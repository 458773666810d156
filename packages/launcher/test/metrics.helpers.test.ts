import { isOrdoError } from '@ordo/contracts';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { durationMs, formatDuration, percentile } from '../src/index.js';

const expectInvalid = (fn: () => unknown, message: RegExp) => {
  let thrown: unknown;
  try {
    fn();
  } catch (error) {
    thrown = error;
  }
  expect(isOrdoError(thrown, 'METRICS_INPUT_INVALID'), String(thrown)).toBe(true);
  expect((thrown as Error).message).toMatch(message);
};

describe('durationMs', () => {
  it('accepts Date, ISO string and epoch ms, in any mix', () => {
    const start = '2025-01-01T00:00:00.000Z';
    const end = Date.parse('2025-01-01T00:02:15.000Z');
    expect(durationMs(start, end)).toBe(135_000);
    expect(durationMs(new Date(start), new Date(end))).toBe(135_000);
    expect(durationMs(Date.parse(start), '2025-01-01T00:02:15Z')).toBe(135_000);
    expect(durationMs(5, 5)).toBe(0);
  });

  it('gives null for a missing start or end, never 0', () => {
    expect(durationMs(null, 10)).toBeNull();
    expect(durationMs(10, null)).toBeNull();
    expect(durationMs(undefined, undefined)).toBeNull();
  });

  it('refuses an end before its start and unreadable times', () => {
    expectInvalid(() => durationMs(2_000, 1_000), /before the start/);
    expectInvalid(() => durationMs('yesterday', 1_000), /Cannot read "yesterday"/);
    expectInvalid(() => durationMs(new Date(Number.NaN), 1_000), /Invalid Date/);
    expectInvalid(() => durationMs(0, Number.POSITIVE_INFINITY), /Cannot read Infinity/);
  });

  it('is end − start for every ordered pair (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 4e12 }), fc.integer({ min: 0, max: 1e9 }), (start, span) => {
        expect(durationMs(new Date(start).toISOString(), start + span)).toBe(span);
      }),
    );
  });
});

describe('formatDuration', () => {
  it.each([
    [0, '0ms'],
    [950, '950ms'],
    [999.9, '999ms'],
    [1_000, '1.0s'],
    [1_250, '1.2s'],
    [9_999, '9.9s'],
    [10_000, '10s'],
    [45_000, '45s'],
    [59_999, '59s'],
    [60_000, '1m00s'],
    [135_000, '2m15s'],
    [270_000, '4m30s'],
    [3_599_999, '59m59s'],
    [3_600_000, '1h00m'],
    [3_720_000, '1h02m'],
    [90_000_000, '25h00m'],
  ])('%d ms → %s', (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
  });

  it('shows a missing duration as -, and refuses negative or non-finite ones', () => {
    expect(formatDuration(null)).toBe('-');
    expectInvalid(() => formatDuration(-1), /-1/);
    expectInvalid(() => formatDuration(Number.NaN), /NaN/);
  });
});

describe('percentile (nearest rank)', () => {
  it('follows the nearest-rank definition', () => {
    const values = [15, 20, 35, 40, 50];
    expect(percentile(values, 0)).toBe(15);
    expect(percentile(values, 5)).toBe(15);
    expect(percentile(values, 30)).toBe(20);
    expect(percentile(values, 40)).toBe(20);
    expect(percentile(values, 50)).toBe(35);
    expect(percentile(values, 95)).toBe(50);
    expect(percentile(values, 100)).toBe(50);
    expect(percentile([3, 1, 2], 50)).toBe(2);
  });

  it('gives 0 for no values and refuses p outside 0–100 or non-finite values', () => {
    expect(percentile([], 50)).toBe(0);
    expectInvalid(() => percentile([1], -1), /between 0 and 100, got -1/);
    expectInvalid(() => percentile([1], 100.5), /got 100.5/);
    expectInvalid(() => percentile([1], Number.NaN), /got NaN/);
    expectInvalid(() => percentile([1, Number.NaN], 50), /finite numbers/);
  });

  it('is a member of the values, monotone in p, and leaves the input alone (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: -1e6, max: 1e6 }), { minLength: 1, maxLength: 50 }),
        fc.double({ min: 0, max: 100, noNaN: true }),
        fc.double({ min: 0, max: 100, noNaN: true }),
        (values, p, q) => {
          const copy = [...values];
          const a = percentile(values, Math.min(p, q));
          const b = percentile(values, Math.max(p, q));
          expect(values).toContain(a);
          expect(a).toBeLessThanOrEqual(b);
          expect(values).toEqual(copy);
          // At least p% of the values are <= the p-th percentile.
          const atOrBelow = values.filter((v) => v <= b).length;
          expect(atOrBelow / values.length).toBeGreaterThanOrEqual(Math.max(p, q) / 100 - 1e-12);
        },
      ),
    );
  });
});
