import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { rename, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isOrdoError } from '@ordo/contracts';
import { RecordingLogger } from '@ordo/contracts/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import {
  type ConfigChange,
  ConfigInvalidError,
  createConfigWatcher,
  defaultConfig,
  isLiveConfigKey,
  loadConfig,
  MemoryMonitor,
  type OrdoConfig,
  watchConfig,
} from '../src/index.js';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** Writes `content` (an object, written as YAML, or raw text) to a fresh temp file. */
function configFile(content: object | string): string {
  const dir = mkdtempSync(join(tmpdir(), 'ordo-config-'));
  dirs.push(dir);
  const file = join(dir, 'ordo.yaml');
  writeFileSync(file, typeof content === 'string' ? content : stringify(content));
  return file;
}

async function invalid(promise: Promise<unknown>): Promise<ConfigInvalidError> {
  const error = await promise.catch((e: unknown) => e);
  expect(error).toBeInstanceOf(ConfigInvalidError);
  expect(isOrdoError(error, 'CONFIG_INVALID')).toBe(true);
  return error as ConfigInvalidError;
}

describe('loadConfig', () => {
  it('returns the defaults of the design with no file and no env', async () => {
    const config = await loadConfig({ env: {} });
    expect(config).toEqual(defaultConfig);
    expect(config.workers).toEqual({
      max: 2,
      heapMb: 512,
      rssWarningMb: 300,
      idleTimeoutMs: 300_000,
      maxRestartsPerHour: 10,
      stallTimeoutMs: 120_000,
    });
    expect(config.queue.maxDepth).toBe(5);
    expect(config.memory.thresholds).toEqual({ warning: 0.7, critical: 0.85, emergency: 0.95 });
    expect(config.memory.hysteresis).toBe(0.1);
    expect(config.breaker).toMatchObject({
      failureThreshold: 3,
      windowMs: 60_000,
      successThreshold: 2,
      backoff: { initialMs: 1_000, maxMs: 8_000 },
    });
    expect(config.admission.memoryThreshold).toBe(0.9);
    expect(config.launcher).toEqual({ pollIntervalMs: 15_000, monitorCooldownMs: 10_000 });
    expect(Object.isFrozen(config.memory.thresholds)).toBe(true);
  });

  it('merges the YAML file over the defaults, then env overrides over the file', async () => {
    const file = configFile({ workers: { max: 3, heapMb: 1024 }, memory: { thresholds: { warning: 0.6 } } });
    const config = await loadConfig({
      file,
      env: {
        ORDO_WORKERS__MAX: '4',
        ORDO_WORKERS__MAX_RESTARTS_PER_HOUR: '20',
        ORDO_LOG__LEVEL: 'debug',
        ORDO_MEMORY__LIMIT_BYTES: '1073741824',
        ORDO_REQUIRE_DOCKER: '1', // no "__": not config, ignored
        HOME: '/root',
      },
    });
    expect(config.workers).toMatchObject({ max: 4, heapMb: 1024, maxRestartsPerHour: 20 });
    expect(config.memory.thresholds.warning).toBe(0.6);
    expect(config.memory.limitBytes).toBe(1073741824);
    expect(config.log.level).toBe('debug');
  });

  it('honours a custom prefix', async () => {
    const config = await loadConfig({
      env: { APP_QUEUE__MAX_DEPTH: '9', ORDO_QUEUE__MAX_DEPTH: '7' },
      prefix: 'APP_',
    });
    expect(config.queue.maxDepth).toBe(9);
  });

  it('puts feature flags in config.flags, from FF_* variables and the file', async () => {
    const file = configFile({ flags: { workerPool: false } });
    expect((await loadConfig({ file, env: {} })).flags).toEqual({
      memoryGovernance: true,
      workerPool: false,
      circuitBreakers: true,
    });
    const config = await loadConfig({
      file,
      env: { FF_MEMORY_GOVERNANCE: 'off', FF_WORKER_POOL: 'true', FF_CIRCUIT_BREAKERS: 'false' },
    });
    expect(config.flags).toEqual({ memoryGovernance: false, workerPool: true, circuitBreakers: false });
  });

  it('turns a flag on only for the exact text true (FF_X === "true"); any other value turns it off', async () => {
    for (const raw of ['1', 'TRUE', ' true', 'yes', 'on', 'maybe', '', 'false', '0']) {
      const config = await loadConfig({ env: { FF_WORKER_POOL: raw, ORDO_FLAGS__CIRCUIT_BREAKERS: raw } });
      expect(config.flags, JSON.stringify(raw)).toEqual({
        memoryGovernance: true,
        workerPool: false,
        circuitBreakers: false,
      });
    }
    const on = await loadConfig({
      values: { flags: { workerPool: false } },
      env: { FF_WORKER_POOL: 'true' },
    });
    expect(on.flags.workerPool).toBe(true);
  });

  it('lists every bad key path with its value, source and what was expected', async () => {
    const file = configFile({
      workers: { max: 0, heapMb: 'big' },
      memory: { basis: 'vsz', limitBytes: -5 },
      log: { level: 'loud' },
    });
    const error = await invalid(loadConfig({ file, env: { ORDO_QUEUE__MAX_DEPTH: '2.5' } }));
    const byPath = Object.fromEntries(error.issues.map((i) => [i.path, i]));
    expect(Object.keys(byPath).sort()).toEqual([
      'log.level',
      'memory.basis',
      'memory.limitBytes',
      'queue.maxDepth',
      'workers.heapMb',
      'workers.max',
    ]);
    expect(byPath['workers.max']).toEqual({
      path: 'workers.max',
      value: 0,
      expected: 'expected number to be >=1',
      source: `${file}:2`, // the line it is written on
    });
    expect(byPath['workers.heapMb']).toMatchObject({
      value: 'big',
      expected: 'expected number, received string',
    });
    expect(byPath['queue.maxDepth']).toMatchObject({ value: 2.5, source: 'env ORDO_QUEUE__MAX_DEPTH' });
    expect(byPath['memory.limitBytes']?.expected).toBe('expected number to be >=1');
    const word = await invalid(loadConfig({ env: { ORDO_MEMORY__LIMIT_BYTES: 'lots' } }));
    expect(word.issues[0]?.expected).toBe(
      "expected 'auto' or a whole number of bytes from 1 to 1125899906842624 (1 PiB)",
    );
    expect(byPath['log.level']?.expected).toMatch(/"debug"\|"info"/);
    expect(error.message).toContain(`- workers.max = 0 (from ${file}:2): expected number to be >=1`);
    expect(error.message).toMatch(/^Configuration is invalid \(6 problems\)/);
    expect(error.toJSON()).toMatchObject({ code: 'CONFIG_INVALID', details: { issues: error.issues } });
  });

  it('rejects unknown keys with a "did you mean" hint, from the file and from env', async () => {
    const file = configFile({ workers: { maxx: 4 }, memroy: { hysteresis: 0.1 }, totally: { unrelated: 1 } });
    const error = await invalid(loadConfig({ file, env: { ORDO_BREAKER__FAILURE_TRESHOLD: '5' } }));
    expect(error.issues).toEqual([
      {
        path: 'workers.maxx',
        value: 4,
        expected:
          'a known key of workers (max, heapMb, rssWarningMb, idleTimeoutMs, maxRestartsPerHour, stallTimeoutMs)',
        source: `${file}:2`,
        hint: 'did you mean "workers.max"?',
      },
      expect.objectContaining({ path: 'memroy', hint: 'did you mean "memory"?', source: `${file}:3` }),
      expect.objectContaining({ path: 'totally', hint: undefined }),
      expect.objectContaining({
        path: 'breaker.failureTreshold',
        value: 5,
        source: 'env ORDO_BREAKER__FAILURE_TRESHOLD',
        hint: 'did you mean "breaker.failureThreshold"?',
      }),
    ]);
    expect(error.message).toContain('did you mean "workers.max"?');
  });

  it('validates a values object like a file, env overrides on top, undefined leaves skipped', async () => {
    const config = await loadConfig({
      values: { workers: { max: 3, heapMb: undefined } },
      env: { ORDO_QUEUE__MAX_DEPTH: '7' },
    });
    expect(config.workers.max).toBe(3);
    expect(config.workers.heapMb).toBe(defaultConfig.workers.heapMb);
    expect(config.queue.maxDepth).toBe(7);
    const error = await invalid(loadConfig({ values: { workers: { maxx: 4, max: -1 } }, env: {} }));
    expect(error.issues).toEqual([
      expect.objectContaining({
        path: 'workers.maxx',
        source: 'values',
        hint: 'did you mean "workers.max"?',
      }),
      expect.objectContaining({ path: 'workers.max', value: -1, source: 'values' }),
    ]);
    const both = await loadConfig({ file: configFile({}), values: {}, env: {} }).catch((e: unknown) => e);
    expect(isOrdoError(both, 'GOVERNANCE_OPTIONS_INVALID')).toBe(true);
  });

  it('checks relations between keys', async () => {
    const file = configFile({
      memory: { thresholds: { warning: 0.9, critical: 0.8 }, hysteresis: 0.95 },
      breaker: { backoff: { initialMs: 9000 } },
    });
    const error = await invalid(loadConfig({ file, env: {} }));
    expect(error.issues.map((i) => [i.path, i.expected])).toEqual([
      ['memory.thresholds', 'expected warning < critical < emergency'],
      ['memory.hysteresis', 'expected less than memory.thresholds.warning (0.9)'],
      ['breaker.backoff', 'expected initialMs <= maxMs'],
    ]);
    expect(error.issues[0]?.source).toBe(`${file}:3`);
  });

  it('rejects a section given as a value, a non-mapping document and bad YAML', async () => {
    const scalar = await invalid(loadConfig({ file: configFile({ workers: 4 }), env: {} }));
    expect(scalar.issues[0]).toMatchObject({
      path: 'workers',
      value: 4,
      expected: expect.stringMatching(/^a mapping/),
    });
    const list = await invalid(loadConfig({ file: configFile('- a\n- b\n'), env: {} }));
    expect(list.issues[0]).toMatchObject({ path: '', value: ['a', 'b'] });
    const broken = await invalid(loadConfig({ file: configFile('workers: {max: 2\n'), env: {} }));
    expect(broken.issues[0]?.expected).toMatch(/^valid YAML/);
    const empty = await loadConfig({ file: configFile(''), env: {} });
    expect(empty).toEqual(defaultConfig);
  });

  it('fails with CONFIG_UNREADABLE for a missing file, and honours abort', async () => {
    const error = await loadConfig({ file: '/nonexistent/ordo.yaml', env: {} }).catch((e: unknown) => e);
    expect(isOrdoError(error, 'CONFIG_UNREADABLE')).toBe(true);
    expect((error as Error).message).toMatch(/Cannot read configuration file \/nonexistent\/ordo.yaml/);
    await expect(loadConfig({ signal: AbortSignal.abort(new Error('stop')) })).rejects.toThrow('stop');
  });
});

