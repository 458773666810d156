import { join } from 'node:path';
import { ManualClock } from '@ordo/contracts/testing';
import { FeatureMetrics, MetricsCollector, StateStore } from '@ordo/launcher';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CLEAR_DOWN, cursorUp, LiveStatusView } from '../src/cli/liveStatusView.js';
import { tempDir } from './support/memoryIo.js';

/** A real state store and collector the view reads from, and the frames it wrote. */
async function setup() {
  const dir = await tempDir();
  const clock = new ManualClock(Date.parse('2026-03-01T10:00:00Z'));
  const store = await StateStore.open({
    file: join(dir.path, 'state.json'),
    clock,
    feature: 'demo',
    writeDelayMs: 0,
  });
  const collector = new MetricsCollector(store, { clock });
  const writes: string[] = [];
  let metrics: FeatureMetrics | undefined;
  const view = new LiveStatusView({
    out: { write: (chunk: string) => writes.push(chunk) },
    source: () => metrics,
    clock,
    intervalMs: 100,
    tickMs: 1000,
  });
  store.recordLevelStarted(0, ['a', 'b', 'c']);
  store.recordWorkerStarted('w1');
  store.recordWorkerReady('w1');
  const refresh = () => {
    metrics = collector.featureMetrics();
  };
  return {
    clock,
    store,
    view,
    writes,
    refresh,
    complete(id: string) {
      store.recordTaskClaimed(id, 'w1');
      store.recordTaskStarted(id);
      clock.advance(10);
      store.recordTaskCompleted(id);
      refresh();
    },
    async [Symbol.asyncDispose]() {
      await collector.close();
      await store.close();
      await dir[Symbol.asyncDispose]();
    },
  };
}

const lineCount = (frame: string) => frame.split('\n').length - 1;

describe('LiveStatusView', () => {
  it('draws the first frame at once, then redraws over it with cursor up + clear', async () => {
    await using s = await setup();
    s.refresh();
    s.view.invalidate();
    expect(s.writes).toHaveLength(1);
    const first = s.writes[0] as string;
    expect(first).not.toContain('\u001b[');
    expect(first).toContain('0% (0/3 tasks)');

    s.clock.advance(100);
    s.complete('a');
    s.view.invalidate();
    expect(s.writes).toHaveLength(2);
    const second = s.writes[1] as string;
    expect(second.startsWith(`${cursorUp(lineCount(first))}${CLEAR_DOWN}`)).toBe(true);
    expect(second).toContain('33% (1/3 tasks)');
  });

  it('draws at most one frame per interval, with the latest metrics at its end', async () => {
    await using s = await setup();
    s.refresh();
    s.view.invalidate();
    s.complete('a');
    s.view.invalidate();
    s.complete('b');
    s.view.invalidate();
    expect(s.writes).toHaveLength(1);
    s.clock.advance(79); // 20 ms passed while completing a and b
    expect(s.writes).toHaveLength(1);
    s.clock.advance(1);
    expect(s.writes).toHaveLength(2);
    expect(s.writes[1]).toContain('66% (2/3 tasks)');
  });

  it('ticks once a second without changes, so elapsed times move', async () => {
    await using s = await setup();
    s.refresh();
    s.view.invalidate();
    expect(s.writes[0]).toContain('0ms elapsed');
    s.clock.advance(1000);
    expect(s.writes).toHaveLength(2);
    s.clock.advance(1000);
    expect(s.writes).toHaveLength(3);
    expect(s.writes[2]).toContain('2.0s elapsed');
  });

  it('finish draws the final frame with the counts and stops every timer', async () => {
    await using s = await setup();
    s.refresh();
    s.view.invalidate();
    for (const id of ['a', 'b', 'c']) s.complete(id);
    await s.store.recordLevelCompleted(0);
    s.refresh();
    s.view.finish();
    const last = s.writes.at(-1) as string;
    expect(last).toContain('100% (3/3 tasks)');
    expect(last).toContain('Total: 3/3 tasks done, 0 failed, 0 running, 0 pending');
    expect(s.clock.pendingTimers).toBe(0);
    s.view.invalidate();
    s.view.finish();
    s.clock.advance(5000);
    expect(s.writes.at(-1)).toBe(last);
  });

  it('writes nothing while the source has no metrics, then draws the first metrics at once', async () => {
    await using s = await setup();
    s.view.invalidate();
    s.clock.advance(3000);
    expect(s.writes).toEqual([]);
    s.refresh();
    s.view.invalidate();
    expect(s.writes).toHaveLength(1);
    expect(s.writes[0]).not.toContain('\u001b[');
  });
});

/** Feature metrics whose only moving part is `completedTasks`, the "version" a frame shows. */
function metricsAt(version: number): FeatureMetrics {
  return new FeatureMetrics({
    feature: 'p',
    generatedAt: 0,
    startedAt: 0,
    completedAt: null,
    durationMs: null,
    totalTasks: 1000,
    completedTasks: version,
    failedTasks: 0,
    runningTasks: 0,
    pendingTasks: 1000 - version,
    workersUsed: 0,
    levelsCompleted: 0,
    totalLevels: 1,
    totalTaskMs: 0,
    avgTaskMs: null,
    p50TaskMs: null,
    p95TaskMs: null,
    workers: [],
    tasks: [],
    levels: [],
  });
}

describe('LiveStatusView throttling (property)', () => {
  it('never draws two frames closer than the interval, and never loses the latest change', () => {
    const step = fc.record({ waitMs: fc.integer({ min: 0, max: 250 }), change: fc.boolean() });
    fc.assert(
      fc.property(
        fc.array(step, { maxLength: 40 }),
        fc.integer({ min: 1, max: 200 }),
        (steps, intervalMs) => {
          const clock = new ManualClock(0);
          let version = 0;
          const frames: { at: number; version: number }[] = [];
          const view = new LiveStatusView({
            out: { write: () => frames.push({ at: clock.now(), version }) },
            source: () => metricsAt(version),
            clock,
            intervalMs,
            tickMs: 1e9,
          });
          for (const { waitMs, change } of steps) {
            clock.advance(waitMs);
            if (change) {
              version++;
              view.invalidate();
            }
          }
          clock.advance(intervalMs);
          for (let i = 1; i < frames.length; i++) {
            expect(
              (frames[i] as { at: number }).at - (frames[i - 1] as { at: number }).at,
            ).toBeGreaterThanOrEqual(intervalMs);
          }
          expect(frames.length).toBeLessThanOrEqual(steps.filter((s) => s.change).length);
          if (version > 0) expect(frames.at(-1)?.version).toBe(version);
          view.finish();
          expect(clock.pendingTimers).toBe(0);
        },
      ),
    );
  });
});
