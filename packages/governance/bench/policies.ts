// `wrap(retry, breaker, timeout)` on the closed, succeeding path: ordo against cockatiel 3.2's
// `wrap(retry, circuitBreaker, timeout)` with the same inputs. Each measurement runs in its own fresh
// process (bench/policiesRound.ts), the two alternated for several rounds, so neither inherits the other's
// JIT state or garbage. `pnpm bench:policies [rounds] [calls]`; JSON in bench/results/policies.json.
import { execFileSync } from 'node:child_process';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { fmt, writeResult } from './harness.js';

type Contender = 'ordo' | 'cockatiel';

function measure(contender: Contender, calls: number): number {
  const out = execFileSync(
    process.execPath,
    [
      '--import',
      'tsx',
      '--conditions=@ordo/source',
      join(import.meta.dirname, 'policiesRound.ts'),
      contender,
      String(calls),
    ],
    { encoding: 'utf8', cwd: join(import.meta.dirname, '..') },
  );
  const line = out.trim().split('\n').at(-1) ?? '';
  return (JSON.parse(line) as { nsPerCall: number }).nsPerCall;
}

const summary = (values: readonly number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  return {
    min: sorted[0] as number,
    median: sorted[Math.floor(sorted.length / 2)] as number,
    max: sorted.at(-1) as number,
  };
};

/** Runs the comparison; true when ordo's median time per call is at most cockatiel's. */
export function benchPolicies(rounds = 5, calls = 100_000): boolean {
  const loadBefore = loadavg();
  const samples: Record<Contender, number[]> = { ordo: [], cockatiel: [] };
  const ratios: number[] = [];
  for (let round = 0; round < rounds; round++) {
    // Alternate who goes first, so a burst of load elsewhere does not always hit the same one.
    const order: Contender[] = round % 2 === 0 ? ['ordo', 'cockatiel'] : ['cockatiel', 'ordo'];
    const ns: Partial<Record<Contender, number>> = {};
    for (const contender of order) {
      ns[contender] = measure(contender, calls);
      samples[contender].push(ns[contender]);
    }
    ratios.push((ns.ordo as number) / (ns.cockatiel as number));
  }
  const loadAfter = loadavg();
  const ordo = summary(samples.ordo);
  const cockatiel = summary(samples.cockatiel);
  const ratio = summary(ratios);
  const met = ratio.median <= 1;
  console.log(
    `\nwrap(retry, breaker, timeout), closed and succeeding (${calls.toLocaleString()} calls × ${rounds} rounds, a fresh process each)`,
  );
  for (const [name, s] of [
    ['ordo', ordo],
    ['cockatiel', cockatiel],
  ] as const) {
    console.log(`  ${name.padEnd(10)} min ${fmt(s.min)}  median ${fmt(s.median)}  max ${fmt(s.max)}`);
  }
  console.log(
    `  ordo / cockatiel time per call: median ${ratio.median.toFixed(2)}x (min ${ratio.min.toFixed(2)}, max ${ratio.max.toFixed(2)}; target <= 1.00x: ${met ? 'met' : 'MISSED'})`,
  );
  console.log(
    `  load average before ${loadBefore.map((l) => l.toFixed(2)).join(' ')}, after ${loadAfter.map((l) => l.toFixed(2)).join(' ')}`,
  );
  writeResult('policies', {
    description:
      "wrap(retry, breaker, timeout) per call on the closed, succeeding path: ordo's retry + CircuitBreaker + timeout vs cockatiel 3.2's retry + circuitBreaker + timeout (cooperative), each round a fresh process per contender, alternated",
    calls,
    rounds,
    nsPerCall: { ordo, cockatiel },
    samples,
    ratioOrdoOverCockatiel: ratio,
    target: "<= 1.0 (ordo at most cockatiel's time per call, median of the per-round ratios)",
    met,
    loadavg: { before: loadBefore, after: loadAfter },
  });
  return met;
}

if (process.argv[1] === import.meta.filename) {
  const rounds = Number(process.argv[2] ?? 5);
  const calls = Number(process.argv[3] ?? 100_000);
  benchPolicies(rounds, calls);
}
