// Benchmarks of @ordo/governance against its anchors, measured in the same run: `pnpm bench`.
// Results are printed as ratios and written to bench/results/*.json.
import { benchBreaker } from './breaker.js';
import { benchPolicies } from './policies.js';
import { benchQueue } from './queue.js';

const started = process.hrtime.bigint();
const breaker = await benchBreaker();
const queue = await benchQueue();
const policies = benchPolicies();
const seconds = Number(process.hrtime.bigint() - started) / 1e9;
console.log(
  `\ntargets: breaker ${breaker ? 'met' : 'missed'}, queue ${queue ? 'met' : 'missed'}, policies ${policies ? 'met' : 'missed'} (${seconds.toFixed(0)} s)`,
);

// The worker pool against piscina (processes vs threads); it runs when imported.
await import('./pool.js');
