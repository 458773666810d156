/**
 * Monitoring cost against a real Docker engine (DOCKER_HOST): Engine API calls per minute, how long a death
 * goes unseen, and the wall time of one sync, for three ways of watching N worker containers:
 *
 *   (a) per-container inspect + exec every 5 s, with dockerode (the anchor; what testcontainers-style tools do)
 *   (b) ordo ContainerLauncher, mode 'per-container': cooldown 10 s + poll 15 s, a check = inspect + exec
 *   (c) ordo ContainerLauncher, mode 'batch' + events: one list call per 15 s poll, deaths from /events
 *
 * In every scenario the orchestrator asks for every worker's status every 5 s (simulated time on a
 * ManualClock; every API call is real). One worker is killed at t = 62.5 s to measure how long it goes unseen.
 *
 *   DOCKER_HOST=unix:///tmp/ordo-docker-dev/docker.sock pnpm --filter @ordo/launcher bench  (bench/index.ts runs it)
 *   BENCH_MINUTES (default 10) simulated minutes for (c); BENCH_MINUTES_AB (default 2) for (a) and (b), whose
 *   every check runs a real exec; BENCH_SIZES (default 5,20).
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { noopLogger, WorkerStatus, type WorkerStatusChange } from '@ordo/contracts';
import { ManualClock } from '@ordo/contracts/testing';
import Docker from 'dockerode';
import {
  ContainerLauncher,
  type ContainerLauncherOptions,
  createPoller,
  dockerFromEnv,
} from '../src/index.js';
import { EngineClient } from '../src/internal/engine.js';

const IMAGE = process.env.BENCH_IMAGE ?? 'ordo-test/busybox:1';
const SIZES = (process.env.BENCH_SIZES ?? '5,20').split(',').map(Number);
const MINUTES_C = Number(process.env.BENCH_MINUTES ?? 10);
const MINUTES_AB = Number(process.env.BENCH_MINUTES_AB ?? 2);
const STEP_MS = 5_000;
const KILL_AT_MS = 62_500;
const LABEL = { 'ordo.bench': 'launcher' };

if (!process.env.DOCKER_HOST) {
  console.error(
    'The benchmark needs a Docker engine: ORDO_DOCKER_DIR=/tmp/ordo-docker-dev scripts/docker-engine.sh start, then export the DOCKER_HOST it prints.',
  );
  process.exit(1);
}
const connection = dockerFromEnv();
const engine = new EngineClient(connection, noopLogger);
const dockerode =
  'socketPath' in connection ? new Docker({ socketPath: connection.socketPath }) : new Docker();

interface Result {
  workers: number;
  scenario: string;
  simulatedMinutes: number;
  apiCalls: number;
  callsPerMinute: number;
  /** Simulated ms from the kill to the launcher reporting it; for (c), real ms. */
  deathSeenAfterMs: number | undefined;
  deathSeenBy: string;
  /** Real ms spent monitoring per simulated minute ÷ 60 000: the share of time spent on monitoring. */
  overhead: number;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

async function kill(containerId: string): Promise<void> {
  await engine.request({ method: 'POST', path: `/containers/${containerId}/kill`, endpoint: 'kill' });
}

async function restart(containerId: string): Promise<void> {
  await engine.request({
    method: 'POST',
    path: `/containers/${containerId}/start`,
    endpoint: 'start',
    ok: [304],
  });
}

async function removeBenchContainers(): Promise<void> {
  const res = await engine.request({
    method: 'GET',
    path: '/containers/json',
    endpoint: 'list',
    query: { all: 1, filters: JSON.stringify({ label: ['ordo.bench=launcher'] }) },
  });
  await Promise.all(
    res.json<{ Id: string }[]>().map((c) =>
      engine.request({
        method: 'DELETE',
        path: `/containers/${c.Id}`,
        endpoint: 'rm',
        query: { force: 1 },
        ok: [404],
      }),
    ),
  );
}

// ---- (a) dockerode: inspect + exec per container, every 5 s ------------------------------------------

let dockerodeCalls = 0;
{
  const modem = (dockerode as unknown as { modem: { dial: (...args: unknown[]) => unknown } }).modem;
  const dial = modem.dial.bind(modem);
  modem.dial = (...args: unknown[]) => {
    dockerodeCalls++;
    return dial(...args);
  };
}

/** One per-container check: inspect, then exec `true` if running. Resolves with whether it is running. */
async function checkWithDockerode(id: string): Promise<boolean> {
  const container = dockerode.getContainer(id);
  const info = await container.inspect();
  if (!info.State.Running) return false;
  const exec = await container.exec({ Cmd: ['true'], AttachStdout: false, AttachStderr: false });
  const stream = (await exec.start({ hijack: false, Detach: false } as never)) as NodeJS.ReadableStream;
  await new Promise((resolve, reject) => stream.on('end', resolve).on('error', reject).resume());
  return (await exec.inspect()).ExitCode === 0;
}

