import { readdir, writeFile } from 'node:fs/promises';
import { isOrdoError } from '@ordo/contracts';
import { ManualClock, RecordingLogger } from '@ordo/contracts/testing';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { HeartbeatMonitor, HeartbeatWriter, heartbeatPath, writeHeartbeat } from '../src/index.js';
import { tempDir } from './helpers.js';

describe('writeHeartbeat', () => {
  it('writes worker-<id>.json atomically, leaving no temp file', async () => {
    await using dir = await tempDir();
    const clock = new ManualClock(1_000);
    const beat = await writeHeartbeat(dir.path, { workerId: 'w1', taskId: 't1', progress: 0.5 }, { clock });
    expect(beat).toEqual({ workerId: 'w1', ts: 1_000, taskId: 't1', progress: 0.5 });
    expect(await readdir(dir.path)).toEqual(['worker-w1.json']);
    expect(await new HeartbeatMonitor({ dir: dir.path }).read('w1')).toEqual(beat);
  });

  it('rejects a worker id that cannot be a file name', async () => {
    await using dir = await tempDir();
    const error = await writeHeartbeat(dir.path, { workerId: '../etc' }).catch((e: unknown) => e);
    expect(isOrdoError(error, 'LAUNCHER_INVALID_OPTIONS')).toBe(true);
  });

  it('a reader racing many writers only ever sees complete heartbeats', async () => {
    await using dir = await tempDir();
    const logger = new RecordingLogger();
    const monitor = new HeartbeatMonitor({ dir: dir.path, logger });
    const big = 'x'.repeat(64 * 1024); // large enough that a non-atomic write would be seen half-done
    let writing = true;
    const writers = (async () => {
      for (let i = 0; i < 100; i++) await writeHeartbeat(dir.path, { workerId: 'w1', ts: i, taskId: big });
      writing = false;
    })();
    const seen: number[] = [];
    while (writing) {
      const beat = await monitor.read('w1');
      if (beat) seen.push(beat.ts);
    }
    await writers;
    expect(logger.at('warn')).toEqual([]);
    expect(monitor.stats().corrupt).toBe(0);
    expect(seen).toEqual([...seen].sort((a, b) => a - b));
  });
});

