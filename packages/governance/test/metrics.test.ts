import { TaskPriority } from '@ordo/contracts';
import { ManualClock } from '@ordo/contracts/testing';
import { EventEmitter } from 'eventemitter3';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import {
  CircuitBreaker,
  createMetrics,
  MemoryMonitor,
  type PoolMetricsSource,
  PriorityQueue,
} from '../src/index.js';

/** The value of one sample in the registry's exposition text, or undefined if absent. */
async function sample(registry: Registry, series: string): Promise<number | undefined> {
  const text = await registry.metrics();
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe('createMetrics', () => {
  it('registers every governance metric under the prefix, in its own registry', async () => {
    const metrics = createMetrics();
    expect(metrics.names).toEqual([
      'ordo_memory_usage_bytes',
      'ordo_memory_limit_bytes',
      'ordo_memory_usage_ratio',
      'ordo_memory_level',
      'ordo_memory_threshold_crossings_total',
      'ordo_workers_active',
      'ordo_workers_idle',
      'ordo_worker_oom_kills_total',
      'ordo_worker_stalls_total',
      'ordo_queue_depth',
      'ordo_tasks_preempted_total',
      'ordo_tasks_killed_total',
      'ordo_heartbeats_skipped_total',
      'ordo_circuit_breaker_state',
      'ordo_admission_rejections_total',
      'ordo_circuit_breaker_open_seconds_total',
      'ordo_policy_attempts_total',
      'ordo_policy_rejections_total',
    ]);
    const registered = (await metrics.registry.getMetricsAsJSON()).map((m) => m.name);
    expect(registered.sort()).toEqual([...metrics.names].sort());
    const custom = createMetrics({ registry: new Registry(), prefix: 'app_' });
    expect(custom.names[0]).toBe('app_memory_usage_bytes');
    expect(() => createMetrics({ registry: metrics.registry })).toThrow(/already been registered/);
  });

  it('bind() keeps memory, queue, breaker and pool metrics current', async () => {
    const clock = new ManualClock();
    let rss = 500;
    const monitor = new MemoryMonitor({
      limitBytes: 1000,
      clock,
      source: () => ({ rss, heapUsed: 100, heapTotal: 200, external: 5, arrayBuffers: 1 }),
    });
    const queue = new PriorityQueue({ maxDepth: 10 });
    const breaker = new CircuitBreaker({ name: 'api', clock, failureThreshold: 1 });
    const breakers = [breaker];
    const pool: PoolMetricsSource = { stats: () => ({ active: 3, idle: 1 }) };
    const metrics = createMetrics();
    const { registry } = metrics;
    const binding = metrics.bind({ monitor, queue, breakers, pool });

    monitor.sample();
    expect(await sample(registry, 'ordo_memory_usage_bytes{type="rss"}')).toBe(500);
    expect(await sample(registry, 'ordo_memory_usage_bytes{type="heap_used"}')).toBe(100);
    expect(await sample(registry, 'ordo_memory_limit_bytes')).toBe(1000);
    expect(await sample(registry, 'ordo_memory_usage_ratio')).toBe(0.5);
    expect(await sample(registry, 'ordo_memory_level')).toBe(0);

    rss = 900; // critical
    monitor.sample();
    rss = 100; // normal again
    monitor.sample();
    rss = 960; // emergency
    monitor.sample();
    expect(await sample(registry, 'ordo_memory_threshold_crossings_total{level="critical"}')).toBe(1);
    expect(await sample(registry, 'ordo_memory_threshold_crossings_total{level="emergency"}')).toBe(1);
    expect(await sample(registry, 'ordo_memory_level')).toBe(3);

    queue.enqueue({ id: 'a', priority: TaskPriority.HIGH });
    queue.enqueue({ id: 'b', priority: TaskPriority.HIGH });
    queue.enqueue({ id: 'hb', priority: TaskPriority.HEARTBEAT });
    expect(await sample(registry, 'ordo_queue_depth{priority="HIGH"}')).toBe(2);
    expect(await sample(registry, 'ordo_queue_depth{priority="HEARTBEAT"}')).toBe(1);
    expect(await sample(registry, 'ordo_queue_depth{priority="CRITICAL"}')).toBe(0);
    queue.memoryHigh = true;
    queue.dequeue();
    queue.dequeue();
    queue.dequeue();
    expect(await sample(registry, 'ordo_heartbeats_skipped_total')).toBe(1);

    expect(await sample(registry, 'ordo_circuit_breaker_state{name="api"}')).toBe(0);
    await breaker.execute(() => Promise.reject(new Error('down'))).catch(() => {});
    expect(await sample(registry, 'ordo_circuit_breaker_state{name="api"}')).toBe(2);
    clock.advance(1000);
    expect(await sample(registry, 'ordo_circuit_breaker_state{name="api"}')).toBe(1);
    breakers.push(new CircuitBreaker({ name: 'db', clock }));
    expect(await sample(registry, 'ordo_circuit_breaker_state{name="db"}')).toBe(0);

    expect(await sample(registry, 'ordo_workers_active')).toBe(3);
    expect(await sample(registry, 'ordo_workers_idle')).toBe(1);

    binding.unbind();
    binding[Symbol.dispose]();
    rss = 100;
    monitor.sample();
    queue.enqueue({ id: 'c', priority: TaskPriority.HIGH });
    expect(await sample(registry, 'ordo_memory_usage_bytes{type="rss"}')).toBe(960);
    expect(await sample(registry, 'ordo_queue_depth{priority="HIGH"}')).toBe(0);
    expect(await sample(registry, 'ordo_circuit_breaker_state{name="api"}')).toBeUndefined();
  });

  it('primes memory gauges from the last snapshot and counts pool OOM events', async () => {
    const monitor = new MemoryMonitor({
      limitBytes: 1000,
      source: () => ({ rss: 800, heapUsed: 1, heapTotal: 1, external: 0, arrayBuffers: 0 }),
    });
    monitor.sample();
    const pool = Object.assign(new EventEmitter<{ oom: [workerId: string]; stalled: [unknown] }>(), {
      stats: () => ({ active: 0, idle: 2 }),
    });
    const metrics = createMetrics();
    using _binding = metrics.bind({ monitor, pool });
    expect(await sample(metrics.registry, 'ordo_memory_usage_ratio')).toBe(0.8);
    expect(await sample(metrics.registry, 'ordo_memory_level')).toBe(1);
    pool.emit('oom', 'w1');
    expect(await sample(metrics.registry, 'ordo_worker_oom_kills_total')).toBe(1);
    pool.emit('stalled', { workerId: 'w2' });
    expect(await sample(metrics.registry, 'ordo_worker_stalls_total')).toBe(1);
    metrics.admissionRejections.inc({ reason: 'memory' });
    expect(await sample(metrics.registry, 'ordo_admission_rejections_total{reason="memory"}')).toBe(1);
  });
});
