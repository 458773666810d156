/**
 * No dead keys: every key of the config schema changes what the runtime does. Each probe builds a runtime
 * with a baseline config and with the key changed, and reads the difference from the runtime's behaviour
 * (/metrics, /health, HTTP answers, the workers it starts, the tasks' results, its log), never from the
 * config object. A key without a probe fails the first test; a key the runtime stops reading fails its probe.
 */
import { chmod, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import path from 'node:path';
import type { Launcher } from '@ordo/contracts';
import { ManualClock, RecordingLogger } from '@ordo/contracts/testing';
import { configKeyPaths } from '@ordo/governance';
import { SubprocessLauncher } from '@ordo/launcher';
import { describe, expect, it, vi } from 'vitest';
import { tempDir } from '../../../vitest.tempDirs.js';
import {
  createRuntime,
  type FeatureEvent,
  type PlanInput,
  type Runtime,
  type RuntimeOptions,
} from '../src/index.js';
import { workerCommand } from '../src/runtime.js';
import { closeServer, listen } from './helpers/httpServer.js';
import { fixture, tempWorkspace } from './helpers/workspace.js';

const probeTasks = fixture('configProbe.mjs');
type Values = NonNullable<Exclude<RuntimeOptions['config'], string>>;

/** A runtime on a fresh workspace; `await using` closes it. */
async function runtimeWith(values: Values, extra: Partial<RuntimeOptions> = {}) {
  const workspace = await tempWorkspace();
  const runtime = await createRuntime({ workspace, config: values, ...extra });
  return Object.assign(runtime, { ws: workspace });
}

/** The value of one sample of the Prometheus text, or undefined. */
function sample(text: string, name: string, labels = ''): number | undefined {
  for (const line of text.split('\n')) {
    if (line.startsWith(`${name}${labels ? `{${labels}}` : ''} `)) return Number(line.split(' ').at(-1));
  }
  return undefined;
}

/** Worker starts the spawn breaker has refused so far (`ordo_policy_rejections_total`). */
const rejections = (text: string) =>
  sample(text, 'ordo_policy_rejections_total', 'policy="worker-spawn",kind="breaker"') ?? 0;

/** An HTTP server on the runtime's handler; `next` answers 200 `passed`. */
async function served(runtime: Runtime) {
  const server = createServer(
    runtime.httpHandler({
      next: (_req, res) => {
        res.writeHead(200);
        res.end('passed');
      },
    }),
  );
  const base = await listen(server);
  return {
    base,
    get: (route: string) => fetch(`${base}${route}`),
    [Symbol.asyncDispose]: () => closeServer(server),
  };
}

const rssNow = () => process.memoryUsage().rss;
/** A limit that puts this process at about half of it. */
const halfFull = () => ({ limitBytes: rssNow() * 2, basis: 'rss' as const });

async function memoryLevel(values: Values, clock = new ManualClock()) {
  await using runtime = await runtimeWith(values, { clock });
  await using http = await served(runtime);
  return ((await (await http.get('/health')).json()) as { memory: { level: string } }).memory.level;
}

/** Runs `tasks` and returns the result with the distinct workers that ran them. */
async function run(values: Values, tasks: PlanInput['tasks'], extra: Partial<RuntimeOptions> = {}) {
  await using runtime = await runtimeWith(values, extra);
  const workers = new Set<string>();
  const result = await runtime.runFeature(
    { feature: 'probe', tasks },
    { onEvent: (e) => (e.type === 'task-start' ? workers.add(e.workerId) : undefined) },
  );
  const files: Record<string, string> = {};
  for (const t of tasks) {
    for (const f of t.files) files[f] = await readFile(path.join(runtime.ws, f), 'utf8').catch(() => '');
  }
  return { result, workers: workers.size, files, runtime };
}

/**
 * `n` tasks that wait for each other (the `meet` barrier) for up to `waitMs`: they can only all meet on `n`
 * distinct workers, so the number of workers used does not depend on how fast each worker started.
 */
async function meeting(n: number, waitMs: number): Promise<PlanInput['tasks']> {
  const dir = await tempDir('ordo-probe-meet-');
  return Array.from({ length: n }, (_, i) => ({
    id: `m${i}`,
    files: [`m${i}.txt`],
    run: { module: probeTasks, export: 'meet', input: { dir, path: `m${i}.txt`, parties: n, waitMs } },
  }));
}

const sleepers = (n: number) =>
  Array.from({ length: n }, (_, i) => ({
    id: `t${i}`,
    files: [`t${i}.txt`],
    run: { shell: `sleep 0.4; echo ${i} > t${i}.txt` },
  }));

/** A launcher whose worker command is a script that a test creates (spawns succeed) or deletes (they fail). */
async function toggledLauncher(workspace: string) {
  const script = path.join(workspace, '..', `${path.basename(workspace)}-worker.sh`);
  const { command, args } = workerCommand();
  const launcher = new SubprocessLauncher({ command: script, args: [], cwd: workspace });
  return {
    launcher: launcher as Launcher,
    up: async () => {
      await writeFile(script, `#!/bin/sh\nexec ${[command, ...args].map((a) => `'${a}'`).join(' ')}\n`);
      await chmod(script, 0o755);
    },
    down: () => rm(script, { force: true }),
  };
}

/** The worker-spawn breaker's state after `steps` (start attempts and clock moves) on a failing launcher. */
async function spawnBreaker(values: Values, steps: Array<'fail' | 'ok' | number>, workers = 1) {
  const clock = new ManualClock();
  const workspace = await tempWorkspace();
  const toggle = await toggledLauncher(workspace);
  await using runtime = await createRuntime({
    workspace,
    config: values,
    clock,
    launcher: toggle.launcher,
    workers,
  });
  const errors: string[] = [];
  const plan: PlanInput = { feature: 'spawn', tasks: sleepers(workers) };
  let used = 0;
  let refusedBefore = 0;
  try {
    for (const step of steps) {
      if (typeof step === 'number') {
        clock.advance(step);
        continue;
      }
      await (step === 'ok' ? toggle.up() : toggle.down());
      refusedBefore = rejections(await runtime.metricsText());
      const seen = new Set<string>();
      const onEvent = (e: FeatureEvent) => (e.type === 'task-start' ? seen.add(e.workerId) : undefined);
      const outcome = await runtime.runFeature(plan, { onEvent }).then(
        (r) => r.status,
        (e: { code?: string }) => e.code ?? 'error',
      );
      errors.push(outcome);
      used = seen.size;
    }
    const text = await runtime.metricsText();
    const state = sample(text, 'ordo_circuit_breaker_state', 'name="worker-spawn"');
    return { state, errors, workersUsed: used, refusedLast: rejections(text) - refusedBefore };
  } finally {
    await toggle.down();
  }
}

/** The key's probe: it must find a difference between the two configs it builds. */
const probes: Record<string, (() => Promise<void>) | 'needs-docker'> = {
  'workers.max': async () => {
    // One worker: the two tasks run one after the other, each waiting out the barrier alone.
    expect((await run({ workers: { max: 1 } }, await meeting(2, 1_500))).workers).toBe(1);
    expect((await run({ workers: { max: 3 } }, await meeting(3, 30_000))).workers).toBe(3);
  },
  'flags.workerPool': async () => {
    const tasks = await meeting(2, 1_500);
    const off = await run({ workers: { max: 3 }, flags: { workerPool: false } }, tasks, { workers: 3 });
    expect(off.workers).toBe(1);
    expect(off.result.status).toBe('succeeded');
  },
  'workers.heapMb': async () => {
    const task = [
      {
        id: 'h',
        files: ['heap.txt'],
        run: { module: probeTasks, export: 'heapLimit', input: { path: 'heap.txt' } },
      },
    ];
    const small = Number((await run({ workers: { heapMb: 64 } }, task)).files['heap.txt']);
    const large = Number((await run({ workers: { heapMb: 1024 } }, task)).files['heap.txt']);
    expect(small).toBeGreaterThan(0);
    expect(large).toBeGreaterThan(small + 500 * 1024 * 1024);
  },
  'workers.rssWarningMb': async () => {
    const warned = async (mb: number) => {
      const logger = new RecordingLogger();
      await run({ workers: { rssWarningMb: mb } }, sleepers(1), { logger });
      return logger.records.some((r) => r.msg === 'worker memory above rssWarnBytes');
    };
    expect(await warned(1)).toBe(true);
    expect(await warned(262_144)).toBe(false);
  },
  'workers.idleTimeoutMs': async () => {
    const idleWorkers = async (ms: number, check: (runtime: Runtime) => Promise<void>) => {
      await using runtime = await runtimeWith({ workers: { idleTimeoutMs: ms } }, { workers: 1 });
      await runtime.runFeature({ feature: 'idle', tasks: sleepers(1) });
      await check(runtime);
    };
    const idle = async (runtime: Runtime) => sample(await runtime.metricsText(), 'ordo_workers_idle');
    // 200 ms: the idle worker retires (waited for, up to 10 s on a loaded machine).
    await idleWorkers(200, (runtime) =>
      vi.waitFor(async () => expect(await idle(runtime)).toBe(0), { timeout: 10_000, interval: 100 }),
    );
    // 5 min: 1.5 s later it is still there.
    await idleWorkers(300_000, async (runtime) => {
      await new Promise((r) => setTimeout(r, 1_500));
      expect(await idle(runtime)).toBe(1);
    });
  },
  'workers.maxRestartsPerHour': async () => {
    // Whichever task runs first kills its worker (mkdir is atomic: exactly one does); the other then
    // needs a new worker, which the budget may not allow. Which one goes first is not fixed: the tasks
    // read their files concurrently before they reach the pool.
    const crashOnce = async (maxRestartsPerHour: number) => {
      const marker = path.join(await tempWorkspace(), 'crashed');
      const task = (id: string) => ({
        id,
        files: [`${id}.txt`],
        run: { shell: `if mkdir '${marker}' 2>/dev/null; then kill -9 $PPID; fi; echo ${id} > ${id}.txt` },
      });
      const { files } = await run({ workers: { maxRestartsPerHour } }, [task('a'), task('b')], {
        workers: 1,
      });
      return Object.values(files).filter((text) => text !== '').length;
    };
    expect(await crashOnce(10)).toBe(1);
    expect(await crashOnce(0)).toBe(0);
  },
  'workers.stallTimeoutMs': async () => {
    const task = [
      {
        id: 's',
        files: ['s.txt'],
        run: { module: probeTasks, export: 'spin', input: { path: 's.txt', ms: 3_000 } },
      },
    ];
    const short = await run({ workers: { stallTimeoutMs: 1_000 } }, task);
    const long = await run({ workers: { stallTimeoutMs: 120_000 } }, task);
    expect(long.result.tasks[0]?.status).toBe('committed');
    expect(short.result.tasks[0]).toMatchObject({ status: 'failed' });
    expect(JSON.stringify(short.result.tasks[0])).toContain('STALLED');
  },
  'queue.maxDepth': async () => {
    const depth = async (maxDepth: number) => {
      await using runtime = await runtimeWith({ queue: { maxDepth } }, { workers: 1 });
      await using http = await served(runtime);
      return ((await (await http.get('/health')).json()) as { queue: { maxDepth: number } }).queue.maxDepth;
    };
    expect(await depth(5)).toBe(5);
    expect(await depth(50)).toBe(50);
  },
  'memory.limitBytes': async () => {
    const limit = async (limitBytes: number) => {
      await using runtime = await runtimeWith({ memory: { limitBytes } });
      return sample(await runtime.metricsText(), 'ordo_memory_limit_bytes');
    };
    expect(await limit(2 ** 40)).toBe(2 ** 40);
    expect(await limit(2 ** 41)).toBe(2 ** 41);
  },
  'memory.basis': async () => {
    const watched = async (basis: 'rss' | 'heapUsed') => {
      await using runtime = await runtimeWith({ memory: { limitBytes: 2 ** 40, basis } });
      const text = await runtime.metricsText();
      const ratio = sample(text, 'ordo_memory_usage_ratio') ?? Number.NaN;
      return {
        watched: Math.round(ratio * 2 ** 40),
        rss: sample(text, 'ordo_memory_usage_bytes', 'type="rss"'),
        heap: sample(text, 'ordo_memory_usage_bytes', 'type="heap_used"'),
      };
    };
    const rss = await watched('rss');
    const heap = await watched('heapUsed');
    expect(rss.watched).toBe(rss.rss);
    expect(heap.watched).toBe(heap.heap);
  },
  'memory.intervalMs': async () => {
    // A second passes on the clock: a 1 s interval takes a new sample (every usage figure moves, the
    // 64 MB buffer held meanwhile among them), a 5 s interval keeps the old one (not a figure moves).
    const usage = (text: string) =>
      ['rss', 'heap_used', 'heap_total', 'external', 'array_buffers'].map(
        (type) => sample(text, 'ordo_memory_usage_bytes', `type="${type}"`) ?? 0,
      );
    const resampled = async (intervalMs: number) => {
      const clock = new ManualClock();
      await using runtime = await runtimeWith({ memory: { intervalMs } }, { clock });
      const before = usage(await runtime.metricsText());
      const held = new ArrayBuffer(64 * 1024 * 1024);
      clock.advance(1_000);
      const after = usage(await runtime.metricsText());
      void held.byteLength;
      return after.some((value, i) => value !== before[i]);
    };
    expect(await resampled(1_000)).toBe(true);
    expect(await resampled(5_000)).toBe(false);
  },
  'memory.thresholds.warning': async () => {
    const base = { ...halfFull(), hysteresis: 0.05 };
    expect(await memoryLevel({ memory: base })).toBe('normal');
    expect(await memoryLevel({ memory: { ...base, thresholds: { warning: 0.3 } } })).toBe('warning');
  },
  'memory.thresholds.critical': async () => {
    const base = { ...halfFull(), hysteresis: 0.05 };
    expect(await memoryLevel({ memory: { ...base, thresholds: { warning: 0.2 } } })).toBe('warning');
    expect(await memoryLevel({ memory: { ...base, thresholds: { warning: 0.2, critical: 0.3 } } })).toBe(
      'critical',
    );
  },
  'memory.thresholds.emergency': async () => {
    const base = { ...halfFull(), hysteresis: 0.05, thresholds: { warning: 0.1, critical: 0.2 } };
    expect(await memoryLevel({ memory: base })).toBe('critical');
    expect(
      await memoryLevel({ memory: { ...base, thresholds: { ...base.thresholds, emergency: 0.3 } } }),
    ).toBe('emergency');
  },
  'memory.hysteresis': async () => {
    // Warning first (threshold 0.3 at about 0.5), then the threshold moves just above the usage: the level
    // clears only if usage is `hysteresis` below the new threshold.
    const after = async (hysteresis: number) => {
      const clock = new ManualClock();
      const workspace = await tempWorkspace();
      const file = path.join(workspace, 'ordo.yaml');
      const memory = halfFull();
      const write = (warning: number) =>
        writeFile(
          file,
          JSON.stringify({
            memory: { ...memory, hysteresis, thresholds: { warning, critical: 0.9, emergency: 0.95 } },
          }),
        );
      await write(0.3);
      await using runtime = await createRuntime({ workspace, config: file, clock });
      await using http = await served(runtime);
      const first = (await (await http.get('/health')).json()) as {
        memory: { level: string; fractionOfLimit: number };
      };
      expect(first.memory.level).toBe('warning');
      await write(Math.min(0.85, first.memory.fractionOfLimit + 0.03));
      expect((await runtime.reloadConfig()).applied).toContain('memory.thresholds.warning');
      clock.advance(5_000);
      return ((await (await http.get('/health')).json()) as { memory: { level: string } }).memory.level;
    };
    expect(await after(0.25)).toBe('warning');
    expect(await after(0.001)).toBe('normal');
  },
  'admission.memoryThreshold': async () => {
    const status = async (memoryThreshold: number) => {
      await using runtime = await runtimeWith({ memory: halfFull(), admission: { memoryThreshold } });
      await using http = await served(runtime);
      return (await http.get('/work')).status;
    };
    expect(await status(0.3)).toBe(503);
    expect(await status(0.95)).toBe(200);
  },
  'flags.memoryGovernance': async () => {
    const answers = async (memoryGovernance: boolean) => {
      const memory = { ...halfFull(), hysteresis: 0.05, thresholds: { warning: 0.1, critical: 0.2 } };
      await using runtime = await runtimeWith({
        memory,
        admission: { memoryThreshold: 0.3 },
        flags: { memoryGovernance },
      });
      await using http = await served(runtime);
      return [(await http.get('/work')).status, (await http.get('/health')).status];
    };
    expect(await answers(true)).toEqual([503, 503]);
    expect(await answers(false)).toEqual([200, 200]);
  },
  'admission.ratePerSecond': async () => {
    const retryAfter = async (ratePerSecond: number) => {
      await using runtime = await runtimeWith(
        { admission: { ratePerSecond, burst: 1 } },
        { clock: new ManualClock() },
      );
      await using http = await served(runtime);
      expect((await http.get('/work')).status).toBe(200);
      const refused = await http.get('/work');
      expect(refused.status).toBe(429);
      return refused.headers.get('retry-after');
    };
    expect(await retryAfter(0.1)).toBe('10');
    expect(await retryAfter(1)).toBe('1');
  },
  'admission.burst': async () => {
    const statuses = async (burst: number) => {
      await using runtime = await runtimeWith({ admission: { burst } }, { clock: new ManualClock() });
      await using http = await served(runtime);
      const out: number[] = [];
      for (let i = 0; i < 3; i++) out.push((await http.get('/work')).status);
      return out;
    };
    expect(await statuses(1)).toEqual([200, 429, 429]);
    expect(await statuses(3)).toEqual([200, 200, 200]);
  },
  'log.level': async () => {
    const logged = async (level: 'info' | 'error') => {
      const logger = new RecordingLogger();
      await using runtime = await runtimeWith(
        { log: { level }, admission: { burst: 1 } },
        { logger, clock: new ManualClock() },
      );
      await using http = await served(runtime);
      await http.get('/work');
      await http.get('/work');
      return logger.records.filter((r) => r.msg?.startsWith('request refused')).length;
    };
    expect(await logged('info')).toBe(1);
    expect(await logged('error')).toBe(0);
  },
  'breaker.failureThreshold': async () => {
    expect((await spawnBreaker({ breaker: { failureThreshold: 1 } }, ['fail'])).state).toBe(2);
    expect((await spawnBreaker({ breaker: { failureThreshold: 1_000 } }, ['fail'])).state).toBe(0);
  },
  'flags.circuitBreakers': async () => {
    const on = await spawnBreaker({ breaker: { failureThreshold: 1 } }, ['fail', 'fail']);
    const off = await spawnBreaker({ breaker: { failureThreshold: 1 }, flags: { circuitBreakers: false } }, [
      'fail',
      'fail',
    ]);
    expect(on.state).toBe(2);
    expect(on.errors[1]).toBe('BREAKER_OPEN');
    expect(off.state).toBeUndefined();
    expect(off.errors[1]).not.toBe('BREAKER_OPEN');
  },
  'breaker.windowMs': async () => {
    const steps: Array<'fail' | number> = ['fail', 2_000, 'fail'];
    expect((await spawnBreaker({ breaker: { failureThreshold: 2, windowMs: 60_000 } }, steps)).state).toBe(2);
    expect((await spawnBreaker({ breaker: { failureThreshold: 2, windowMs: 1_000 } }, steps)).state).toBe(0);
  },
  'breaker.backoff.initialMs': async () => {
    const steps: Array<'fail' | number> = ['fail', 1_500];
    expect(
      (await spawnBreaker({ breaker: { failureThreshold: 1, backoff: { initialMs: 1_000 } } }, steps)).state,
    ).toBe(1);
    expect(
      (await spawnBreaker({ breaker: { failureThreshold: 1, backoff: { initialMs: 2_000 } } }, steps)).state,
    ).toBe(2);
  },
  'breaker.backoff.factor': async () => {
    // Open for 1 s, a failed probe re-opens it for 1 s × factor.
    const steps: Array<'fail' | number> = ['fail', 1_000, 'fail', 1_500];
    const b = (factor: number) => ({
      breaker: { failureThreshold: 1, backoff: { initialMs: 1_000, factor, maxMs: 8_000 } },
    });
    expect((await spawnBreaker(b(1), steps)).state).toBe(1);
    expect((await spawnBreaker(b(2), steps)).state).toBe(2);
  },
  'breaker.backoff.maxMs': async () => {
    const steps: Array<'fail' | number> = ['fail', 1_000, 'fail', 1_500];
    const b = (maxMs: number) => ({
      breaker: { failureThreshold: 1, backoff: { initialMs: 1_000, factor: 2, maxMs } },
    });
    expect((await spawnBreaker(b(1_000), steps)).state).toBe(1);
    expect((await spawnBreaker(b(8_000), steps)).state).toBe(2);
  },
  'breaker.successThreshold': async () => {
    const steps: Array<'fail' | 'ok' | number> = ['fail', 1_000, 'ok'];
    const b = (successThreshold: number) => ({ breaker: { failureThreshold: 1, successThreshold } });
    expect((await spawnBreaker(b(1), steps)).state).toBe(0);
    expect((await spawnBreaker(b(2), steps)).state).toBe(1);
  },
  'breaker.halfOpenMaxConcurrent': async () => {
    // Half-open, two workers start at once: a second concurrent probe is refused unless allowed.
    const steps: Array<'fail' | 'ok' | number> = ['fail', 1_000, 'ok'];
    const b = (halfOpenMaxConcurrent: number) => ({
      breaker: { failureThreshold: 1, successThreshold: 5, halfOpenMaxConcurrent },
    });
    // Both starts are asked for in the same tick, so the second is refused while the first is in flight
    // (the pool then starts it again once the first probe is done: both runs succeed).
    const one = await spawnBreaker(b(1), steps, 2);
    const two = await spawnBreaker(b(2), steps, 2);
    expect(one.errors.at(-1)).toBe('succeeded');
    expect(two.errors.at(-1)).toBe('succeeded');
    expect(one.refusedLast).toBeGreaterThanOrEqual(1);
    expect(two.refusedLast).toBe(0);
  },
  'launcher.pollIntervalMs': async () => {
    const monitorCalls = async (pollIntervalMs: number) => {
      const clock = new ManualClock();
      const workspace = await tempWorkspace();
      const { command, args } = workerCommand();
      let calls = 0;
      class CountingLauncher extends SubprocessLauncher {
        override monitor(...a: Parameters<SubprocessLauncher['monitor']>) {
          calls++;
          return super.monitor(...a);
        }
      }
      const launcher = new CountingLauncher({ command, args, cwd: workspace });
      await using runtime = await createRuntime({
        workspace,
        clock,
        launcher,
        workers: 1,
        config: { launcher: { pollIntervalMs } },
      });
      await runtime.runFeature({ feature: 'poll', tasks: sleepers(1) });
      const before = calls;
      await clock.advanceAsync(2_000);
      await new Promise((r) => setTimeout(r, 100));
      return calls - before;
    };
    expect(await monitorCalls(1_000)).toBeGreaterThan(0);
    expect(await monitorCalls(15_000)).toBe(0);
  },
  // Only Docker workers cache their status (ContainerLauncher's cooldown): its probe needs an engine and a
  // worker image, and is not written yet. It is listed so the key stays accounted for; the test skips it.
  'launcher.monitorCooldownMs': 'needs-docker',
};

describe('every config key changes what the runtime does', () => {
  it('has a probe for every key of the schema, and only those', () => {
    expect(Object.keys(probes).sort()).toEqual([...configKeyPaths()].sort());
  });

  for (const key of configKeyPaths()) {
    it(key, async (context) => {
      const probe = probes[key];
      if (!probe)
        throw new Error(`no probe for ${key}: add one to test/configKeys.test.ts, or remove the key`);
      if (probe === 'needs-docker')
        return context.skip(`${key}: its probe needs a Docker engine (not written yet)`);
      await probe();
    }, 60_000);
  }
});
