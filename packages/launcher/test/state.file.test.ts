import { copyFile, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isOrdoError } from '@ordo/contracts';
import { ManualClock, RecordingLogger } from '@ordo/contracts/testing';
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  checkState,
  type LauncherState,
  MetricsCollector,
  parseState,
  readStateFile,
  STATE_SCHEMA_VERSION,
  StateStore,
} from '../src/index.js';
import { at, doneTask, level, midRunState, state, T0, worker } from './fixtures/states.js';

const fixture = (name: string) => new URL(`./fixtures/${name}`, import.meta.url).pathname;

let dir: string;
let file: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ordo-state-file-'));
  file = join(dir, 'state.json');
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const text = (s: unknown) => `${JSON.stringify(s)}\n`;

async function caught(
  fn: () => unknown,
): Promise<Error & { code?: string; details?: Record<string, unknown> }> {
  try {
    await fn();
  } catch (error) {
    return error as never;
  }
  return expect.unreachable('it did not throw');
}

describe('state validation', () => {
  it('accepts a valid state and returns it as it is', () => {
    const s = midRunState();
    expect(parseState(text(s), file)).toEqual(s);
  });

  it.each([
    ['', /the file is empty/],
    ['{"schemaVersion": 1, "revis', /not valid JSON/],
    ['[1, 2]', /the document is not a JSON object/],
    [text({ ...state(), schemaVersion: 'one' }), /schemaVersion must be an integer >= 0, got "one"/],
    [text({ ...state(), workers: undefined }), /\/ must have required property 'workers'/],
    [text({ ...state(), tasks: [{ taskId: 't' }] }), /\/tasks\/0 must have required property 'level'/],
    [
      text({ ...state(), workers: [worker('w', { startedAt: '2025-01-01' })] }),
      /\/workers\/0\/startedAt must match pattern/,
    ],
    [
      text({ ...state(), workers: [worker('w', { tasksFailed: -1 })] }),
      /\/workers\/0\/tasksFailed must be >= 0/,
    ],
    [text({ ...state(), levels: [level(0), level(0)] }), /duplicate level "0"/],
    [
      text({ ...state(), tasks: [doneTask('t', 0, 'w', 1), doneTask('t', 1, 'w', 1)] }),
      /duplicate taskId "t"/,
    ],
    [text({ ...state(), extra: true }), /must NOT have additional properties/],
  ])('reports STATE_CORRUPT with the path and what is wrong (%#)', async (content, problem) => {
    const error = await caught(() => parseState(content, file));
    expect(isOrdoError(error, 'STATE_CORRUPT')).toBe(true);
    expect(error.message).toContain(file);
    expect(error.message).toMatch(problem);
    expect(error.details?.path).toBe(file);
    expect((error.details?.problems as string[]).join('; ')).toMatch(problem);
  });

  it('refuses a newer schema version with STATE_VERSION_UNSUPPORTED', async () => {
    const error = await caught(() => parseState(text({ ...state(), schemaVersion: 2 }), file));
    expect(isOrdoError(error, 'STATE_VERSION_UNSUPPORTED')).toBe(true);
    expect(error.message).toMatch(/schema version 2.*up to 1\. Upgrade @ordo\/launcher/);
    expect(error.details).toEqual({ path: file, found: 2, supported: STATE_SCHEMA_VERSION });
  });

  it('ships state.schema.json in the package and validates every state a store produces (property)', async () => {
    const pkg = createRequire(import.meta.url)('../package.json') as {
      files: string[];
      exports: Record<string, unknown>;
      publishConfig: { exports: Record<string, unknown> };
    };
    expect(pkg.files).toContain('state.schema.json');
    expect(pkg.exports['./state.schema.json']).toBe('./state.schema.json');
    expect(pkg.publishConfig.exports['./state.schema.json']).toBe('./state.schema.json');

    const op = fc.oneof(
      fc.record({ kind: fc.constant('worker' as const), id: fc.nat(3) }),
      fc.record({ kind: fc.constantFrom('ready', 'exit' as const), id: fc.nat(3) }),
      fc.record({
        kind: fc.constant('level' as const),
        n: fc.nat(2),
        tasks: fc.array(fc.nat(9), { maxLength: 3 }),
      }),
      fc.record({ kind: fc.constantFrom('levelDone', 'levelCancelled' as const), n: fc.nat(2) }),
      fc.record({
        kind: fc.constantFrom('claim', 'start', 'complete', 'fail' as const),
        task: fc.nat(9),
        id: fc.nat(3),
      }),
      fc.record({ kind: fc.constant('tick' as const), ms: fc.nat(5_000) }),
    );
    let run = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(op, { maxLength: 40 }), async (ops) => {
        const clock = new ManualClock(T0);
        const store = await StateStore.open({
          file: join(dir, `run-${run++}.json`),
          clock,
          writeDelayMs: 3_600_000,
        });
        const collector = new MetricsCollector(store);
        for (const o of ops) {
          try {
            if (o.kind === 'worker') store.recordWorkerStarted(`w${o.id}`);
            else if (o.kind === 'ready') store.recordWorkerReady(`w${o.id}`);
            else if (o.kind === 'exit') store.recordWorkerExited(`w${o.id}`, 0);
            else if (o.kind === 'level')
              store.recordLevelStarted(
                o.n,
                o.tasks.map((t) => `t${t}`),
              );
            else if (o.kind === 'levelDone') store.recordLevelCompleted(o.n).catch(() => {});
            else if (o.kind === 'levelCancelled') store.recordLevelCancelled(o.n).catch(() => {});
            else if (o.kind === 'claim') store.recordTaskClaimed(`t${o.task}`, `w${o.id}`);
            else if (o.kind === 'start') store.recordTaskStarted(`t${o.task}`);
            else if (o.kind === 'complete') store.recordTaskCompleted(`t${o.task}`);
            else if (o.kind === 'fail') store.recordTaskFailed(`t${o.task}`, { error: 'boom' });
            else if (o.kind === 'tick') clock.advance(o.ms);
          } catch (error) {
            if (!isOrdoError(error, 'STATE_UNKNOWN_ENTITY')) throw error;
          }
        }
        const roundTripped = checkState(JSON.parse(JSON.stringify(store.state)), file);
        expect(roundTripped).toEqual(store.state);
        collector.featureMetrics(); // every recorded state has computable metrics
        await collector.close();
        await store.close(); // also waits for the writes of completed levels
      }),
      { numRuns: 60 },
    );
  });
});

