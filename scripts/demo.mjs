// `pnpm demo`: runs the quickstart example once the runtime has landed; until then it shows the built
// contracts at work (run by `pnpm demo` after `pnpm build`).

import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

const quickstart = new URL('../examples/quickstart/package.json', import.meta.url);
if (existsSync(quickstart)) {
  const result = spawnSync('pnpm', ['--filter', './examples/quickstart', 'start'], { stdio: 'inherit' });
  process.exit(result.status ?? 1);
}

const { OrdoError, TaskPriority, taskPriorityName, isOrdoError } = await import(
  '../packages/contracts/dist/index.js'
);
const { ManualClock } = await import('../packages/contracts/dist/testing.js');

console.log('ordo demo: the shared contracts, built and loaded from dist/\n');
const clock = new ManualClock(0);
const order = [];
for (const [id, priority] of [
  ['heartbeat', TaskPriority.HEARTBEAT],
  ['fix-build', TaskPriority.CRITICAL],
  ['refactor', TaskPriority.NORMAL],
]) {
  clock.setTimeout(() => order.push(`${id} (${taskPriorityName(priority)})`), priority * 10);
}
clock.advance(100);
console.log('timers fired on a ManualClock, by priority:', order.join(' → '));

const error = new OrdoError('The queue is full. Retry after the Retry-After delay.', {
  code: 'QUEUE_FULL',
  details: { retryAfterMs: 1500 },
});
console.log('an ordo error as JSON:', JSON.stringify(error));
console.log('isOrdoError(error, "QUEUE_FULL") =', isOrdoError(error, 'QUEUE_FULL'));
