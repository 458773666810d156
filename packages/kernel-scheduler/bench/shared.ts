/** What the benchmark processes share: the sizes, the seed, and tasks built the way the README builds them. */
import type { Task } from '../src/index.js';

export const CONCURRENCY = 16;
export const SEED = 'bench';

/**
 * Tasks that return real values, half numbers and half small objects, built like the README's
 * (`{ id, run: async () => value }`), so the trace digests something different for every task.
 */
export function valueTasks(n: number): Task<number | { id: number; ok: boolean; size: number }>[] {
  return Array.from({ length: n }, (_, i) => ({
    id: `task-${i}`,
    run: i % 2 === 0 ? async () => i : async () => ({ id: i, ok: true, size: i * 3 }),
  }));
}

/** A seeded PRNG (mulberry32), so latencies are the same on every run. */
export function prng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Seeded latencies of 1–20 ms. */
export function ioLatencies(n: number): number[] {
  const random = prng(7);
  return Array.from({ length: n }, () => 1 + Math.floor(random() * 20));
}