describe('recovery from the backup', () => {
  const good = () => state({ revision: 7, workers: [worker('w1', { startedAt: at(0) })] });

  it('loads the backup when the file is truncated, says what was wrong, and repairs the file', async () => {
    const full = text(good());
    await writeFile(`${file}.bak`, full);
    await writeFile(file, full.slice(0, full.length / 2)); // torn write by something else
    const logger = new RecordingLogger();
    const store = await StateStore.open({ file, logger, writeDelayMs: 0 });

    expect(store.state.workers.map((w) => w.workerId)).toEqual(['w1']);
    expect(store.revision).toBe(7);
    expect(isOrdoError(store.recovered, 'STATE_CORRUPT')).toBe(true);
    expect(store.recovered?.message).toMatch(new RegExp(`${file} is corrupt: not valid JSON`));
    expect(logger.at('warn')[0]?.msg).toBe('state file corrupt; recovered from backup');

    await store.flush();
    expect(parseState(await readFile(file, 'utf8'), file)).toEqual(good());
    // The corrupt file was never made the backup.
    expect(parseState(await readFile(`${file}.bak`, 'utf8'), file)).toEqual(good());
    await store.close();
  });

  it('loads the backup when the file is missing but a backup exists', async () => {
    await writeFile(`${file}.bak`, text(good()));
    const { state: loaded, source, recovered } = await readStateFile(file);
    expect(source).toBe('backup');
    expect(loaded?.revision).toBe(7);
    expect(recovered?.message).toMatch(/missing, but a backup exists/);
  });

  it('throws STATE_CORRUPT when recovery is off, or the backup is missing or corrupt too', async () => {
    await writeFile(file, '{"schemaVersion": 1');
    const off = await caught(() => StateStore.open({ file, recover: false }));
    expect(isOrdoError(off, 'STATE_CORRUPT')).toBe(true);
    expect(off.details?.path).toBe(file);

    const noBackup = await caught(() => StateStore.open({ file }));
    expect(isOrdoError(noBackup, 'STATE_CORRUPT')).toBe(true);

    await writeFile(`${file}.bak`, text({ ...good(), revision: -1 }));
    const both = await caught(() => StateStore.open({ file }));
    expect(isOrdoError(both, 'STATE_CORRUPT')).toBe(true);
    expect(both.details?.problems).toEqual([
      expect.stringMatching(/not valid JSON/),
      expect.stringMatching(/^backup: .*\/revision must be >= 0/),
    ]);
    expect(await readFile(file, 'utf8')).toBe('{"schemaVersion": 1'); // nothing was overwritten
  });

  it('never recovers from a newer schema version: the file is refused and left untouched', async () => {
    const newer = text({ ...good(), schemaVersion: 9 });
    await writeFile(file, newer);
    await writeFile(`${file}.bak`, text(good()));
    const error = await caught(() => StateStore.open({ file }));
    expect(isOrdoError(error, 'STATE_VERSION_UNSUPPORTED')).toBe(true);
    expect(await readFile(file, 'utf8')).toBe(newer);
  });

  it('reads nothing when neither file exists', async () => {
    expect(await readStateFile(file)).toEqual({ state: undefined, source: 'none', recovered: undefined });
  });

  it('removes temp files left by dead writers on open', async () => {
    await writeFile(`${file}.999999999.1.tmp`, 'half a wri');
    await writeFile(`${file}.bak.999999999.2.tmp`, '');
    await writeFile(`${file}.${process.pid}.77.tmp`, 'mine, alive');
    // pid 0 addresses the process group (kill(0, 0) succeeds): never a live writer.
    await writeFile(`${file}.0.3.tmp`, 'forged');
    await (await StateStore.open({ file })).close();
    const present = async (p: string) =>
      stat(p).then(
        () => true,
        () => false,
      );
    expect(await present(`${file}.999999999.1.tmp`)).toBe(false);
    expect(await present(`${file}.bak.999999999.2.tmp`)).toBe(false);
    expect(await present(`${file}.${process.pid}.77.tmp`)).toBe(true);
    expect(await present(`${file}.0.3.tmp`)).toBe(false);
  });
});

