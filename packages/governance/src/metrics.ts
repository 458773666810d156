import {
  type BreakerState,
  MEMORY_LEVELS,
  type MemoryLevel,
  type MemorySnapshot,
  TASK_PRIORITIES,
  type TaskPriority,
  taskPriorityName,
} from '@ordo/contracts';
import { Counter, Gauge, Registry } from 'prom-client';
import type { MemoryLevelChange } from './memoryMonitor.js';

/** What `bind` reads from a memory monitor: `MemoryMonitor` fits. */
export interface MonitorMetricsSource {
  readonly level: MemoryLevel;
  readonly lastSnapshot: MemorySnapshot | undefined;
  on(event: 'snapshot', listener: (snapshot: MemorySnapshot) => void): unknown;
  on(event: 'level', listener: (change: MemoryLevelChange) => void): unknown;
  off(event: 'snapshot', listener: (snapshot: MemorySnapshot) => void): unknown;
  off(event: 'level', listener: (change: MemoryLevelChange) => void): unknown;
}

/** What `bind` reads from a queue: `PriorityQueue` fits. */
export interface QueueMetricsSource {
  depthOf(priority: TaskPriority): number;
  on(event: 'skipped', listener: (item: unknown) => void): unknown;
  off(event: 'skipped', listener: (item: unknown) => void): unknown;
}

/** What `bind` reads from a breaker: `CircuitBreaker` (and any contracts `Breaker` with a name) fits. */
export interface BreakerMetricsSource {
  readonly name: string;
  readonly state: BreakerState;
  /** Total time spent open, in ms, for `circuit_breaker_open_seconds_total` (`CircuitBreaker` has it). */
  readonly openMs?: number | undefined;
}

/**
 * What `bind` reads from a resilience policy: every governance policy (`retry`, `timeout`, `bulkhead`,
 * `fallback`, `CircuitBreaker`) fits, and so does a `wrap(...)` of them (its `policies` are read).
 */
export type PolicyMetricsSource =
  | { readonly name: string; readonly kind: string; stats(): { attempts: number; rejections: number } }
  | { readonly policies: Iterable<unknown> };

/**
 * What `bind` reads from a worker pool (the governance worker pool implements it). `stats()` is read at
 * each scrape; an `oom` event, if the pool emits one, counts a worker killed for running out of memory, a
 * `stalled` event one killed for a stale heartbeat.
 */
export interface PoolMetricsSource {
  stats(): { active: number; idle: number };
  on?(event: 'oom', listener: (workerId: string) => void): unknown;
  on?(event: 'stalled', listener: (stall: unknown) => void): unknown;
  off?(event: 'oom', listener: (workerId: string) => void): unknown;
  off?(event: 'stalled', listener: (stall: unknown) => void): unknown;
}

/** The sources `bind` keeps the metrics current from; each is optional. */
export interface MetricsSources {
  monitor?: MonitorMetricsSource | undefined;
  queue?: QueueMetricsSource | undefined;
  /** Re-read at each scrape, so pass a live collection (an array or a Set you add breakers to). */
  breakers?: Iterable<BreakerMetricsSource> | undefined;
  pool?: PoolMetricsSource | undefined;
  /** Re-read at each scrape, like `breakers`; a wrap's governance policies are counted one by one. */
  policies?: Iterable<PolicyMetricsSource> | undefined;
}

/** Undoes one `bind`: listeners are removed and the sources are no longer read. */
export interface MetricsBinding {
  unbind(): void;
  [Symbol.dispose](): void;
}

/** Options for {@link createMetrics}. */
export interface MetricsOptions {
  /** The registry to register in. @default a new Registry (not prom-client's global one) */
  registry?: Registry | undefined;
  /** Prepended to every metric name. @default 'ordo_' */
  prefix?: string | undefined;
}