describe('HeartbeatMonitor', () => {
  it('reads a file once per version: unchanged files come from the cache', async () => {
    await using dir = await tempDir();
    const monitor = new HeartbeatMonitor({ dir: dir.path });
    await writeHeartbeat(dir.path, { workerId: 'w1', ts: 5 });
    for (let i = 0; i < 5; i++) expect((await monitor.read('w1'))?.ts).toBe(5);
    expect(monitor.stats()).toMatchObject({ stats: 5, reads: 1, cacheHits: 4 });
    await writeHeartbeat(dir.path, { workerId: 'w1', ts: 6 });
    expect((await monitor.read('w1'))?.ts).toBe(6);
    expect(monitor.stats()).toMatchObject({ reads: 2, cacheHits: 4 });
  });

  it('counts a missing file as no heartbeat', async () => {
    await using dir = await tempDir();
    const monitor = new HeartbeatMonitor({ dir: dir.path });
    expect(await monitor.read('w1')).toBeUndefined();
    expect(await monitor.isStale('w1', 1_000)).toBe(true);
    expect(await monitor.age('w1')).toBeUndefined();
  });

  it.each([
    ['half-written JSON', '{"workerId":"w1","ts":12'],
    ['not an object', '42'],
    ['another worker', '{"workerId":"w2","ts":1}'],
    ['a ts that is not a number', '{"workerId":"w1","ts":"now"}'],
    ['a bad taskId', '{"workerId":"w1","ts":1,"taskId":7}'],
    ['a bad progress', '{"workerId":"w1","ts":1,"progress":"half"}'],
    ['empty', ''],
  ])('counts %s as no heartbeat, warns once per version, never throws', async (_name, text) => {
    await using dir = await tempDir();
    const logger = new RecordingLogger();
    const monitor = new HeartbeatMonitor({ dir: dir.path, logger });
    await writeFile(heartbeatPath(dir.path, 'w1'), text);
    expect(await monitor.read('w1')).toBeUndefined();
    expect(await monitor.read('w1')).toBeUndefined();
    expect(logger.at('warn')).toHaveLength(1);
    expect(logger.at('warn')[0]?.fields).toMatchObject({ workerId: 'w1' });
    expect(monitor.stats().corrupt).toBe(1);
  });

  it('judges staleness on its clock', async () => {
    await using dir = await tempDir();
    const clock = new ManualClock(10_000);
    const monitor = new HeartbeatMonitor({ dir: dir.path, clock });
    await writeHeartbeat(dir.path, { workerId: 'w1' }, { clock });
    clock.advance(1_000);
    expect(await monitor.age('w1')).toBe(1_000);
    expect(await monitor.isStale('w1', 1_000)).toBe(false);
    clock.advance(1);
    expect(await monitor.isStale('w1', 1_000)).toBe(true);
  });

  it('property: the last write wins and reads match it exactly', async () => {
    await using dir = await tempDir();
    const monitor = new HeartbeatMonitor({ dir: dir.path });
    const beat = fc.record(
      {
        ts: fc.integer({ min: 0, max: 2 ** 45 }),
        taskId: fc.string({ maxLength: 40 }),
        progress: fc.double({ noNaN: true, noDefaultInfinity: true }),
      },
      { requiredKeys: ['ts'] },
    );
    await fc.assert(
      fc.asyncProperty(fc.array(beat, { minLength: 1, maxLength: 5 }), async (beats) => {
        for (const b of beats) await writeHeartbeat(dir.path, { workerId: 'p', ...b });
        const last = beats.at(-1);
        expect(await monitor.read('p')).toEqual({ workerId: 'p', ...last, progress: norm(last?.progress) });
      }),
      { numRuns: 50 },
    );
  });
});

/** JSON turns -0 into 0. */
function norm(progress: number | undefined): number | undefined {
  return progress === undefined ? undefined : progress === 0 ? 0 : progress;
}

describe('HeartbeatWriter', () => {
  it('writes at once on start, then every interval on its clock, carrying the current task', async () => {
    await using dir = await tempDir();
    const clock = new ManualClock(0);
    const monitor = new HeartbeatMonitor({ dir: dir.path, clock });
    await using writer = new HeartbeatWriter({ dir: dir.path, workerId: 'w1', intervalMs: 1_000, clock });
    writer.start();
    await writer.beat({ taskId: 't1', progress: 0.25 });
    expect(await monitor.read('w1')).toEqual({ workerId: 'w1', ts: 0, taskId: 't1', progress: 0.25 });
    clock.advance(1_000);
    await writer.beat();
    expect(await monitor.read('w1')).toMatchObject({ ts: 1_000, taskId: 't1' });
    await writer.beat({});
    expect(await monitor.read('w1')).toEqual({ workerId: 'w1', ts: 1_000 });
    await writer.close();
    expect(clock.pendingTimers).toBe(0);
  });

  it('reads its id and dir from the environment the launchers set, and says what is missing', () => {
    const saved = { ...process.env };
    try {
      delete process.env.ORDO_HEARTBEAT_DIR;
      const error = (() => {
        try {
          return new HeartbeatWriter({ workerId: 'w1' });
        } catch (e) {
          return e;
        }
      })();
      expect(isOrdoError(error, 'LAUNCHER_INVALID_OPTIONS')).toBe(true);
      expect((error as Error).message).toMatch(/ORDO_HEARTBEAT_DIR/);
      process.env.ORDO_HEARTBEAT_DIR = '/tmp/hb';
      process.env.ORDO_WORKER_ID = 'w9';
      const writer = new HeartbeatWriter();
      expect([writer.dir, writer.workerId]).toEqual(['/tmp/hb', 'w9']);
    } finally {
      process.env = saved;
    }
  });
});