describe('migration', () => {
  it('migrates a version-0 file and rewrites it as the current version on the next write', async () => {
    await copyFile(fixture('state-v0.json'), file);
    const original = await readFile(file, 'utf8');
    const store = await StateStore.open({ file, clock: new ManualClock(Date.parse('2025-01-01T00:03:00Z')) });
    const s = store.state;
    expect(s.schemaVersion).toBe(1);
    expect(s.feature).toEqual({ name: 'checkout', startedAt: at(0), completedAt: null });
    expect(s.updatedAt).toBe(at(180));
    expect(s.workers).toEqual([
      worker('w1', {
        startedAt: at(0),
        readyAt: at(1.5),
        lastTaskCompletedAt: at(60),
        tasksCompleted: 2,
        tasksFailed: 1,
        taskMs: 50_000,
      }),
      worker('w2', { startedAt: at(5), exitedAt: at(10), exitCode: 137 }),
    ]);
    expect(
      s.tasks.map((t) => [t.taskId, t.level, t.workerId, t.attempts, t.durationMs, t.verificationMs]),
    ).toEqual([
      ['build', 0, 'w1', 1, 20_000, 800],
      ['test', 1, 'w1', 2, 30_000, null],
      ['deploy', 2, null, 0, null, null],
    ]);
    expect(s.tasks[0]).toMatchObject({
      createdAt: at(0),
      claimedAt: at(2),
      startedAt: at(3),
      completedAt: at(23),
    });
    expect(s.levels).toEqual([
      level(0, { startedAt: at(0), completedAt: at(24) }),
      level(1, { startedAt: at(24), completedAt: at(60) }),
    ]);

    const metrics = new MetricsCollector(store).featureMetrics();
    expect(metrics).toMatchObject({ totalTasks: 3, completedTasks: 2, levelsCompleted: 2, totalLevels: 3 });
    expect(metrics.workers[0]?.initializationMs).toBe(1_500);

    store.recordTaskClaimed('deploy', 'w1');
    await store.close();
    const rewritten = JSON.parse(await readFile(file, 'utf8')) as LauncherState;
    expect(rewritten.schemaVersion).toBe(1);
    expect(checkState(rewritten, file).tasks[2]?.attempts).toBe(1);
    expect(await readFile(`${file}.bak`, 'utf8')).toBe(original); // the version-0 original is kept
  });

  it('reports a version-0 file it cannot read as STATE_CORRUPT', async () => {
    const error = await caught(() =>
      parseState(text({ feature: 'x', workers: { w1: { started: 'noon' } }, levels: {} }), file),
    );
    expect(isOrdoError(error, 'STATE_CORRUPT')).toBe(true);
    expect(error.details?.problems).toEqual([
      'version 0 levels must be an array',
      'version 0 workers.w1.started must be epoch ms or null, got "noon"',
    ]);
  });
});
