import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { MemoryUsage } from '@ordo/contracts';
import { ManualClock, RecordingLogger } from '@ordo/contracts/testing';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { detectMemoryLimit, type MemoryLevelChange, MemoryMonitor } from '../src/index.js';

const LIMIT = 1000;
const usage = (rss: number, heapUsed = 10): MemoryUsage => ({
  rss,
  heapUsed,
  heapTotal: 20,
  external: 1,
  arrayBuffers: 0,
});

/** A source that returns the given rss readings (as % of a 1000-byte limit) in order, then the last one. */
function scripted(percents: number[]) {
  let i = 0;
  return () => usage(((percents[Math.min(i++, percents.length - 1)] as number) * LIMIT) / 100);
}

function levelsOf(percents: number[], options: { hysteresis?: number } = {}) {
  const monitor = new MemoryMonitor({ limitBytes: LIMIT, source: scripted(percents), ...options });
  return percents.map(() => {
    monitor.sample();
    return monitor.level;
  });
}

describe('MemoryMonitor', () => {
  it('takes snapshots with every figure, the limit and fractionOfLimit', () => {
    const clock = new ManualClock(5_000);
    const logger = new RecordingLogger();
    const monitor = new MemoryMonitor({ limitBytes: LIMIT, source: () => usage(250, 400), clock, logger });
    const snapshots: unknown[] = [];
    monitor.on('snapshot', (s) => snapshots.push(s));
    const snapshot = monitor.sample();
    expect(snapshot).toEqual({
      rss: 250,
      heapUsed: 400,
      heapTotal: 20,
      external: 1,
      arrayBuffers: 0,
      limit: LIMIT,
      fractionOfLimit: 0.25,
      at: 5_000,
    });
    expect(snapshots).toEqual([snapshot]);
    expect(monitor.lastSnapshot).toBe(snapshot);
    expect(logger.at('debug')).toEqual([
      { level: 'debug', msg: 'memory snapshot', fields: { memory: snapshot } },
    ]);
    const heap = new MemoryMonitor({ limitBytes: LIMIT, source: () => usage(250, 400), basis: 'heapUsed' });
    expect(heap.sample().fractionOfLimit).toBe(0.4);
  });

  it('rises at each threshold and clears only 10 points below it', () => {
    expect(levelsOf([50, 70, 69, 61, 60, 59.9])).toEqual([
      'normal',
      'warning',
      'warning',
      'warning',
      'warning',
      'normal',
    ]);
    expect(levelsOf([85, 80, 76, 74.9, 70, 59])).toEqual([
      'critical',
      'critical',
      'critical',
      'warning',
      'warning',
      'normal',
    ]);
    expect(levelsOf([96, 90, 86, 84.9, 40])).toEqual([
      'emergency',
      'emergency',
      'emergency',
      'critical',
      'normal',
    ]);
    expect(levelsOf([71, 69, 71, 69], { hysteresis: 0 })).toEqual(['warning', 'normal', 'warning', 'normal']);
  });

  it('emits one level event per change with direction and snapshot, and logs it', () => {
    const logger = new RecordingLogger();
    const monitor = new MemoryMonitor({ limitBytes: LIMIT, source: scripted([10, 96, 90, 50]), logger });
    const changes: MemoryLevelChange[] = [];
    monitor.on('level', (c) => changes.push(c));
    for (let i = 0; i < 4; i++) monitor.sample();
    expect(changes.map((c) => [c.from, c.to, c.direction, c.snapshot.fractionOfLimit])).toEqual([
      ['normal', 'emergency', 'up', 0.96],
      ['emergency', 'normal', 'down', 0.5],
    ]);
    expect(logger.at('warn')[0]?.msg).toBe('memory level rose to emergency');
    expect(logger.at('info')[0]?.msg).toBe('memory level eased to normal');
  });

  it('never flaps: a reading inside the hysteresis band keeps the level (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.double({ min: 0, max: 120, noNaN: true }), { minLength: 1, maxLength: 60 }),
        (percents) => {
          const levels = levelsOf(percents);
          const t = { warning: 70, critical: 85, emergency: 95 } as const;
          const order = ['normal', 'warning', 'critical', 'emergency'];
          for (let i = 0; i < percents.length; i++) {
            const p = percents[i] as number;
            const level = levels[i] as keyof typeof t | 'normal';
            // At or above a threshold, the level is at least that one.
            for (const [name, threshold] of Object.entries(t)) {
              if (p >= threshold) expect(order.indexOf(level)).toBeGreaterThanOrEqual(order.indexOf(name));
            }
            // A level is held only while the reading stays within 10 points below its threshold.
            if (level !== 'normal') expect(p).toBeGreaterThanOrEqual(t[level] - 10 - 1e-9);
            // Falling happens only when the reading left the band of the previous level.
            const previous = (levels[i - 1] ?? 'normal') as keyof typeof t | 'normal';
            if (order.indexOf(level) < order.indexOf(previous) && previous !== 'normal') {
              expect(p).toBeLessThan(t[previous] - 10 + 1e-9);
            }
          }
        },
      ),
    );
  });

  it('polls every intervalMs once started, on the injected clock, and stops', () => {
    const clock = new ManualClock();
    let reads = 0;
    const monitor = new MemoryMonitor({
      limitBytes: LIMIT,
      intervalMs: 5_000,
      clock,
      source: () => {
        reads++;
        return usage(100);
      },
    });
    expect(reads).toBe(0);
    expect(monitor.start()).toBe(monitor);
    monitor.start();
    expect(reads).toBe(1);
    clock.advance(4_999);
    expect(reads).toBe(1);
    clock.advance(1);
    clock.advance(10_000);
    expect(reads).toBe(4);
    monitor.configure({ intervalMs: 1_000 });
    clock.advance(5_000); // the pending 5 s timer, then 1 s ones
    expect(reads).toBe(5);
    clock.advance(1_000);
    expect(reads).toBe(6);
    monitor.stop();
    clock.advance(60_000);
    expect(reads).toBe(6);
    expect(clock.pendingTimers).toBe(0);
  });

  it('logs and skips a reading that throws, and keeps polling', async () => {
    const clock = new ManualClock();
    const logger = new RecordingLogger();
    let fail = true;
    await using monitor = new MemoryMonitor({
      limitBytes: LIMIT,
      clock,
      logger,
      source: () => {
        if (fail) throw new Error('no reading');
        return usage(100);
      },
    }).start();
    expect(logger.at('error')[0]?.msg).toMatch(/reading failed/);
    fail = false;
    clock.advance(5_000);
    expect(monitor.lastSnapshot?.rss).toBe(100);
  });

  it('changes thresholds and hysteresis live, and refuses invalid settings without changing anything', () => {
    const monitor = new MemoryMonitor({ limitBytes: LIMIT, source: scripted([75, 75]) });
    monitor.sample();
    expect(monitor.level).toBe('warning');
    monitor.configure({ thresholds: { warning: 0.8 }, hysteresis: 0 });
    monitor.sample();
    expect(monitor.level).toBe('normal');
    expect(() => monitor.configure({ thresholds: { critical: 0.5 } })).toThrow(
      /warning < critical < emergency/,
    );
    expect(() => monitor.configure({ hysteresis: 0.9 })).toThrow(/hysteresis/);
    expect(() => monitor.configure({ intervalMs: 0 })).toThrow(/intervalMs/);
    expect(monitor.thresholds).toEqual({ warning: 0.8, critical: 0.85, emergency: 0.95 });
    expect(monitor.hysteresis).toBe(0);
    for (const bad of [
      { limitBytes: 0 },
      { basis: 'vsz' },
      { thresholds: { warning: -1 } },
      { hysteresis: -0.1 },
    ]) {
      expect(() => new MemoryMonitor({ limitBytes: LIMIT, ...bad } as never)).toThrow(
        expect.objectContaining({ code: 'GOVERNANCE_OPTIONS_INVALID' }),
      );
    }
  });

  it('defaults to the detected limit and the real process.memoryUsage', () => {
    const monitor = new MemoryMonitor();
    expect(monitor.limit).toBe(detectMemoryLimit().bytes);
    expect(new MemoryMonitor({ limitBytes: 'auto' }).limit).toBe(monitor.limit);
    const snapshot = monitor.sample();
    expect(snapshot.rss).toBeGreaterThan(0);
    expect(snapshot.fractionOfLimit).toBeCloseTo(snapshot.rss / monitor.limit, 10);
  });
});

