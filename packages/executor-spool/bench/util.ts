import { mkdir, writeFile } from 'node:fs/promises';
import { cpus, loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface Measurement {
  name: string;
  iterations: number;
  totalMs: number;
  perOpUs: number;
  p50Us: number;
  p99Us: number;
  [extra: string]: unknown;
}

export interface Variant {
  name: string;
  op: () => Promise<unknown>;
  /** Called before and after each block of this variant (to count connections, say). */
  onBlock?: ((phase: 'start' | 'end') => Promise<void> | void) | undefined;
}

/**
 * Runs every variant `iterations` times, one call after another, interleaved in blocks of `block` calls
 * (A, B, C, A, B, C, …) so that the noise of a shared machine falls on all of them alike. Each call is
 * timed; a short warm-up runs first.
 */
export async function interleave(
  variants: Variant[],
  iterations: number,
  block: number,
): Promise<Measurement[]> {
  for (const { op } of variants) for (let i = 0; i < 20; i++) await op();
  const durations = variants.map(() => [] as number[]);
  for (let done = 0; done < iterations; done += block) {
    for (const [index, variant] of variants.entries()) {
      await variant.onBlock?.('start');
      for (let i = 0; i < Math.min(block, iterations - done); i++) {
        const t = performance.now();
        await variant.op();
        durations[index]?.push(performance.now() - t);
      }
      await variant.onBlock?.('end');
    }
  }
  return variants.map(({ name }, index) => {
    const sorted = [...(durations[index] ?? [])].sort((a, b) => a - b);
    const totalMs = sorted.reduce((sum, d) => sum + d, 0);
    const at = (q: number) =>
      round((sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0) * 1000);
    return {
      name,
      iterations: sorted.length,
      totalMs: round(totalMs),
      perOpUs: round((totalMs * 1000) / sorted.length),
      p50Us: at(0.5),
      p99Us: at(0.99),
    };
  });
}

/** `n` rounded to `digits` decimals (2 unless told). */
export function round(n: number, digits = 2): number {
  const scale = 10 ** digits;
  return Math.round(n * scale) / scale;
}

/** The middle value of `xs` (the upper one of the two middles for an even count). */
export const median = (xs: readonly number[]): number =>
  [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

/** Wall time of one call of `fn`, in ms. */
export async function time(fn: () => Promise<unknown> | unknown): Promise<number> {
  const start = performance.now();
  await fn();
  return performance.now() - start;
}

/** The 1-, 5- and 15-minute load averages (`uptime`'s), rounded to 2 decimals. */
export const loadAverage = (): number[] => loadavg().map((x) => round(x));

/**
 * Writes `bench/results/<name>.json` with the date, the machine and the load average as it is written
 * (`loadAverageAtEnd`); a bench records its own `loadAverageAtStart`.
 */
export async function writeResults(name: string, data: object): Promise<void> {
  const dir = join(dirname(fileURLToPath(import.meta.url)), 'results');
  await mkdir(dir, { recursive: true });
  const machine = {
    node: process.version,
    cpus: cpus().length,
    cpu: cpus()[0]?.model,
    platform: process.platform,
  };
  const file = join(dir, `${name}.json`);
  const stamped = { date: new Date().toISOString(), machine, ...data, loadAverageAtEnd: loadAverage() };
  await writeFile(file, `${JSON.stringify(stamped, null, 2)}\n`);
  console.log(`wrote ${file}`);
}
