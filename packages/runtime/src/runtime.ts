import { mkdir, stat } from 'node:fs/promises';
import path from 'node:path';
import {
  childAbortController,
  isOrdoError,
  type Launcher,
  type Logger,
  type MemoryPressure,
  noopLogger,
  type Policy,
  systemClock,
  type WorkerSpec,
} from '@ordo/contracts';
import { createKeyedMutex } from '@ordo/executor-spool';
import {
  type ConfigChange,
  type ConfigWarning,
  createAdmission,
  createCircuitBreaker,
  createFeatureFlagGauge,
  createHealthHandler,
  createLevelLogger,
  createMemoryGovernor,
  createMemoryMonitor,
  createMetrics,
  createPriorityQueue,
  createWorkerPool,
  loadConfig,
  type OrdoConfig,
  type QueueItem,
} from '@ordo/governance';
import {
  createPoller,
  createSubprocessLauncher,
  type MetricsCollector,
  type StateStore,
  SubprocessLauncher,
} from '@ordo/launcher';
import {
  LauncherUnsupportedError,
  RuntimeBusyError,
  RuntimeClosedError,
  RuntimeOptionsError,
} from './errors.js';
import { createHttpHandler } from './http.js';
import { createEnginePolicy } from './internal/enginePolicy.js';
import { EventHub } from './internal/eventHub.js';
import { runFeatureOn } from './internal/featureRun.js';
import { guardSpawns } from './internal/guardedLauncher.js';
import { createLiveConfig } from './internal/liveConfig.js';
import {
  bindRemoteMetrics,
  createRemoteWorkers,
  endpointInfo,
  placementOf,
} from './internal/remoteWorkers.js';
import { createRuntimeMetrics } from './internal/runtimeMetrics.js';
import { DEFAULT_STATE_DIR } from './internal/stateLayout.js';
import { storedStatus } from './internal/storedStatus.js';
import type { TaskPayload } from './internal/taskWire.js';
import { loadTelemetry } from './internal/telemetry.js';
import { resolvePlan } from './plan.js';
import type { FeatureResult, Plan, PlanSource, RunFeatureOptions, Runtime, RuntimeOptions } from './types.js';
import { workerCommand } from './workerCommand.js';

export { workerCommand };

/**
 * Builds the runtime: loads the config, starts the memory monitor, and wires the governance queue, memory
 * governor, spawn breaker and Prometheus metrics, a launcher with its poller, and the governance
 * `WorkerPool` on that launcher (workers started on the first `runFeature`, kept alive across tasks and
 * features, each with the config's heap cap, RSS warning, idle exit, restart budget and stall limit).
 * Dispose it with `await using` or `close()`: nothing is left running.
 *
 * When to use: one runtime per workspace and state directory, in the process that runs features.
 *
 * Gotchas: features run one at a time per runtime (`RUNTIME_BUSY`). With `launcher: 'docker'` each worker
 * is a container talking over its stdin/stdout; see `DockerWorkerOptions` for what it mounts and runs.
 *
 * @throws RuntimeOptionsError (`RUNTIME_OPTIONS_INVALID`) for a missing workspace or a bad option;
 * `CONFIG_INVALID` / `CONFIG_UNREADABLE` from the config.
 * @example
 * ```ts
 * await using runtime = await createRuntime({ workspace: process.cwd(), workers: 4 });
 * const result = await runtime.runFeature('feature.yaml', { onEvent: (e) => console.log(e.type) });
 * console.log(result.status, result.traceDigest);
 * ```
 */
