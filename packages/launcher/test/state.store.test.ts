import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isOrdoError } from '@ordo/contracts';
import { ManualClock, RecordingLogger } from '@ordo/contracts/testing';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type LauncherState, parseState, StateStore, type StateStoreOptions } from '../src/index.js';
import { T0 } from './fixtures/states.js';

let dir: string;
let file: string;
const opened: StateStore[] = [];
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ordo-state-'));
  file = join(dir, 'nested', 'state.json');
});
afterEach(async () => {
  await Promise.allSettled(opened.splice(0).map((store) => store.close())); // no write outlives its test
  await rm(dir, { recursive: true, force: true });
});

const readState = async (path = file): Promise<LauncherState> =>
  parseState(await readFile(path, 'utf8'), path);
const exists = (path: string) =>
  stat(path).then(
    () => true,
    () => false,
  );
const flushMicrotasks = async () => {
  for (let i = 0; i < 20; i++) await Promise.resolve();
};

async function openStore(options: Partial<StateStoreOptions> = {}) {
  const clock = new ManualClock(T0);
  const store = await StateStore.open({ file, clock, writeDelayMs: 100, ...options });
  opened.push(store);
  const written: number[] = [];
  store.on('written', (revision) => written.push(revision));
  return { store, clock, written };
}

const expectCode = async (fn: () => unknown, code: string, message?: RegExp) => {
  let thrown: unknown;
  try {
    await fn();
  } catch (error) {
    thrown = error;
  }
  expect(isOrdoError(thrown, code), String(thrown)).toBe(true);
  if (message) expect((thrown as Error).message).toMatch(message);
};

