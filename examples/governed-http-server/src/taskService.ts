/**
 * The governance parts a server needs, whatever its framework: a memory monitor, a bounded task queue with a
 * worker draining it, Prometheus metrics, admission (503 under memory pressure, 429 when the queue is full)
 * and a health report.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { TaskPriority } from '@ordo/contracts';
import {
  type Admission,
  createAdmission,
  createHealthHandler,
  createMemoryMonitor,
  createMetrics,
  createPriorityQueue,
  type GovernanceMetrics,
  type HealthHandler,
  type PriorityQueue,
} from '@ordo/governance';

/** A queued unit of work. */
export interface Job {
  readonly id: string;
  readonly priority: TaskPriority;
}

/** Everything the HTTP layer wires in front of its routes. */
export interface TaskService {
  readonly queue: PriorityQueue<Job>;
  readonly metrics: GovernanceMetrics;
  /** Put it in front of the routes that enqueue work. */
  readonly admission: Admission;
  /** Answers `/health`. */
  readonly health: HealthHandler;
  /** Queues a job; `undefined` when the queue refused it (admission normally answers 429 first). */
  submit(): Job | undefined;
  /** Ids of the jobs the worker finished, in order. */
  readonly processed: readonly string[];
  /** Holds the worker (jobs wait in the queue), e.g. during a deploy; `resume()` lets it go on. */
  pause(): void;
  resume(): void;
  /** Resolves once the worker has finished every job accepted so far. */
  drained(): Promise<void>;
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

/** Builds the service: a queue of `maxDepth` jobs and one worker. */
export function createTaskService({ maxDepth = 3 } = {}): TaskService {
  const monitor = createMemoryMonitor({ intervalMs: 5_000 }).start();
  const queue = createPriorityQueue<Job>({ maxDepth });
  const metrics = createMetrics();
  const binding = metrics.bind({ monitor, queue }); // gauges read at scrape time, counters kept by events
  const admission = createAdmission({
    monitor,
    queue,
    retryAfter: { taskMs: () => 500, concurrency: 1 }, // a job takes ~500 ms: Retry-After = depth × 0.5 s
    onReject: (decision) => metrics.admissionRejections.inc({ reason: decision.code }),
  });
  const health = createHealthHandler({ monitor, queue });

  // One worker: takes a job, "runs" it. `pause()` stops it from taking more (its pending take is cancelled,
  // so jobs stay queued) until `resume()`.
  const stop = new AbortController();
  let gate: Promise<void> = Promise.resolve();
  let openGate = () => {};
  let cancelTake = new AbortController();
  let accepted = 0;
  let waiters: (() => void)[] = [];
  const processed: string[] = [];
  const settleWaiters = () => {
    if (processed.length < accepted) return;
    for (const resolve of waiters) resolve();
    waiters = [];
  };
  const worker = (async () => {
    while (!stop.signal.aborted) {
      await gate;
      cancelTake = new AbortController();
      const job = await queue.take(AbortSignal.any([stop.signal, cancelTake.signal])).catch(() => undefined);
      if (!job) continue; // paused or closed
      // The work itself goes here, with `stop.signal` passed down; a few ms stand for it.
      await sleep(5, undefined, { signal: stop.signal }).catch(() => undefined);
      processed.push(job.id);
      settleWaiters();
    }
  })();

  const close = async () => {
    stop.abort();
    openGate();
    await worker;
    binding.unbind();
    await queue.close();
    await monitor.close();
  };
  return {
    queue,
    metrics,
    admission,
    health,
    processed,
    submit() {
      const job = { id: `job-${accepted + 1}`, priority: TaskPriority.NORMAL };
      if (!queue.enqueue(job).accepted) return undefined;
      accepted++;
      return job;
    },
    pause() {
      gate = new Promise((resolve) => {
        openGate = resolve;
      });
      cancelTake.abort();
    },
    resume: () => openGate(),
    drained() {
      return new Promise((resolve) => {
        waiters.push(resolve);
        settleWaiters();
      });
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}