describe('watchConfig', () => {
  const base = { workers: { max: 2 }, memory: { thresholds: { warning: 0.7 } }, log: { level: 'info' } };

  it('applies live keys and emits change', async () => {
    const file = configFile(base);
    await using watcher = await watchConfig({ file, env: {} });
    const changes: ConfigChange[] = [];
    watcher.on('change', (c) => changes.push(c));
    const monitor = new MemoryMonitor({ ...watcher.current.memory, limitBytes: 1000 });
    watcher.on('change', ({ config }) => monitor.configure(config.memory));
    writeFileSync(
      file,
      stringify({ ...base, memory: { thresholds: { warning: 0.6 } }, log: { level: 'debug' } }),
    );
    const outcome = await watcher.reload();
    expect(outcome).toEqual({ applied: ['memory.thresholds.warning', 'log.level'], refused: [] });
    expect(watcher.current.memory.thresholds.warning).toBe(0.6);
    expect(watcher.current.log.level).toBe('debug');
    expect(monitor.thresholds.warning).toBe(0.6);
    expect(changes[0]?.changed).toEqual(['memory.thresholds.warning', 'log.level']);
    expect(changes[0]?.previous.log.level).toBe('info');
    expect(Object.isFrozen(watcher.current.memory)).toBe(true);
    expect(await watcher.reload()).toEqual({ applied: [], refused: [] });
    expect(changes).toHaveLength(1);
  });

  it('createConfigWatcher starts from the config it is given and reloads the file by hand', async () => {
    const file = configFile(base);
    const initial = await loadConfig({ file, env: {} });
    await using watcher = createConfigWatcher({ file, initial, env: {} });
    expect(watcher.current).toBe(initial);
    writeFileSync(file, stringify({ ...base, log: { level: 'error' } }));
    // Not watching: the edit applies only when reload() is called.
    await new Promise((resolve) => setTimeout(resolve, 250));
    expect(watcher.current.log.level).toBe('info');
    expect(await watcher.reload()).toEqual({ applied: ['log.level'], refused: [] });
    expect(watcher.current.log.level).toBe('error');
  });

  it('refuses critical keys with a warning that a restart is needed, still applying live ones', async () => {
    const file = configFile(base);
    const logger = new RecordingLogger();
    await using watcher = await watchConfig({ file, env: {}, logger });
    const refused: string[][] = [];
    watcher.on('restartRequired', (keys) => refused.push(keys));
    writeFileSync(
      file,
      stringify({ ...base, workers: { max: 8 }, queue: { maxDepth: 50 }, log: { level: 'warn' } }),
    );
    expect(await watcher.reload()).toEqual({
      applied: ['log.level'],
      refused: ['workers.max', 'queue.maxDepth'],
    });
    expect(watcher.current.workers.max).toBe(2);
    expect(watcher.current.queue.maxDepth).toBe(5);
    expect(watcher.current.log.level).toBe('warn');
    expect(refused).toEqual([['workers.max', 'queue.maxDepth']]);
    expect(logger.at('warn')[0]?.msg).toBe(
      'restart needed to apply workers.max, queue.maxDepth; keeping their old values',
    );
  });

  it('keeps the last good configuration when an edit is invalid', async () => {
    const file = configFile(base);
    const logger = new RecordingLogger();
    await using watcher = await watchConfig({ file, env: {}, logger });
    const errors: unknown[] = [];
    watcher.on('invalid', (e) => errors.push(e));
    const before: OrdoConfig = watcher.current;
    writeFileSync(file, stringify({ ...base, memory: { thresholds: { warning: 'high' } } }));
    const outcome = await watcher.reload();
    expect(isOrdoError(outcome.error, 'CONFIG_INVALID')).toBe(true);
    expect(watcher.current).toBe(before);
    expect(errors).toHaveLength(1);
    expect(logger.at('warn')[0]).toMatchObject({ fields: { code: 'CONFIG_INVALID' } });
    rmSync(file);
    expect(isOrdoError((await watcher.reload()).error, 'CONFIG_UNREADABLE')).toBe(true);
    expect(watcher.current).toBe(before);
  });

  it('reloads by itself when the file is replaced on disk', async () => {
    const file = configFile(base);
    await using watcher = await watchConfig({ file, env: {}, debounceMs: 20 });
    const changed = new Promise<ConfigChange>((resolve) => watcher.once('change', resolve));
    const next = `${file}.tmp`;
    await writeFile(next, stringify({ ...base, memory: { thresholds: { warning: 0.65 } } }));
    await rename(next, file); // how editors save
    const change = await changed;
    expect(change.config.memory.thresholds.warning).toBe(0.65);
  });

  it('stops watching when its signal aborts', async () => {
    const file = configFile(base);
    const controller = new AbortController();
    const watcher = await watchConfig({ file, env: {}, signal: controller.signal });
    controller.abort();
    writeFileSync(file, stringify({ ...base, log: { level: 'debug' } }));
    expect(await watcher.reload()).toEqual({ applied: [], refused: [] });
    expect(watcher.current.log.level).toBe('info');
  });

  it('fails at once if the first load is invalid', async () => {
    await invalid(watchConfig({ file: configFile({ workers: { max: -1 } }), env: {} }));
  });

  it('classifies keys as live or critical', () => {
    for (const key of [
      'memory.thresholds.warning',
      'memory.hysteresis',
      'log.level',
      'admission.ratePerSecond',
      'breaker.backoff.maxMs',
      'memory.intervalMs',
    ]) {
      expect(isLiveConfigKey(key)).toBe(true);
    }
    for (const key of [
      'workers.max',
      'workers.heapMb',
      'memory.limitBytes',
      'queue.maxDepth',
      'flags.workerPool',
      'memory.basis',
    ]) {
      expect(isLiveConfigKey(key)).toBe(false);
    }
  });
});