describe('StateStore records', () => {
  it('records timestamps of workers, tasks and levels from the clock', async () => {
    const { store, clock } = await openStore();
    await using _ = store;
    store.recordWorkerStarted('w1');
    clock.advance(1_500);
    store.recordWorkerReady('w1');
    store.recordLevelStarted(0, ['t1']);
    clock.advance(500);
    store.recordTaskClaimed('t1', 'w1');
    clock.advance(500);
    store.recordTaskStarted('t1');
    clock.advance(3_000);
    store.recordTaskCompleted('t1', { verificationMs: 250 });
    await store.recordLevelCompleted(0);
    clock.advance(1_000);
    store.recordWorkerExited('w1', 0);

    const iso = (ms: number) => new Date(T0 + ms).toISOString();
    expect(store.state.workers).toEqual([
      {
        workerId: 'w1',
        startedAt: iso(0),
        readyAt: iso(1_500),
        lastTaskCompletedAt: iso(5_500),
        exitedAt: iso(6_500),
        exitCode: 0,
        tasksCompleted: 1,
        tasksFailed: 0,
        taskMs: 3_000,
      },
    ]);
    expect(store.state.tasks).toEqual([
      {
        taskId: 't1',
        level: 0,
        createdAt: iso(1_500),
        claimedAt: iso(2_000),
        workerId: 'w1',
        startedAt: iso(2_500),
        completedAt: iso(5_500),
        failedAt: null,
        durationMs: 3_000,
        verificationMs: 250,
        attempts: 1,
        error: null,
      },
    ]);
    expect(store.state.levels).toEqual([{ level: 0, startedAt: iso(1_500), completedAt: iso(5_500) }]);
    expect(store.state.feature).toEqual({ name: 'feature', startedAt: iso(0), completedAt: iso(5_500) });
    expect(store.revision).toBe(8);
  });

  it('counts attempts: a failed task can be claimed again, and each worker keeps its own counts', async () => {
    const { store, clock } = await openStore({ feature: 'retry' });
    store.recordWorkerStarted('w1');
    store.recordWorkerStarted('w2');
    store.recordTaskCreated('t', 3);
    store.recordTaskClaimed('t', 'w1');
    store.recordTaskStarted('t');
    clock.advance(2_000);
    store.recordTaskFailed('t', { error: new Error('exit code 1') });
    expect(store.state.tasks[0]).toMatchObject({
      failedAt: expect.any(String),
      error: 'exit code 1',
      durationMs: 2_000,
    });
    store.recordTaskClaimed('t', 'w2');
    expect(store.state.tasks[0]).toMatchObject({
      attempts: 2,
      workerId: 'w2',
      failedAt: null,
      startedAt: null,
    });
    clock.advance(1_000);
    store.recordTaskCompleted('t', { durationMs: 750 });
    expect(store.state.tasks[0]).toMatchObject({ durationMs: 750, error: null, level: 3 });
    expect(store.state.workers.map((w) => [w.tasksCompleted, w.tasksFailed, w.taskMs])).toEqual([
      [0, 1, 0],
      [1, 0, 750],
    ]);
    expect(store.state.feature).toMatchObject({ name: 'retry', startedAt: new Date(T0).toISOString() });
  });

  it('refuses unknown workers, tasks and levels and bad values, changing nothing', async () => {
    const { store } = await openStore();
    store.recordWorkerStarted('w1');
    const before = store.revision;
    await expectCode(() => store.recordWorkerReady('ghost'), 'STATE_UNKNOWN_ENTITY', /recordWorkerStarted/);
    await expectCode(
      () => store.recordTaskClaimed('ghost', 'w1'),
      'STATE_UNKNOWN_ENTITY',
      /recordTaskCreated/,
    );
    store.recordTaskCreated('t', 0);
    await expectCode(() => store.recordTaskClaimed('t', 'ghost'), 'STATE_UNKNOWN_ENTITY', /worker "ghost"/);
    await expectCode(() => store.recordLevelCompleted(4), 'STATE_UNKNOWN_ENTITY', /recordLevelStarted/);
    await expectCode(() => store.recordLevelStarted(-1), 'STATE_UNKNOWN_ENTITY', /integers >= 0/);
    await expectCode(() => store.recordTaskCreated('', 0), 'STATE_UNKNOWN_ENTITY', /non-empty/);
    await expectCode(() => store.recordWorkerStarted(''), 'STATE_UNKNOWN_ENTITY', /non-empty/);
    // Values the schema would refuse on the next load are refused now.
    await expectCode(
      () => store.recordTaskCompleted('t', { durationMs: -1 }),
      'METRICS_INPUT_INVALID',
      /durationMs/,
    );
    await expectCode(() => store.recordTaskFailed('t', { durationMs: Number.NaN }), 'METRICS_INPUT_INVALID');
    await expectCode(
      () => store.recordTaskCompleted('t', { verificationMs: Infinity }),
      'METRICS_INPUT_INVALID',
    );
    await expectCode(() => store.recordWorkerExited('w1', 1.5), 'METRICS_INPUT_INVALID', /integer or null/);
    expect(store.revision).toBe(before + 1);
    expect(store.state.tasks[0]).toMatchObject({ attempts: 0, workerId: null });
  });
});

