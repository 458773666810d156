import { ConsecutiveBreaker, circuitBreaker, handleAll } from 'cockatiel';
import Opossum from 'opossum';
import { CircuitBreaker } from '../src/index.js';
import { compare, fmt, writeResult } from './harness.js';

/**
 * Breaker `execute` overhead in the closed state: ordo's CircuitBreaker against cockatiel's circuit
 * breaker policy and opossum, each wrapping the same resolved-promise call. Target: ordo at least as fast
 * as the faster of the two.
 */
export async function benchBreaker(): Promise<boolean> {
  const ops = 200_000;
  const call = () => Promise.resolve(1);
  const ordo = new CircuitBreaker({ name: 'bench' });
  const cockatiel = circuitBreaker(handleAll, { halfOpenAfter: 1_000, breaker: new ConsecutiveBreaker(3) });
  const opossum = new Opossum(call, { timeout: false, resetTimeout: 1_000, volumeThreshold: 3 });
  const loop = (run: () => Promise<unknown>) => async () => {
    for (let i = 0; i < ops; i++) await run();
  };
  const ns = await compare(ops, {
    'bare call': loop(call),
    ordo: loop(() => ordo.execute(call)),
    cockatiel: loop(() => cockatiel.execute(call)),
    opossum: loop(() => opossum.fire()),
  });
  opossum.shutdown();
  await ordo.close();
  const bare = ns['bare call'] as number;
  const ordoNs = ns.ordo as number;
  const fastest = Math.min(ns.cockatiel as number, ns.opossum as number);
  const ratio = fastest / ordoNs;
  const met = ratio >= 1;
  console.log(`\nbreaker execute, closed state (${ops.toLocaleString()} calls, median of 7 rounds)`);
  for (const [name, value] of Object.entries(ns)) {
    console.log(`  ${name.padEnd(10)} ${fmt(value).padStart(14)}   overhead ${fmt(value - bare)}`);
  }
  console.log(`  ordo vs faster anchor: ${ratio.toFixed(2)}x (target >= 1.00x: ${met ? 'met' : 'MISSED'})`);
  writeResult('breaker', {
    description: 'CircuitBreaker.execute overhead in the closed state vs cockatiel 3.2 and opossum 9',
    calls: ops,
    nsPerOp: ns,
    overheadNsPerOp: Object.fromEntries(Object.entries(ns).map(([k, v]) => [k, v - bare])),
    ratioVsFasterAnchor: ratio,
    target: '>= 1.0 (at least as fast as the faster of cockatiel and opossum)',
    met,
  });
  return met;
}
