// One measuring process of bench/policies.ts: `tsx bench/policiesRound.ts <ordo|cockatiel> <calls>`.
// Prints one JSON line: { contender, calls, nsPerCall }.
import {
  ConsecutiveBreaker,
  circuitBreaker as cockatielBreaker,
  retry as cockatielRetry,
  timeout as cockatielTimeout,
  wrap as cockatielWrap,
  ExponentialBackoff,
  handleAll,
  TimeoutStrategy,
} from 'cockatiel';
import { CircuitBreaker, retry, timeout, wrap } from '../src/index.js';

const contender = process.argv[2];
const calls = Number(process.argv[3] ?? 100_000);
const call = () => Promise.resolve(1);

/** The same chain both ways: retry (3 attempts) outside a breaker (3 failures) outside a 1 s cooperative timeout. */
function build(): { execute(fn: () => Promise<number>): Promise<unknown>; close(): Promise<void> } {
  if (contender === 'ordo') {
    const breaker = new CircuitBreaker({ name: 'bench', failureThreshold: 3 });
    const policy = wrap(retry({ maxAttempts: 3 }), breaker, timeout(1_000));
    return { execute: (fn) => policy.execute(fn), close: () => breaker.close() };
  }
  if (contender === 'cockatiel') {
    const policy = cockatielWrap(
      cockatielRetry(handleAll, { maxAttempts: 2, backoff: new ExponentialBackoff() }),
      cockatielBreaker(handleAll, { halfOpenAfter: 1_000, breaker: new ConsecutiveBreaker(3) }),
      cockatielTimeout(1_000, TimeoutStrategy.Cooperative),
    );
    return { execute: (fn) => policy.execute(fn), close: async () => {} };
  }
  throw new Error(`unknown contender ${contender}; use ordo or cockatiel`);
}

const policy = build();
const loop = async (n: number) => {
  for (let i = 0; i < n; i++) await policy.execute(call);
};
await loop(Math.min(calls, 20_000)); // warm up the JIT
const start = process.hrtime.bigint();
await loop(calls);
const nsPerCall = Number(process.hrtime.bigint() - start) / calls;
await policy.close();
console.log(JSON.stringify({ contender, calls, nsPerCall }));
