/**
 * The soak's leak verdict, shared by the 60-minute run (`pnpm soak:load`) and the 60-second CI run
 * (`pnpm soak:ci`): a least-squares line through memory samples taken after a warm-up, and a bound on its
 * slope. The bound is one formula for both lengths: the slope may not exceed `floorMBPerHour`, or, for a
 * short window, the slope that `noiseMB` of drift over the whole window would show (a 60 s window cannot
 * tell 2 MB of GC noise from a leak; an hour can).
 */

/** One memory sample: ms since the start, bytes. */
export interface MemorySample {
  at: number;
  bytes: number;
}

/** The bound of one series. */
export interface SlopeBound {
  /** The largest slope allowed over a long run, in MB per hour. */
  floorMBPerHour: number;
  /** Drift over the whole window that is noise, not a leak, in MB. */
  noiseMB: number;
}

/** The heap bound: 16 MB/h, or 2 MB over the window (heap read after a forced GC when available). */
export const HEAP_BOUND: SlopeBound = { floorMBPerHour: 16, noiseMB: 2 };
/** The RSS bound of the whole process tree (workers come and go, so it is noisier): 64 MB/h, or 24 MB. */
export const RSS_BOUND: SlopeBound = { floorMBPerHour: 64, noiseMB: 24 };

/** The verdict on one series. */
export interface SeriesVerdict {
  samples: number;
  windowSeconds: number;
  slopeMBPerHour: number;
  allowedMBPerHour: number;
  pass: boolean;
}

const MB = 1024 * 1024;
const HOUR = 3_600_000;

/** The least-squares slope of `bytes` over `at`, in bytes per ms (0 for fewer than 2 distinct times). */
export function leastSquaresSlope(samples: readonly MemorySample[]): number {
  const n = samples.length;
  if (n < 2) return 0;
  let sx = 0;
  let sy = 0;
  for (const s of samples) {
    sx += s.at;
    sy += s.bytes;
  }
  const mx = sx / n;
  const my = sy / n;
  let num = 0;
  let den = 0;
  for (const s of samples) {
    num += (s.at - mx) * (s.bytes - my);
    den += (s.at - mx) ** 2;
  }
  return den === 0 ? 0 : num / den;
}

/** Judges one series: samples before `warmupMs` are left out. */
export function judgeSeries(
  samples: readonly MemorySample[],
  bound: SlopeBound,
  warmupMs: number,
): SeriesVerdict {
  const kept = samples.filter((s) => s.at >= warmupMs);
  const first = kept[0]?.at ?? 0;
  const last = kept.at(-1)?.at ?? 0;
  const windowMs = Math.max(1, last - first);
  const slopeMBPerHour = (leastSquaresSlope(kept) * HOUR) / MB;
  const allowedMBPerHour = Math.max(bound.floorMBPerHour, (bound.noiseMB / windowMs) * HOUR);
  return {
    samples: kept.length,
    windowSeconds: Number((windowMs / 1_000).toFixed(1)),
    slopeMBPerHour: Number(slopeMBPerHour.toFixed(2)),
    allowedMBPerHour: Number(allowedMBPerHour.toFixed(2)),
    pass: kept.length >= 10 && slopeMBPerHour <= allowedMBPerHour,
  };
}

/** The run's verdict: heap and (when measured) RSS both under their bound. */
export function leakVerdict(
  series: { heap: readonly MemorySample[]; rss?: readonly MemorySample[] | undefined },
  warmupMs: number,
) {
  const heap = judgeSeries(series.heap, HEAP_BOUND, warmupMs);
  const rss = series.rss && series.rss.length > 0 ? judgeSeries(series.rss, RSS_BOUND, warmupMs) : undefined;
  return { pass: heap.pass && (rss?.pass ?? true), heap, rss, warmupSeconds: warmupMs / 1_000 };
}