export async function createRuntime(options: RuntimeOptions): Promise<Runtime> {
  if (typeof options?.workspace !== 'string' || options.workspace === '') {
    throw new RuntimeOptionsError('workspace', 'pass the directory task edits apply to.');
  }
  options.signal?.throwIfAborted();
  const workspace = path.resolve(options.workspace);
  if (!(await stat(workspace).catch(() => undefined))?.isDirectory()) {
    throw new RuntimeOptionsError('workspace', `${workspace} is not an existing directory. Create it first.`);
  }
  const stateDir = path.resolve(workspace, options.stateDir ?? DEFAULT_STATE_DIR);
  await mkdir(stateDir, { recursive: true });
  const clock = options.clock ?? systemClock;
  if (options.watch && typeof options.config !== 'string') {
    throw new RuntimeOptionsError(
      'watch',
      'watching needs the config as a file path: pass config: "ordo.yaml".',
    );
  }
  const warnings: ConfigWarning[] = [];
  const config = await loadRuntimeConfig(options.config, options.signal, (w) => warnings.push(w));
  // log.level filters the host's logger; a reload changes it for every child.
  const levels = createLevelLogger(options.logger ?? noopLogger, config.log.level);
  const logger = levels.logger.child({ component: 'ordo-runtime' });
  for (const w of warnings) logger.warn({ code: w.code, variable: w.variable, key: w.key }, w.message);
  const { flags } = config;
  const telemetry = await loadTelemetry(options.telemetry);
  const remote = typeof options.workers === 'object' ? options.workers?.remote : undefined;
  const requested =
    (typeof options.workers === 'object' ? options.workers?.count : options.workers) ?? config.workers.max;
  if (!(Number.isInteger(requested) && requested >= 1)) {
    throw new RuntimeOptionsError('workers', `expected a whole number >= 1, got ${String(requested)}.`);
  }
  // Worker pool off (FF_WORKER_POOL): one worker runs every task, one at a time.
  const concurrency = flags.workerPool ? requested : 1;

  const enginePolicy = createEnginePolicy({ clock: options.clock, logger });
  enginePolicy.breaker.configure(config.breaker);
  // Circuit breakers off (FF_CIRCUIT_BREAKERS): Engine calls keep their retry but pass every breaker.
  const engineCalls = flags.circuitBreakers ? enginePolicy.policy : enginePolicy.retry;
  const endpoint = remote && (await createRemoteWorkers(remote, { clock: options.clock, logger }));
  const launcher = endpoint || (await buildLauncher(options, workspace, logger, engineCalls, config));
  const monitor = createMemoryMonitor({
    limitBytes: config.memory.limitBytes,
    basis: config.memory.basis,
    intervalMs: config.memory.intervalMs,
    thresholds: config.memory.thresholds,
    hysteresis: config.memory.hysteresis,
    clock,
    logger,
  });
  monitor.sample();
  monitor.start();
  const queue = createPriorityQueue<QueueItem>({
    maxDepth: Math.max(config.queue.maxDepth, concurrency * 2),
  });
  const metrics = createMetrics();
  const runtimeMetrics = createRuntimeMetrics(metrics.registry);
  if (endpoint) bindRemoteMetrics(endpoint, metrics.registry);
  const spawnBreaker = createCircuitBreaker({ name: 'worker-spawn', ...config.breaker, clock, logger });
  // The engine breaker only sees calls with launcher: 'docker'; otherwise it stays closed.
  const allBreakers = options.launcher === 'docker' ? [spawnBreaker, enginePolicy.breaker] : [spawnBreaker];
  const breakers = flags.circuitBreakers ? allBreakers : [];
  const startPoller = (intervalMs: number) => {
    const next = createPoller({ launcher, intervalMs, clock, logger });
    next.start();
    return next;
  };
  let poller = startPoller(config.launcher.pollIntervalMs);

  let store: StateStore | undefined;
  let collector: MetricsCollector | undefined;
  let lastStatus: ReturnType<MetricsCollector['featureMetrics']> | undefined;
  const pool = createWorkerPool<TaskPayload, unknown>({
    launcher: flags.circuitBreakers ? guardSpawns(launcher, spawnBreaker) : launcher,
    spec: workerSpec(options, launcher),
    maxWorkers: concurrency,
    heapMB: config.workers.heapMb,
    rssWarnBytes: config.workers.rssWarningMb * 1024 * 1024,
    idleTimeoutMs: config.workers.idleTimeoutMs,
    maxRestartsPerHour: config.workers.maxRestartsPerHour,
    stallTimeoutMs: config.workers.stallTimeoutMs,
    queue,
    // Memory governance off (FF_MEMORY_GOVERNANCE): the pool starts tasks at any memory level.
    ...(flags.memoryGovernance ? { memory: monitor } : {}),
    clock,
    logger,
  });
  const governor = flags.memoryGovernance
    ? createMemoryGovernor({ monitor, queue, running: pool.running, metrics, logger, cooldownMs: 10_000 })
    : undefined;
  const tryRecord = (fn: () => void) => {
    try {
      fn();
    } catch (error) {
      logger.debug({ err: error }, 'state record skipped');
    }
  };
  pool.on('workerSpawned', ({ workerId }) => tryRecord(() => store?.recordWorkerStarted(workerId)));
  const recordReady = (s: StateStore | undefined, workerId: string) => {
    s?.recordWorkerReady(workerId);
    const node = placementOf(launcher, workerId);
    if (node !== undefined) s?.recordWorkerPlacement(workerId, node);
  };
  pool.on('workerReady', ({ workerId }) => tryRecord(() => recordReady(store, workerId)));
  pool.on('workerExited', ({ workerId, code, reason }) => {
    if (UNEXPECTED_EXITS.has(reason)) runtimeMetrics.workerCrashes.inc();
    tryRecord(() => store?.recordWorkerExited(workerId, code));
  });
  const events = new EventHub();
  const onLevel = () => {
    pool.pump();
    events.publish({
      kind: 'memory',
      level: monitor.level,
      fractionOfLimit: monitor.lastSnapshot?.fractionOfLimit,
    });
  };
  monitor.on('level', onLevel);
  const binding = metrics.bind({
    monitor,
    queue,
    breakers,
    // ordo_policy_attempts/rejections_total: worker starts let through or refused, and Engine calls.
    policies: [
      ...breakers.filter((b) => b === spawnBreaker),
      ...(options.launcher === 'docker' ? [engineCalls] : []),
    ],
    pool,
  });
  createFeatureFlagGauge({ registry: metrics.registry, flags: () => flags });
  const health = createHealthHandler({ monitor, queue, breakers, flags });
  const admission = createAdmission({
    // Memory governance off: admission only by the queue and the rate, never a memory 503.
    monitor: flags.memoryGovernance ? monitor : UNPRESSURED,
    queue,
    // Retry-After from the pool's measured task durations and its real worker count.
    pool,
    rejectAtFraction: config.admission.memoryThreshold,
    rate: { perSecond: config.admission.ratePerSecond, burst: config.admission.burst },
    clock,
    onReject: (d) => metrics.admissionRejections.inc({ reason: REJECTION_REASON[d.code] }),
    logger,
  });
  const applyLive = ({ config: next, changed }: ConfigChange) => {
    const touched = (prefix: string) => changed.some((key) => key.startsWith(prefix));
    if (touched('memory.')) monitor.configure(next.memory);
    if (touched('breaker.')) for (const breaker of allBreakers) breaker.configure(next.breaker);
    if (touched('admission.')) {
      admission.configure({
        rejectAtFraction: next.admission.memoryThreshold,
        rate: { perSecond: next.admission.ratePerSecond, burst: next.admission.burst },
      });
    }
    if (touched('log.')) levels.setLevel(next.log.level);
    if (touched('launcher.pollIntervalMs')) {
      const old = poller;
      poller = startPoller(next.launcher.pollIntervalMs);
      void old.close();
    }
  };
  const live = createLiveConfig({
    file: typeof options.config === 'string' ? options.config : undefined,
    initial: config,
    watch: options.watch ?? false,
    apply: applyLive,
    registry: metrics.registry,
    logger,
    clock,
  });

  let closed = false;
  let closing: Promise<void> | undefined;
  let current: { feature: string; abort: AbortController; done: Promise<unknown> } | undefined;

  const runFeature = async (
    source: PlanSource | Plan,
    runOptions: RunFeatureOptions = {},
  ): Promise<FeatureResult> => {
    if (closed) throw new RuntimeClosedError();
    runOptions.signal?.throwIfAborted();
    if (current) throw new RuntimeBusyError(current.feature);
    const abort = childAbortController(runOptions.signal);
    const entry = {
      feature: typeof source === 'string' ? source : source.feature,
      abort: abort.controller,
      done: Promise.resolve() as Promise<unknown>,
    };
    current = entry;
    const run = (async () => {
      const plan = await resolvePlan(source, workspace, abort.signal);
      entry.feature = plan.feature;
      await pool.start({ signal: abort.signal }).catch((error: unknown) => {
        // Aborted while workers start: the run below ends at once as 'cancelled'.
        if (abort.signal.aborted && error === abort.signal.reason) return;
        if (!isOrdoError(error, 'POOL_LAUNCHER_UNSUPPORTED')) throw error;
        throw new LauncherUnsupportedError(
          `${error.message.replace(/ Use a launcher .*$/, '')} Use launcher: 'subprocess' or 'docker', or a launcher whose handles provide io (a ContainerLauncher needs attachStdio: true).`,
          { cause: error, details: error.details },
        );
      });
      // From here on an abort (the caller's, or close()) ends in a 'cancelled' result, not a rejection.
      const spans = telemetry?.feature(plan);
      return runFeatureOn(
        {
          workspace,
          stateDir,
          clock,
          logger,
          pool,
          concurrency,
          metrics: runtimeMetrics,
          viewMutex: createKeyedMutex(),
          attach: (s, c) => {
            store = s;
            collector = c;
            for (const id of pool.workerIds()) {
              tryRecord(() => {
                s.recordWorkerStarted(id);
                recordReady(s, id);
              });
            }
          },
        },
        plan,
        {
          signal: abort.signal,
          resume: runOptions.resume ?? false,
          onEvent: (event) => {
            events.publish({ kind: 'feature', event });
            runOptions.onEvent?.(event);
          },
          replay: runOptions.replay,
          telemetry: spans,
        },
      ).catch((error: unknown) => {
        spans?.end(error);
        throw error;
      });
    })();
    entry.done = run.catch(() => {});
    try {
      return await run;
    } finally {
      lastStatus = collector?.featureMetrics();
      store = undefined;
      collector = undefined;
      abort.dispose();
      current = undefined;
    }
  };

  const close = (): Promise<void> => {
    closing ??= (async () => {
      closed = true;
      options.signal?.removeEventListener('abort', onAbort);
      if (current) {
        current.abort.abort(new RuntimeClosedError());
        await current.done;
      }
      await live.close();
      await governor?.close();
      await pool.close({ mode: 'kill' });
      await poller.close();
      await launcher.close();
      await enginePolicy.breaker.close();
      binding.unbind();
      monitor.off('level', onLevel);
      events.close();
      await monitor.close();
      await queue.close();
    })();
    return closing;
  };
  const onAbort = () => void close();
  options.signal?.addEventListener('abort', onAbort, { once: true });

  const runtime: Runtime = {
    get config() {
      return live.current;
    },
    reloadConfig: () => live.reload(),
    workspace,
    stateDir,
    workerEndpoint: endpoint ? endpointInfo(endpoint) : undefined,
    runFeature,
    status: () => (collector?.featureMetrics() ?? lastStatus)?.toJSON(),
    metricsText: () => metrics.registry.metrics(),
    httpHandler: (httpOptions = {}) =>
      createHttpHandler({
        metrics: () => metrics.registry.metrics(),
        metricsContentType: metrics.registry.contentType,
        health,
        status: () => runtime.status(),
        storedStatus: () => storedStatus(stateDir),
        admission,
        events,
        clock,
        next: httpOptions.next,
      }),
    close,
    [Symbol.asyncDispose]: close,
  };
  return runtime;
}

