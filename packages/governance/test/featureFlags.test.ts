import { isOrdoError } from '@ordo/contracts';
import { ManualClock } from '@ordo/contracts/testing';
import fc from 'fast-check';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import {
  CircuitBreaker,
  createFeatureFlagGauge,
  createHealthHandler,
  FEATURE_FLAG_NAMES,
  type FeatureFlags,
  MemoryMonitor,
  parseFeatureFlag,
} from '../src/index.js';

const on: FeatureFlags = { memoryGovernance: true, workerPool: true, circuitBreakers: true };

describe('feature flags', () => {
  it('parses a flag variable as FF_X === "true" and nothing else', () => {
    expect(parseFeatureFlag('true')).toBe(true);
    fc.assert(
      fc.property(fc.string(), (raw) => {
        expect(parseFeatureFlag(raw)).toBe(raw === 'true');
      }),
    );
  });

  it('exports ordo_feature_flag{flag} read at each scrape', async () => {
    const registry = new Registry();
    let flags: FeatureFlags = on;
    createFeatureFlagGauge({ registry, flags: () => flags });
    const first = await registry.metrics();
    expect(first).toContain('ordo_feature_flag{flag="memory_governance"} 1');
    expect(first).toContain('ordo_feature_flag{flag="worker_pool"} 1');
    expect(first).toContain('ordo_feature_flag{flag="circuit_breakers"} 1');
    flags = { ...on, workerPool: false };
    const second = await registry.metrics();
    expect(second).toContain('ordo_feature_flag{flag="worker_pool"} 0');
    expect(FEATURE_FLAG_NAMES).toHaveLength(3);
  });

  it('reports flags in /health, and memory governance off keeps memory from failing it', async () => {
    const clock = new ManualClock();
    // 0.9 of the limit: critical with the default thresholds.
    await using monitor = new MemoryMonitor({
      limitBytes: 1_000,
      clock,
      source: () => ({ rss: 900, heapUsed: 1, heapTotal: 1, external: 0, arrayBuffers: 0 }),
    });
    monitor.sample();
    expect(monitor.level).toBe('critical');
    const governed = createHealthHandler({ monitor, flags: on }).report();
    expect(governed.status).toBe('unhealthy');
    expect(governed.flags).toEqual(on);
    let flags: FeatureFlags = { ...on, memoryGovernance: false };
    const health = createHealthHandler({ monitor, flags: () => flags });
    const off = health.report();
    expect(off).toMatchObject({ status: 'ok', reasons: [], memory: { level: 'critical' } });
    expect(off.flags?.memoryGovernance).toBe(false);
    flags = on;
    expect(health.report().status).toBe('unhealthy');
  });
});

describe('CircuitBreaker.configure', () => {
  const fail = () => Promise.reject(new Error('down'));

  it('applies a new threshold and backoff to the running breaker', async () => {
    const clock = new ManualClock();
    await using breaker = new CircuitBreaker({ name: 'dep', failureThreshold: 3, clock });
    await expect(breaker.execute(fail)).rejects.toThrow('down');
    expect(breaker.state).toBe('closed');
    breaker.configure({ failureThreshold: 2, backoff: { initialMs: 5_000 } });
    await expect(breaker.execute(fail)).rejects.toThrow('down');
    expect(breaker.state).toBe('open');
    clock.advance(4_999);
    expect(breaker.state).toBe('open');
    clock.advance(1);
    expect(breaker.state).toBe('half-open');
  });

  it('refuses an invalid setting and keeps the old ones', async () => {
    const clock = new ManualClock();
    await using breaker = new CircuitBreaker({ name: 'dep', failureThreshold: 1, clock });
    for (const bad of [{ failureThreshold: 0 }, { windowMs: -1 }, { halfOpenMaxConcurrent: 1.5 }]) {
      let caught: unknown;
      try {
        breaker.configure({ backoff: { initialMs: 9 }, ...bad });
      } catch (error) {
        caught = error;
      }
      expect(isOrdoError(caught, 'GOVERNANCE_OPTIONS_INVALID'), JSON.stringify(bad)).toBe(true);
    }
    await expect(breaker.execute(fail)).rejects.toThrow('down');
    expect(breaker.state).toBe('open');
    clock.advance(999);
    expect(breaker.state).toBe('open');
    clock.advance(1);
    expect(breaker.state).toBe('half-open');
  });
});