async function scenarioA(workers: number, ids: string[]): Promise<Result> {
  const clock = new ManualClock(Date.now());
  const start = dockerodeCalls;
  let busy = 0;
  let seenAt: number | undefined;
  let killed = false;
  for (let t = STEP_MS; t <= MINUTES_AB * 60_000; t += STEP_MS) {
    if (!killed && t > KILL_AT_MS) {
      await kill(ids[0] as string);
      killed = true;
    }
    clock.advance(STEP_MS);
    const t0 = performance.now();
    const running = await Promise.all(ids.map(checkWithDockerode));
    busy += performance.now() - t0;
    if (killed && seenAt === undefined && running[0] === false) seenAt = t;
  }
  await restart(ids[0] as string);
  const calls = dockerodeCalls - start;
  return {
    workers,
    scenario: '(a) dockerode inspect+exec every 5 s',
    simulatedMinutes: MINUTES_AB,
    apiCalls: calls,
    callsPerMinute: calls / MINUTES_AB,
    deathSeenAfterMs: seenAt === undefined ? undefined : seenAt - KILL_AT_MS,
    deathSeenBy: 'next 5 s check (simulated)',
    overhead: busy / (MINUTES_AB * 60_000),
  };
}

// ---- (b) and (c): ordo --------------------------------------------------------------------------------

async function scenarioOrdo(
  workers: number,
  runId: string,
  victim: string,
  kind: 'b' | 'c',
  heartbeatDir: string,
): Promise<Result> {
  const minutes = kind === 'b' ? MINUTES_AB : MINUTES_C;
  const clock = new ManualClock(Date.now());
  const options: Partial<ContainerLauncherOptions> =
    kind === 'b'
      ? {
          mode: 'per-container',
          events: false,
          cooldownMs: 10_000,
          // No heartbeats are written, so every check finds them stale and runs the exec, like (a).
          heartbeatDir,
          staleAfterMs: 0,
          healthCheck: { cmd: ['true'] },
        }
      : { mode: 'batch', events: true, cooldownMs: 10_000 };
  await using launcher = new ContainerLauncher({
    docker: connection,
    image: IMAGE,
    runId,
    clock,
    terminateOnClose: false, // the containers belong to the setup launcher
    ...options,
  });
  const handles = await launcher.adopt();
  const ids = handles.map((h) => h.workerId);
  const victimHandle = handles.find((h) => h.workerId === victim);
  await using poller = createPoller({ launcher, intervalMs: 15_000, clock });
  let seenAt: number | undefined;
  let seenRealMs: number | undefined;
  let killedReal = 0;
  const onStatus = (change: WorkerStatusChange) => {
    if (change.workerId !== victim || change.to !== WorkerStatus.CRASHED || seenAt !== undefined) return;
    seenAt = clock.now();
    seenRealMs = performance.now() - killedReal;
  };
  launcher.on('status', onStatus);
  const t0Sim = clock.now();
  poller.start();
  let busy = 0;
  let killed = false;
  for (let t = STEP_MS; t <= minutes * 60_000; t += STEP_MS) {
    if (!killed && t > KILL_AT_MS) {
      killedReal = performance.now();
      await kill(victimHandle?.containerId as string);
      killed = true;
      if (kind === 'c') {
        // Events: wait (real time) for the stream to report it before simulated time moves on.
        for (let i = 0; i < 500 && seenAt === undefined; i++) await new Promise((r) => setTimeout(r, 2));
      }
    }
    const t0 = performance.now();
    clock.advance(STEP_MS); // the poller's timer fires every 15 s and starts a tick
    await Promise.all(ids.map((id) => launcher.monitor(id))); // the orchestrator's demand
    if (t % 15_000 === 0) await poller.tick(); // joins the tick the timer started
    busy += performance.now() - t0;
  }
  const stats = poller.stats();
  launcher.off('status', onStatus);
  await restart(victimHandle?.containerId as string);
  const deathSeenAfterMs =
    kind === 'c' ? seenRealMs : seenAt === undefined ? undefined : seenAt - t0Sim - KILL_AT_MS;
  return {
    workers,
    scenario:
      kind === 'b'
        ? '(b) ordo per-container, cooldown 10 s + poll 15 s'
        : '(c) ordo batch + events, poll 15 s',
    simulatedMinutes: minutes,
    apiCalls: stats.apiCalls ?? 0,
    callsPerMinute: stats.callsPerMinute ?? 0,
    deathSeenAfterMs,
    deathSeenBy: kind === 'c' ? 'events stream (real ms)' : 'next check after the cooldown (simulated)',
    overhead: busy / (minutes * 60_000),
  };
}

// ---- one sync of 20 containers ------------------------------------------------------------------------

async function syncWallTimes(runId: string, ids: string[]) {
  const runs = 5;
  const a: number[] = [];
  const c: number[] = [];
  const perContainer: number[] = [];
  const borrowed = {
    docker: connection,
    image: IMAGE,
    runId,
    events: false,
    terminateOnClose: false,
  } as const;
  await using batch = new ContainerLauncher(borrowed);
  await using inspect = new ContainerLauncher({ ...borrowed, mode: 'per-container', cooldownMs: 0 });
  await batch.adopt();
  await inspect.adopt();
  for (let i = 0; i < runs; i++) {
    let t0 = performance.now();
    await Promise.all(ids.map(checkWithDockerode));
    a.push(performance.now() - t0);
    t0 = performance.now();
    await batch.syncState();
    c.push(performance.now() - t0);
    t0 = performance.now();
    await inspect.syncState();
    perContainer.push(performance.now() - t0);
  }
  return {
    containers: ids.length,
    runs,
    aMs: median(a),
    cMs: median(c),
    perContainerInspectMs: median(perContainer),
  };
}