/** Loads the config: a YAML file, or a partial object validated the same way. */
function loadRuntimeConfig(
  config: RuntimeOptions['config'],
  signal: AbortSignal | undefined,
  onWarning: (warning: ConfigWarning) => void,
): Promise<OrdoConfig> {
  if (typeof config === 'string') return loadConfig({ file: config, signal, onWarning });
  return loadConfig({ values: config, signal, onWarning });
}

/** The launcher the options ask for. */
async function buildLauncher(
  options: RuntimeOptions,
  workspace: string,
  logger: Logger,
  enginePolicy: Policy,
  config: OrdoConfig,
): Promise<Launcher> {
  const choice = options.launcher ?? 'subprocess';
  if (typeof choice === 'object' && choice !== null) return choice;
  if (choice === 'subprocess') {
    const { command, args } = workerCommand();
    return createSubprocessLauncher({ command, args, cwd: workspace, logger, clock: options.clock });
  }
  if (choice === 'docker') {
    // The Docker code loads only for a Docker run.
    const { createDockerLauncher } = await import('./internal/dockerLauncher.js');
    return createDockerLauncher(options.docker, {
      workerCommand: workerCommand(),
      logger,
      clock: options.clock,
      signal: options.signal,
      policy: enginePolicy,
      cooldownMs: config.launcher.monitorCooldownMs,
    });
  }
  throw new RuntimeOptionsError(
    'launcher',
    `expected 'subprocess', 'docker' or a Launcher, got ${String(choice)}.`,
  );
}

/**
 * What every worker starts with: the host's `workerEnv`. A local worker keeps this process's `NODE_OPTIONS`
 * (the pool adds the heap cap to it); a container gets only the heap cap.
 */
function workerSpec(options: RuntimeOptions, launcher: Launcher): WorkerSpec {
  const env: Record<string, string> = {};
  const inherited = process.env.NODE_OPTIONS;
  if (launcher instanceof SubprocessLauncher && inherited) env.NODE_OPTIONS = inherited;
  Object.assign(env, options.workerEnv);
  return Object.keys(env).length > 0 ? { env } : {};
}

/** The `reason` label of `admission_rejections_total` for each admission refusal code. */
const REJECTION_REASON = {
  MEMORY_PRESSURE: 'memory',
  QUEUE_FULL: 'queue_full',
  RATE_LIMITED: 'rate',
} as const;

/** What admission sees while memory governance is off: never any pressure. */
const UNPRESSURED: MemoryPressure = { level: 'normal', lastSnapshot: undefined };

/** Worker exits the runtime counts as crashes (`ordo_runtime_worker_crashes_total`). */
const UNEXPECTED_EXITS: ReadonlySet<string> = new Set(['crash', 'oom', 'startup', 'handshake', 'stalled']);