/** The governance metrics, as {@link createMetrics} returns them. */
export interface GovernanceMetrics {
  readonly registry: Registry;
  /** Every metric name registered, prefix included. */
  readonly names: readonly string[];
  /** `memory_usage_bytes{type}`: rss, heap_used, heap_total, external, array_buffers. */
  readonly memoryUsageBytes: Gauge<'type'>;
  /** `memory_limit_bytes`: the limit the monitor measures against. */
  readonly memoryLimitBytes: Gauge;
  /** `memory_usage_ratio`: the watched figure over the limit (0–1, may exceed 1). */
  readonly memoryUsageRatio: Gauge;
  /** `memory_level`: 0 normal, 1 warning, 2 critical, 3 emergency. */
  readonly memoryLevel: Gauge;
  /** `memory_threshold_crossings_total{level}`: rises into each level. */
  readonly memoryThresholdCrossings: Counter<'level'>;
  /** `workers_active`. */
  readonly workersActive: Gauge;
  /** `workers_idle`. */
  readonly workersIdle: Gauge;
  /** `worker_oom_kills_total`: workers killed for running out of memory. */
  readonly workerOomKills: Counter;
  /** `worker_stalls_total`: workers killed because their heartbeat went stale (a blocked event loop). */
  readonly workerStalls: Counter;
  /** `queue_depth{priority}`: CRITICAL … HEARTBEAT. */
  readonly queueDepth: Gauge<'priority'>;
  /** `tasks_preempted_total`. */
  readonly tasksPreempted: Counter;
  /** `tasks_killed_total`. */
  readonly tasksKilled: Counter;
  /** `heartbeats_skipped_total`. */
  readonly heartbeatsSkipped: Counter;
  /** `circuit_breaker_state{name}`: 0 closed, 1 half-open, 2 open. */
  readonly circuitBreakerState: Gauge<'name'>;
  /** `admission_rejections_total{reason}`: work refused at admission (e.g. `memory`, `rate`, `queue_full`). */
  readonly admissionRejections: Counter<'reason'>;
  /** `circuit_breaker_open_seconds_total{name}`: time each bound breaker has spent open. */
  readonly circuitBreakerOpenSeconds: Counter<'name'>;
  /** `policy_attempts_total{policy,kind}`: calls each bound policy made (every retry attempt counts). */
  readonly policyAttempts: Counter<'policy' | 'kind'>;
  /**
   * `policy_rejections_total{policy,kind}`: calls each bound policy refused or abandoned (`BULKHEAD_FULL`,
   * `BREAKER_OPEN`, `POLICY_TIMEOUT`, retries given up, fallbacks answered).
   */
  readonly policyRejections: Counter<'policy' | 'kind'>;
  /** Keeps the metrics current from these sources until the binding is undone. */
  bind(sources: MetricsSources): MetricsBinding;
}

/** The `circuit_breaker_state` value of each state. */
export const BREAKER_STATE_VALUE: Readonly<Record<BreakerState, number>> = {
  closed: 0,
  'half-open': 1,
  open: 2,
};

/**
 * Creates ordo's governance metrics on prom-client and returns them with `bind`, which keeps them current
 * from a monitor, a queue, breakers and a pool: memory gauges on each snapshot, threshold crossings on each
 * rise, skipped heartbeats as they happen, queue depth, breaker states and worker counts at each scrape.
 *
 * @example
 * ```ts
 * const metrics = createMetrics();
 * using _binding = metrics.bind({ monitor, queue, breakers: [breaker] });
 * const text = await metrics.registry.metrics(); // serve it on /metrics
 * ```
 */
