import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';

/** Runs `fn` (which performs `ops` operations) and returns ns per operation. */
export async function nsPerOp(ops: number, fn: () => unknown): Promise<number> {
  const start = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - start) / ops;
}

/**
 * Measures each contender `rounds` times, interleaved so machine noise hits all alike, after one warm-up
 * round; returns the median ns/op of each.
 */
export async function compare(
  ops: number,
  contenders: Record<string, () => unknown>,
  rounds = 7,
): Promise<Record<string, number>> {
  const samples: Record<string, number[]> = Object.fromEntries(
    Object.keys(contenders).map((name) => [name, []]),
  );
  for (let round = -1; round < rounds; round++) {
    for (const [name, fn] of Object.entries(contenders)) {
      const ns = await nsPerOp(ops, fn);
      if (round >= 0) samples[name]?.push(ns);
    }
  }
  return Object.fromEntries(
    Object.entries(samples).map(([name, values]) => {
      const sorted = [...values].sort((a, b) => a - b);
      return [name, sorted[Math.floor(sorted.length / 2)] as number];
    }),
  );
}

/** Writes a result file to bench/results/<name>.json with the machine and the date. */
export function writeResult(name: string, result: object): void {
  const dir = join(import.meta.dirname, 'results');
  mkdirSync(dir, { recursive: true });
  const machine = { cpu: cpus()[0]?.model ?? 'unknown', cores: cpus().length, node: process.version };
  const body = { benchmark: name, date: new Date().toISOString(), machine, ...result };
  writeFileSync(join(dir, `${name}.json`), `${JSON.stringify(body, null, 2)}\n`);
}

export const fmt = (ns: number) => `${ns.toFixed(1)} ns/op`;