describe('detectMemoryLimit', () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });

  /** Builds a fake /sys/fs/cgroup and /proc/self/cgroup from inline files. */
  function fakeSystem(files: Record<string, string>, procSelfCgroup: string) {
    const dir = mkdtempSync(join(tmpdir(), 'ordo-cgroup-'));
    dirs.push(dir);
    for (const [path, text] of Object.entries(files)) {
      mkdirSync(dirname(join(dir, 'cgroup', path)), { recursive: true });
      writeFileSync(join(dir, 'cgroup', path), text);
    }
    writeFileSync(join(dir, 'self-cgroup'), procSelfCgroup);
    return {
      cgroupRoot: join(dir, 'cgroup'),
      procSelfCgroup: join(dir, 'self-cgroup'),
      totalMemory: 8_000_000_000,
    };
  }

  it('reads cgroup v2 memory.max of its own cgroup', () => {
    const system = fakeSystem({ 'app/memory.max': '536870912\n', 'memory.max': 'max\n' }, '0::/app\n');
    expect(detectMemoryLimit(system)).toEqual({
      bytes: 536870912,
      source: 'cgroup-v2',
      file: join(system.cgroupRoot, 'app/memory.max'),
    });
  });

  it("takes a parent's smaller v2 limit, and treats 'max' as no limit", () => {
    const system = fakeSystem({ 'a/b/memory.max': 'max\n', 'a/memory.max': '1073741824\n' }, '0::/a/b\n');
    expect(detectMemoryLimit(system)).toMatchObject({ bytes: 1073741824, source: 'cgroup-v2' });
  });

  it('reads a v2 namespaced root (a container sees its cgroup at the mount root)', () => {
    const system = fakeSystem({ 'memory.max': '268435456' }, '0::/\n');
    expect(detectMemoryLimit(system)).toMatchObject({ bytes: 268435456, source: 'cgroup-v2' });
  });

  it('reads cgroup v1 memory.limit_in_bytes, ignoring the unlimited sentinel', () => {
    const system = fakeSystem(
      {
        'memory/docker/abc/memory.limit_in_bytes': '2147483648\n',
        'memory/memory.limit_in_bytes': '9223372036854771712\n',
      },
      '12:cpu,cpuacct:/docker/abc\n4:memory:/docker/abc\n0::/\n',
    );
    expect(detectMemoryLimit(system)).toMatchObject({ bytes: 2147483648, source: 'cgroup-v1' });
  });

  it('falls back to total memory when no limit is set or nothing is readable', () => {
    const unlimited = fakeSystem({ 'memory/memory.limit_in_bytes': '9223372036854771712' }, '4:memory:/\n');
    expect(detectMemoryLimit(unlimited)).toEqual({ bytes: 8_000_000_000, source: 'total-memory' });
    const above = fakeSystem({ 'memory.max': '99000000000' }, '0::/\n');
    expect(detectMemoryLimit(above)).toEqual({ bytes: 8_000_000_000, source: 'total-memory' });
    expect(
      detectMemoryLimit({ cgroupRoot: '/nonexistent', procSelfCgroup: '/nonexistent', totalMemory: 42 }),
    ).toEqual({ bytes: 42, source: 'total-memory' });
  });

  it('answers on this machine', () => {
    const limit = detectMemoryLimit();
    expect(limit.bytes).toBeGreaterThan(0);
    expect(['cgroup-v2', 'cgroup-v1', 'total-memory']).toContain(limit.source);
  });
});
