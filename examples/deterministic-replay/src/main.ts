/**
 * Deterministic replay: the same tasks, with random latencies, scheduled twice at different concurrency,
 * commit in the same order and leave the same trace digest. The stored trace is then verified, tampered
 * with (one byte) and replayed against a changed task.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { pathToFileURL } from 'node:url';
import { TaskPriority } from '@ordo/contracts';
import {
  createScheduler,
  type Divergence,
  type Run,
  replay,
  type Task,
  type Trace,
  type TraceVerification,
  verifyTrace,
} from '@ordo/kernel-scheduler';

/** What the example found, for its smoke test. */
export interface ReplayDemo {
  readonly runs: readonly {
    concurrency: number;
    finishOrder: string[];
    commitOrder: string[];
    digest: string;
  }[];
  readonly verified: TraceVerification;
  readonly tampered: TraceVerification;
  readonly replayedOk: boolean;
  readonly divergence: Divergence | undefined;
}

const SEED = 'demo-seed';

/**
 * Eight "fetch" tasks. Their latency is random on every run, their result depends on the id only, and one is
 * HIGH priority: the commit order depends on priority, seed and ids, never on who finishes first.
 */
function makeTasks(resultOf = (id: string) => ({ id, pages: id.length * 3 })): Task[] {
  return ['users', 'orders', 'invoices', 'refunds', 'audit', 'stock', 'prices', 'reviews'].map((name) => ({
    id: `fetch-${name}`,
    priority: name === 'audit' ? TaskPriority.HIGH : TaskPriority.NORMAL,
    run: async ({ id, signal }) => {
      await sleep(1 + Math.floor(Math.random() * 20), undefined, { signal }); // stops if the run is cancelled
      return resultOf(id);
    },
  }));
}

async function runOnce(concurrency: number) {
  await using scheduler = createScheduler({ concurrency, seed: SEED });
  const finishOrder: string[] = [];
  scheduler.on('settle', (record) => finishOrder.push(record.id)); // completion order: timing-dependent
  const run: Run = await scheduler.schedule(makeTasks());
  return {
    concurrency,
    finishOrder,
    commitOrder: run.records.map((r) => r.id),
    digest: run.trace.digest,
    run,
  };
}

/** Runs the whole demonstration, printing through `log`. */
export async function main(log: (line: string) => void = console.log): Promise<ReplayDemo> {
  const short = (digest: string) => `${digest.slice(0, 16)}…`;

  // 1. Twice, at concurrency 1 and 8.
  const runs = [await runOnce(1), await runOnce(8)];
  for (const { concurrency, finishOrder, commitOrder, digest } of runs) {
    log(`concurrency ${concurrency}`);
    log(`  finished: ${finishOrder.join(' ')}`);
    log(`  commits:  ${commitOrder.join(' ')}`);
    log(`  digest:   ${short(digest)}`);
  }
  const [first, second] = runs as [(typeof runs)[0], (typeof runs)[0]];
  const same = first.digest === second.digest && first.commitOrder.join() === second.commitOrder.join();
  log(same ? 'same commit order and digest at both concurrencies' : 'runs DIFFER (this is a bug)');

  // 2. The trace is plain JSON: store it, load it, verify its hash chain.
  const stored = JSON.stringify(first.run.trace);
  const verified = verifyTrace(JSON.parse(stored) as Trace);
  log(`\nverifyTrace(stored trace): ${verified.ok ? 'ok' : verified.message}`);

  // 3. Tamper with one byte: the first hex digit of entry 3's result digest.
  const victim = first.run.trace.entries[3];
  if (!victim) throw new Error('the demo needs at least 4 tasks');
  const at = stored.indexOf(victim.resultDigest);
  const flipped = victim.resultDigest[0] === '0' ? '1' : '0';
  const tamperedJson = `${stored.slice(0, at)}${flipped}${stored.slice(at + 1)}`;
  const tampered = verifyTrace(JSON.parse(tamperedJson) as Trace);
  log(`verifyTrace(one byte changed): ${tampered.ok ? 'ok (tampering missed!)' : tampered.message}`);

  // 4. Replay: the same tasks reproduce the trace; a task whose result changed is found.
  const replayed = await replay(first.run.trace, makeTasks(), { concurrency: 4 });
  log(`\nreplay(same tasks): ${replayed.ok ? 'ok, reproduced' : `diverged: ${JSON.stringify(replayed)}`}`);
  const changed = await replay(
    first.run.trace,
    makeTasks((id) => ({ id, pages: id === 'fetch-refunds' ? 0 : id.length * 3 })),
    { concurrency: 4 },
  );
  const divergence = changed.ok ? undefined : changed.divergence;
  log(
    divergence
      ? `replay(fetch-refunds changed): diverged at #${divergence.seq} ${divergence.id} (${divergence.kind})`
      : 'replay(fetch-refunds changed): ok (the change was missed!)',
  );
  return {
    runs: runs.map(({ run: _run, ...rest }) => rest),
    verified,
    tampered,
    replayedOk: replayed.ok,
    divergence,
  };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await main();