describe('StateStore writes', () => {
  it('creates nothing until a change, then writes a valid file with its directory', async () => {
    const { store, clock, written } = await openStore();
    expect(await exists(file)).toBe(false);
    store.recordWorkerStarted('w1');
    expect(await exists(file)).toBe(false);
    await clock.advanceAsync(100);
    await store.flush();
    expect(written).toEqual([1]);
    expect(await readState()).toEqual(store.state);
  });

  it('coalesces a burst of changes into one write after writeDelayMs', async () => {
    const { store, clock, written } = await openStore();
    store.recordLevelStarted(0);
    for (let i = 0; i < 50; i++) store.recordTaskCreated(`t${i}`, 0);
    clock.advance(99);
    await flushMicrotasks();
    expect(written).toEqual([]);
    clock.advance(1);
    await store.flush();
    expect(written).toEqual([51]);
    expect((await readState()).tasks).toHaveLength(50);
  });

  it('keeps at most one write in flight and writes the latest state after it', async () => {
    const { store, written } = await openStore({ writeDelayMs: 0 });
    store.recordLevelStarted(0);
    await flushMicrotasks(); // the first write has started and waits on the disk
    for (let i = 0; i < 100; i++) store.recordTaskCreated(`t${i}`, 0);
    await store.flush();
    expect(written).toEqual([1, 101]);
    expect((await readState()).revision).toBe(101);
  });

  it('writes at once when a level completes, without waiting for the delay', async () => {
    const { store, written } = await openStore({ writeDelayMs: 3_600_000 });
    store.recordLevelStarted(0, ['a']);
    expect(await exists(file)).toBe(false);
    await store.recordLevelCompleted(0);
    expect(written).toEqual([2]);
    expect((await readState()).levels[0]?.completedAt).not.toBeNull();
  });

  it('writes a level completion even when a levelCompleted listener throws', async () => {
    const { store } = await openStore({ writeDelayMs: 3_600_000 });
    const boom = new Error('listener failed');
    store.on('levelCompleted', () => {
      throw boom;
    });
    store.recordLevelStarted(0);
    await expect(store.recordLevelCompleted(0)).rejects.toBe(boom);
    expect((await readState()).levels[0]?.completedAt).not.toBeNull();
  });

  it('flushes on close, then refuses records with STATE_CLOSED', async () => {
    const { store } = await openStore({ writeDelayMs: 3_600_000 });
    store.recordWorkerStarted('w1');
    await store.close();
    await store.close(); // idempotent
    expect((await readState()).workers).toHaveLength(1);
    await expectCode(() => store.recordWorkerReady('w1'), 'STATE_CLOSED', /StateStore.open/);
    await expectCode(() => store.recordLevelCompleted(0), 'STATE_CLOSED');
  });

  it('keeps the previous file as the backup', async () => {
    const { store } = await openStore();
    store.recordWorkerStarted('w1');
    await store.flush();
    store.recordWorkerStarted('w2');
    await store.flush();
    expect((await readState(`${file}.bak`)).workers.map((w) => w.workerId)).toEqual(['w1']);
    expect((await readState()).workers.map((w) => w.workerId)).toEqual(['w1', 'w2']);
  });

  it('survives reopening: the state and its revision carry on', async () => {
    const first = await openStore({ feature: 'f' });
    first.store.recordLevelStarted(0, ['t1', 't2']);
    await first.store.close();
    const { store } = await openStore({ feature: 'ignored' });
    expect(store.state.feature.name).toBe('f');
    expect(store.revision).toBe(1);
    store.recordTaskCreated('t3', 0);
    expect(store.revision).toBe(2);
    expect(store.state.tasks.map((t) => t.taskId)).toEqual(['t1', 't2', 't3']);
  });

  it('reports a failed write as STATE_WRITE_FAILED, keeps the state, and retries on the next flush', async () => {
    const logger = new RecordingLogger();
    const { store, clock } = await openStore({ logger });
    const errors: unknown[] = [];
    store.on('writeError', (error) => errors.push(error));
    const parent = join(dir, 'nested');
    await rm(parent, { recursive: true, force: true });
    await writeFile(parent, 'not a directory');
    store.recordWorkerStarted('w1');
    await clock.advanceAsync(100);
    await expectCode(() => store.flush(), 'STATE_WRITE_FAILED', /Could not write the state file/);
    expect(errors.length).toBeGreaterThanOrEqual(1);
    expect(isOrdoError(errors[0], 'STATE_WRITE_FAILED')).toBe(true);
    expect(logger.at('error')[0]?.msg).toBe('state write failed');
    await rm(parent);
    await mkdir(parent);
    await store.flush();
    expect((await readState()).workers).toHaveLength(1);
  });

  it('flush and recordLevelCompleted take an AbortSignal', async () => {
    const { store } = await openStore();
    store.recordLevelStarted(0);
    const reason = new Error('stop');
    await expect(store.flush(AbortSignal.abort(reason))).rejects.toBe(reason);
    await expect(store.recordLevelCompleted(0, AbortSignal.abort(reason))).rejects.toBe(reason);
    await expect(StateStore.open({ file }, AbortSignal.abort(reason))).rejects.toBe(reason);
    await store.flush();
  });
});