// ---- main ---------------------------------------------------------------------------------------------

async function main() {
  const version = (await engine.request({ method: 'GET', path: '/version', endpoint: 'version' })).json<{
    Version: string;
    ApiVersion: string;
  }>();
  console.log(
    `Docker ${version.Version} (API ${version.ApiVersion}) at ${engine.where}; node ${process.version}; ${cpus().length} × ${cpus()[0]?.model}`,
  );
  console.log(`simulated minutes: (a),(b) ${MINUTES_AB}; (c) ${MINUTES_C}; sizes ${SIZES.join(', ')}\n`);
  const results: Result[] = [];
  let sync: Awaited<ReturnType<typeof syncWallTimes>> | undefined;
  const heartbeatDir = await mkdtemp(join(tmpdir(), 'ordo-bench-hb-'));
  try {
    for (const n of SIZES) {
      const runId = `bench-${n}-${Date.now().toString(36)}`;
      const setup = new ContainerLauncher({
        docker: connection,
        image: IMAGE,
        runId,
        labels: LABEL,
        events: false,
      });
      const t0 = performance.now();
      const handles = await Promise.all(
        Array.from({ length: n }, (_, i) => setup.spawn(`w${i}`, { args: ['sleep', '3600'] })),
      );
      console.log(`${n} containers started in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
      const ids = handles.map((h) => h.containerId);
      results.push(await scenarioA(n, ids));
      results.push(await scenarioOrdo(n, runId, 'w1', 'b', heartbeatDir));
      results.push(await scenarioOrdo(n, runId, 'w2', 'c', heartbeatDir));
      for (const r of results.slice(-3)) print(r);
      if (n === Math.max(...SIZES)) sync = await syncWallTimes(runId, ids);
      await setup.terminateAll({ graceMs: 0 });
      await setup.close();
      console.log('');
    }
  } finally {
    await removeBenchContainers();
    await rm(heartbeatDir, { recursive: true, force: true });
  }

  const c = results.filter((r) => r.scenario.startsWith('(c)'));
  const a = results.filter((r) => r.scenario.startsWith('(a)'));
  const targets = {
    cCallsPerMinuteAtMost5: c.every((r) => r.callsPerMinute <= 5),
    cDeathSeenWithin1s: c.every((r) => r.deathSeenAfterMs !== undefined && r.deathSeenAfterMs <= 1_000),
  };
  for (const [ra, rc] of a.map((r, i) => [r, c[i]] as const)) {
    console.log(
      `${ra.workers} workers: (a) makes ${(ra.callsPerMinute / (rc?.callsPerMinute ?? 1)).toFixed(1)}× the calls of (c)`,
    );
  }
  if (sync) {
    console.log(
      `one sync of ${sync.containers} containers (median of ${sync.runs}): (a) ${sync.aMs.toFixed(1)} ms, (c) ${sync.cMs.toFixed(1)} ms → ${(sync.aMs / sync.cMs).toFixed(1)}× faster; ordo per-container inspect only: ${sync.perContainerInspectMs.toFixed(1)} ms`,
    );
  }
  console.log(
    `targets: (c) ≤ 5 calls/min: ${targets.cCallsPerMinuteAtMost5 ? 'met' : 'MISSED'}; (c) death seen ≤ 1 s: ${targets.cDeathSeenWithin1s ? 'met' : 'MISSED'}`,
  );
  const out = {
    date: new Date().toISOString(),
    machine: { cpus: cpus().length, model: cpus()[0]?.model, node: process.version },
    engine: { version: version.Version, api: version.ApiVersion, image: IMAGE },
    settings: {
      stepMs: STEP_MS,
      killAtMs: KILL_AT_MS,
      minutesAB: MINUTES_AB,
      minutesC: MINUTES_C,
      sizes: SIZES,
    },
    results,
    syncWallTime: sync,
    targets,
  };
  await writeFile(new URL('./results/monitoring.json', import.meta.url), `${JSON.stringify(out, null, 2)}\n`);
  console.log('wrote bench/results/monitoring.json');
  await engine.close();
}

function print(r: Result) {
  const seen = r.deathSeenAfterMs === undefined ? 'not seen' : `${(r.deathSeenAfterMs / 1000).toFixed(3)} s`;
  console.log(
    `${String(r.workers).padStart(3)} workers  ${r.scenario.padEnd(52)} ${r.callsPerMinute.toFixed(1).padStart(7)} calls/min  death seen after ${seen.padStart(9)} (${r.deathSeenBy})  overhead ${(r.overhead * 100).toFixed(2)}%`,
  );
}

await main();