export function createMetrics(options: MetricsOptions = {}): GovernanceMetrics {
  const registry = options.registry ?? new Registry();
  const prefix = options.prefix ?? 'ordo_';
  const names: string[] = [];
  const queues = new Set<QueueMetricsSource>();
  const breakerSets = new Set<Iterable<BreakerMetricsSource>>();
  const policySets = new Set<Iterable<PolicyMetricsSource>>();
  /** Every governance policy bound, wraps opened up, each once. */
  const boundPolicies = () => {
    const found = new Set<CountingPolicy>();
    const visit = (source: unknown, depth: number) => {
      if (typeof source !== 'object' || source === null || depth > 16) return;
      if (isCountingPolicy(source)) found.add(source);
      const inner = (source as { policies?: unknown }).policies;
      if (inner && typeof (inner as Iterable<unknown>)[Symbol.iterator] === 'function') {
        for (const policy of inner as Iterable<unknown>) visit(policy, depth + 1);
      }
    };
    for (const set of policySets) for (const source of set) visit(source, 0);
    return found;
  };
  const pools = new Set<PoolMetricsSource>();

  const gauge = <L extends string = never>(
    name: string,
    help: string,
    labelNames: readonly L[] = [],
    collect?: (this: Gauge<L>) => void,
  ): Gauge<L> => {
    names.push(prefix + name);
    return new Gauge<L>({
      name: prefix + name,
      help,
      labelNames,
      registers: [registry],
      ...(collect ? { collect } : {}),
    });
  };
  const counter = <L extends string = never>(
    name: string,
    help: string,
    labelNames: readonly L[] = [],
    collect?: (this: Counter<L>) => void,
  ) => {
    names.push(prefix + name);
    return new Counter<L>({
      name: prefix + name,
      help,
      labelNames,
      registers: [registry],
      ...(collect ? { collect } : {}),
    });
  };
  const sumPools = (pick: (stats: { active: number; idle: number }) => number) => {
    let total = 0;
    for (const pool of pools) total += pick(pool.stats());
    return total;
  };

  const metrics: Omit<GovernanceMetrics, 'bind'> = {
    registry,
    names,
    memoryUsageBytes: gauge('memory_usage_bytes', 'Process memory by type, in bytes.', ['type']),
    memoryLimitBytes: gauge('memory_limit_bytes', 'The memory limit the monitor measures against, in bytes.'),
    memoryUsageRatio: gauge('memory_usage_ratio', 'The watched memory figure divided by the limit.'),
    memoryLevel: gauge('memory_level', 'The memory level: 0 normal, 1 warning, 2 critical, 3 emergency.'),
    memoryThresholdCrossings: counter('memory_threshold_crossings_total', 'Rises into each memory level.', [
      'level',
    ]),
    workersActive: gauge('workers_active', 'Workers running a task.', [], function collect() {
      if (pools.size > 0) this.set(sumPools((s) => s.active));
    }),
    workersIdle: gauge('workers_idle', 'Workers alive and waiting for a task.', [], function collect() {
      if (pools.size > 0) this.set(sumPools((s) => s.idle));
    }),
    workerOomKills: counter('worker_oom_kills_total', 'Workers killed for running out of memory.'),
    workerStalls: counter('worker_stalls_total', 'Workers killed because their heartbeat went stale.'),
    queueDepth: gauge('queue_depth', 'Queued items per priority level.', ['priority'], function collect() {
      for (const priority of TASK_PRIORITIES) {
        let depth = 0;
        for (const queue of queues) depth += queue.depthOf(priority);
        this.set({ priority: taskPriorityName(priority) }, depth);
      }
    }),
    tasksPreempted: counter('tasks_preempted_total', 'Running tasks preempted by the memory governor.'),
    tasksKilled: counter('tasks_killed_total', 'Running tasks killed by the memory governor.'),
    heartbeatsSkipped: counter('heartbeats_skipped_total', 'Heartbeats skipped because memory was high.'),
    circuitBreakerState: gauge(
      'circuit_breaker_state',
      'Circuit breaker state: 0 closed, 1 half-open, 2 open.',
      ['name'],
      function collect() {
        this.reset();
        for (const breakers of breakerSets) {
          for (const breaker of breakers)
            this.set({ name: breaker.name }, BREAKER_STATE_VALUE[breaker.state]);
        }
      },
    ),
    admissionRejections: counter('admission_rejections_total', 'Work refused at admission, by reason.', [
      'reason',
    ]),
    circuitBreakerOpenSeconds: counter(
      'circuit_breaker_open_seconds_total',
      'Time each circuit breaker has spent open, in seconds.',
      ['name'],
      function collect() {
        this.reset();
        for (const breakers of breakerSets) {
          for (const breaker of breakers) {
            if (typeof breaker.openMs === 'number') this.inc({ name: breaker.name }, breaker.openMs / 1000);
          }
        }
      },
    ),
    policyAttempts: counter(
      'policy_attempts_total',
      'Calls each resilience policy made; every retry attempt counts.',
      ['policy', 'kind'],
      function collect() {
        this.reset();
        for (const p of boundPolicies()) this.inc({ policy: p.name, kind: p.kind }, p.stats().attempts);
      },
    ),
    policyRejections: counter(
      'policy_rejections_total',
      'Calls each resilience policy refused or abandoned (bulkhead full, breaker open, timeout, retries spent, fallback).',
      ['policy', 'kind'],
      function collect() {
        this.reset();
        for (const p of boundPolicies()) this.inc({ policy: p.name, kind: p.kind }, p.stats().rejections);
      },
    ),
  };

  const onSnapshot = (snapshot: MemorySnapshot) => {
    metrics.memoryUsageBytes.set({ type: 'rss' }, snapshot.rss);
    metrics.memoryUsageBytes.set({ type: 'heap_used' }, snapshot.heapUsed);
    metrics.memoryUsageBytes.set({ type: 'heap_total' }, snapshot.heapTotal);
    metrics.memoryUsageBytes.set({ type: 'external' }, snapshot.external);
    metrics.memoryUsageBytes.set({ type: 'array_buffers' }, snapshot.arrayBuffers);
    metrics.memoryLimitBytes.set(snapshot.limit);
    metrics.memoryUsageRatio.set(snapshot.fractionOfLimit);
  };
  const onLevel = (change: MemoryLevelChange) => {
    metrics.memoryLevel.set(MEMORY_LEVELS.indexOf(change.to));
    if (change.direction === 'up') metrics.memoryThresholdCrossings.inc({ level: change.to });
  };
  const onSkipped = () => metrics.heartbeatsSkipped.inc();
  const onOom = () => metrics.workerOomKills.inc();
  const onStalled = () => metrics.workerStalls.inc();

  const bind = ({ monitor, queue, breakers, pool, policies }: MetricsSources): MetricsBinding => {
    if (policies) policySets.add(policies);
    if (monitor) {
      monitor.on('snapshot', onSnapshot);
      monitor.on('level', onLevel);
      if (monitor.lastSnapshot) onSnapshot(monitor.lastSnapshot);
      metrics.memoryLevel.set(MEMORY_LEVELS.indexOf(monitor.level));
    }
    if (queue) {
      queues.add(queue);
      queue.on('skipped', onSkipped);
    }
    if (breakers) breakerSets.add(breakers);
    if (pool) {
      pools.add(pool);
      pool.on?.('oom', onOom);
      pool.on?.('stalled', onStalled);
    }
    let bound = true;
    const unbind = () => {
      if (!bound) return;
      bound = false;
      monitor?.off('snapshot', onSnapshot);
      monitor?.off('level', onLevel);
      if (queue) {
        queues.delete(queue);
        queue.off('skipped', onSkipped);
      }
      if (breakers) breakerSets.delete(breakers);
      if (policies) policySets.delete(policies);
      if (pool) {
        pools.delete(pool);
        pool.off?.('oom', onOom);
        pool.off?.('stalled', onStalled);
      }
    };
    return { unbind, [Symbol.dispose]: unbind };
  };

  return { ...metrics, bind };
}

interface CountingPolicy {
  readonly name: string;
  readonly kind: string;
  stats(): { attempts: number; rejections: number };
}

function isCountingPolicy(value: object): value is CountingPolicy {
  const policy = value as Partial<CountingPolicy>;
  return (
    typeof policy.name === 'string' && typeof policy.kind === 'string' && typeof policy.stats === 'function'
  );
}
