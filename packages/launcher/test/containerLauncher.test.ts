import { isOrdoError, WorkerStatus } from '@ordo/contracts';
import { ManualClock, RecordingLogger } from '@ordo/contracts/testing';
import { describe, expect, it } from 'vitest';
import {
  ContainerLauncher,
  createPoller,
  dockerFromEnv,
  type EventsStreamChange,
  writeHeartbeat,
} from '../src/index.js';
import { type FakeEngine, launcherOn, startFakeEngine, TLS_DIR } from './fakeEngine.js';
import { nextStatus, tempDir } from './helpers.js';

function eventsState(launcher: ContainerLauncher, connected: boolean): Promise<EventsStreamChange> {
  return new Promise((resolve) => {
    const listener = (change: EventsStreamChange) => {
      if (change.connected !== connected) return;
      launcher.off('events', listener);
      resolve(change);
    };
    launcher.on('events', listener);
  });
}

const LIST = /^\/containers\/json$/;

describe('ContainerLauncher (against a fake Engine API on a unix socket)', () => {
  it('creates labelled containers with network none, the worker env, mounts and limits', async () => {
    await using fake = await startFakeEngine();
    await using hb = await tempDir();
    await using launcher = launcherOn(fake, {
      events: false,
      cmd: ['worker'],
      env: { A: 'a' },
      labels: { team: 'x' },
      mounts: [{ source: '/srv/data', target: '/data', readOnly: true }],
      limits: { memoryBytes: 64 * 2 ** 20, cpus: 0.5, pidsLimit: 32 },
      heartbeatDir: hb.path,
    });
    const handle = await launcher.spawn('w1', { args: ['--fast'], env: { B: 'b' }, labels: { role: 'y' } });
    const c = fake.byWorker('w1');
    expect(handle).toMatchObject({
      containerId: c.Id,
      containerName: 'ordo-run1-w1',
      status: 'initializing',
    });
    expect(c.name).toBe('ordo-run1-w1');
    expect(c.body).toMatchObject({
      Image: 'ordo-test/fake:1',
      Cmd: ['worker', '--fast'],
      Env: ['A=a', 'B=b', 'ORDO_WORKER_ID=w1', 'ORDO_HEARTBEAT_DIR=/ordo/heartbeats'],
      Labels: { team: 'x', role: 'y', 'ordo.run-id': 'run1', 'ordo.worker-id': 'w1' },
      HostConfig: {
        NetworkMode: 'none',
        Binds: ['/srv/data:/data:ro', `${hb.path}:/ordo/heartbeats`],
        Memory: 64 * 2 ** 20,
        NanoCpus: 5e8,
        PidsLimit: 32,
      },
    });
    expect(launcher.apiCalls()).toEqual({ 'POST /containers/create': 1, 'POST /containers/{id}/start': 1 });
  });

  it('without a heartbeat dir a started container is READY', async () => {
    await using fake = await startFakeEngine();
    await using launcher = launcherOn(fake, { events: false });
    const handle = await launcher.spawn('w1');
    expect(handle.status).toBe(WorkerStatus.READY);
    expect(handle.readyAt).toBe(handle.startedAt);
  });

  it('a missing image is LAUNCHER_IMAGE_NOT_FOUND, naming the image and what to do', async () => {
    await using fake = await startFakeEngine();
    await using launcher = launcherOn(fake, { events: false, image: 'nope:1' });
    const error = await launcher.spawn('w1').catch((e: unknown) => e);
    expect(isOrdoError(error, 'LAUNCHER_IMAGE_NOT_FOUND')).toBe(true);
    expect((error as Error).message).toMatch(
      /Image "nope:1" is not on the Docker engine at unix:.*docker pull nope:1/,
    );
    expect(launcher.handle('w1')).toBeUndefined();
  });

  it('an unreachable engine is LAUNCHER_ENGINE_UNAVAILABLE, naming the socket and how to start one', async () => {
    await using dir = await tempDir();
    await using launcher = new ContainerLauncher({
      docker: { socketPath: `${dir.path}/missing.sock` },
      image: 'x:1',
      logger: new RecordingLogger(),
    });
    const error = await launcher.spawn('w1').catch((e: unknown) => e);
    expect(isOrdoError(error, 'LAUNCHER_ENGINE_UNAVAILABLE')).toBe(true);
    expect((error as Error).message).toContain(`unix://${dir.path}/missing.sock`);
    expect((error as Error).message).toMatch(/scripts\/docker-engine\.sh start/);
    expect(launcher.eventsConnected).toBe(false);
  });

  it('a reused name (same runId, same worker) says how to clean up', async () => {
    await using fake = await startFakeEngine();
    await using first = launcherOn(fake, { events: false });
    await first.spawn('w1');
    await using second = launcherOn(fake, { events: false });
    const error = await second.spawn('w1').catch((e: unknown) => e);
    expect(isOrdoError(error, 'LAUNCHER_ENGINE_ERROR')).toBe(true);
    expect((error as Error).message).toMatch(/already exists.*terminateAll\(\)/);
  });

  it('cooldown: monitor answers from the cache for cooldownMs, then asks the engine', async () => {
    await using fake = await startFakeEngine();
    const clock = new ManualClock(Date.now());
    await using launcher = launcherOn(fake, { events: false, cooldownMs: 10_000, clock });
    await launcher.spawn('w1');
    await launcher.spawn('w2');
    expect(await launcher.monitor('w1')).toBe(WorkerStatus.READY); // checked at spawn: cached
    expect(fake.count('GET', LIST)).toBe(0);
    clock.advance(10_000);
    await launcher.monitor('w1');
    expect(fake.count('GET', LIST)).toBe(1);
    await launcher.monitor('w2'); // the batch refreshed w2 too
    await launcher.monitor('w1');
    clock.advance(9_999);
    fake.die(fake.byWorker('w1').Id, 1, { silent: true });
    expect(await launcher.monitor('w1')).toBe(WorkerStatus.READY); // stale by design, inside the cooldown
    expect(fake.count('GET', LIST)).toBe(1);
    clock.advance(1);
    expect(await launcher.monitor('w1')).toBe(WorkerStatus.CRASHED);
    expect(fake.count('GET', LIST)).toBe(2);
  });

  it('batch: syncState is ONE list call for all workers, and a crash carries the last log lines', async () => {
    await using fake = await startFakeEngine();
    await using launcher = launcherOn(fake, { events: false });
    for (const id of ['a', 'b', 'c', 'd', 'e']) await launcher.spawn(id);
    fake.die(fake.byWorker('c').Id, 2, { silent: true, logs: 'starting\nconfig missing: /etc/w.yaml\n' });
    const before = launcher.apiCalls();
    const states = await launcher.syncState();
    expect(Object.fromEntries(states)).toEqual({
      a: 'ready',
      b: 'ready',
      c: 'crashed',
      d: 'ready',
      e: 'ready',
    });
    const after = launcher.apiCalls();
    expect(after['GET /containers/json']).toBe(1);
    expect(after['GET /containers/{id}/logs']).toBe(1); // only for the dead one
    expect(Object.values(after).reduce((x, y) => x + y) - Object.values(before).reduce((x, y) => x + y)).toBe(
      2,
    );
    expect(launcher.handle('c')).toMatchObject({
      exitCode: 2,
      logTail: ['starting', 'config missing: /etc/w.yaml'],
      reason: 'exit code 2; last output: "starting | config missing: /etc/w.yaml"',
    });
    expect(fake.calls.find((c) => LIST.test(c.path))?.query.get('filters')).toBe(
      '{"label":["ordo.run-id=run1"]}',
    );
  });

  it('per-container mode: one inspect per worker', async () => {
    await using fake = await startFakeEngine();
    await using launcher = launcherOn(fake, { events: false, mode: 'per-container', cooldownMs: 0 });
    for (const id of ['a', 'b', 'c']) await launcher.spawn(id);
    await launcher.syncState();
    expect(launcher.apiCalls()['GET /containers/{id}/json']).toBe(3);
    expect(launcher.apiCalls()['GET /containers/json']).toBeUndefined();
  });

  it('exit 0 is STOPPED; a container removed behind our back is CRASHED', async () => {
    await using fake = await startFakeEngine();
    await using launcher = launcherOn(fake, { events: false });
    await launcher.spawn('done');
    await launcher.spawn('gone');
    fake.die(fake.byWorker('done').Id, 0, { silent: true });
    fake.containers.delete(fake.byWorker('gone').Id);
    const states = await launcher.syncState();
    expect(Object.fromEntries(states)).toEqual({ done: 'stopped', gone: 'crashed' });
    expect(launcher.handle('gone')?.reason).toMatch(/disappeared/);
  });

  it('events: a death is seen without any poll, with the signal and last log lines', async () => {
    await using fake = await startFakeEngine();
    await using launcher = launcherOn(fake);
    await launcher.spawn('w1');
    expect(launcher.eventsConnected).toBe(true);
    const crashed = nextStatus(launcher, 'w1', WorkerStatus.CRASHED);
    const c = fake.byWorker('w1');
    c.logs = 'working\nkilled\n';
    await fetchFake(fake, 'POST', `/containers/${c.Id}/kill`);
    expect((await crashed).reason).toBe('exit code 137 after signal 9; last output: "working | killed"');
    expect(launcher.apiCalls()['GET /containers/json']).toBeUndefined();
    expect(launcher.apiCalls()['GET /events']).toBe(1);
    // With the stream up, monitor makes no call at all.
    await launcher.spawn('w2');
    const calls = fake.calls.length;
    expect(await launcher.monitor('w2')).toBe(WorkerStatus.READY);
    expect(fake.calls.length).toBe(calls);
  });

  it('health: read from the batch list, and from health_status and oom events', async () => {
    await using fake = await startFakeEngine();
    await using polled = launcherOn(fake, { events: false, runId: 'polled' });
    await polled.spawn('w1');
    fake.byWorker('w1').health = 'unhealthy';
    expect((await polled.syncState()).get('w1')).toBe(WorkerStatus.STALLED);
    expect(polled.handle('w1')?.reason).toBe('the engine health check reports unhealthy');

    await using streamed = launcherOn(fake, { runId: 'streamed' });
    await streamed.spawn('w2');
    const c = fake.byWorker('w2');
    const stalled = nextStatus(streamed, 'w2', WorkerStatus.STALLED);
    fake.emit(c.Id, 'health_status: unhealthy');
    await stalled;
    const crashed = nextStatus(streamed, 'w2', WorkerStatus.CRASHED);
    fake.emit(c.Id, 'oom');
    fake.die(c.Id, 137);
    expect((await crashed).reason).toBe('out of memory (exit code 137)');
    expect(streamed.apiCalls()['GET /containers/json']).toBeUndefined();
  });

  it('events down: polls instead (never silently stale), reconnects with backoff and replays with since', async () => {
    await using fake = await startFakeEngine();
    const clock = new ManualClock(Date.now());
    const logger = new RecordingLogger();
    await using launcher = launcherOn(fake, {
      clock,
      logger,
      cooldownMs: 1_000,
      reconnect: { initialMs: 500, maxMs: 1_000 },
    });
    await launcher.spawn('w1');
    await launcher.spawn('w2');
    const down = eventsState(launcher, false);
    fake.dropEvents(true);
    expect((await down).reason).toBeTruthy();
    expect(logger.at('warn').some((r) => /events stream down/.test(r.msg ?? ''))).toBe(true);
    // While down: monitor falls back to the batch list after the cooldown.
    fake.die(fake.byWorker('w1').Id, 3);
    clock.advance(1_000);
    expect(await launcher.monitor('w1')).toBe(WorkerStatus.CRASHED);
    expect(fake.count('GET', LIST)).toBe(1);
    // Reconnect attempts follow the backoff on the launcher's clock; the engine refuses the first.
    await clock.advanceAsync(500);
    await until(() => fake.count('GET', /^\/events$/) === 2 && clock.pendingTimers === 1); // refused, backing off
    fake.allowEvents();
    fake.die(fake.byWorker('w2').Id, 4); // happens while the stream is down
    const up = eventsState(launcher, true);
    const crashed = nextStatus(launcher, 'w2', WorkerStatus.CRASHED);
    await clock.advanceAsync(1_000);
    await up;
    expect((await crashed).reason).toBe('exit code 4'); // replayed through since, not polled
    expect(fake.count('GET', LIST)).toBe(1);
    const reconnects = fake.calls.filter((c) => c.path === '/events');
    expect(reconnects).toHaveLength(3);
    expect(Number(reconnects[2]?.query.get('since'))).toBeGreaterThan(0);
  });

  it('stall timing: a stale heartbeat is STALLED on the clock, without any exec when none is configured', async () => {
    await using fake = await startFakeEngine();
    await using hb = await tempDir();
    const clock = new ManualClock(1_000_000);
    await using launcher = launcherOn(fake, {
      events: false,
      clock,
      heartbeatDir: hb.path,
      staleAfterMs: 30_000,
      cooldownMs: 0,
    });
    await launcher.spawn('w1');
    await writeHeartbeat(hb.path, { workerId: 'w1', taskId: 't1' }, { clock });
    expect(await launcher.monitor('w1')).toBe(WorkerStatus.RUNNING);
    clock.advance(30_000);
    expect(await launcher.monitor('w1')).toBe(WorkerStatus.RUNNING);
    clock.advance(1);
    expect(await launcher.monitor('w1')).toBe(WorkerStatus.STALLED);
    expect(launcher.handle('w1')?.reason).toBe('heartbeat stale for 30s');
    expect(launcher.apiCalls()['POST /containers/{id}/exec']).toBeUndefined();
  });

  it('exec health check: only for stale heartbeats, at most once per cooldown; failing means STALLED', async () => {
    await using fake = await startFakeEngine();
    await using hb = await tempDir();
    const clock = new ManualClock(1_000_000);
    await using launcher = launcherOn(fake, {
      events: false,
      clock,
      heartbeatDir: hb.path,
      staleAfterMs: 30_000,
      cooldownMs: 10_000,
      healthCheck: { cmd: ['test', '-f', '/tmp/ok'] },
    });
    await launcher.spawn('fresh');
    await launcher.spawn('busy');
    await launcher.spawn('frozen');
    for (const id of ['fresh', 'busy', 'frozen']) await writeHeartbeat(hb.path, { workerId: id }, { clock });
    clock.advance(10_000);
    await launcher.syncState();
    expect(launcher.apiCalls()['POST /containers/{id}/exec']).toBeUndefined(); // all fresh: no exec
    clock.advance(25_000);
    await writeHeartbeat(hb.path, { workerId: 'fresh' }, { clock });
    fake.byWorker('busy').execExitCode = 0;
    fake.byWorker('busy').execLag = 2; // the exit code shows on the third inspect
    fake.pause(fake.byWorker('frozen').Id);
    // `frozen` is paused: the engine list already says so.
    expect(Object.fromEntries(await launcher.syncState())).toEqual({
      fresh: 'ready',
      busy: 'ready',
      frozen: 'stalled',
    });
    expect(launcher.handle('busy')?.reason).toBe('heartbeat stale for 35s, but the exec health check passed');
    expect(launcher.apiCalls()['POST /containers/{id}/exec']).toBe(1); // busy only
    expect(launcher.apiCalls()['GET /exec/{id}/json']).toBe(3);
    await launcher.syncState();
    expect(launcher.apiCalls()['POST /containers/{id}/exec']).toBe(1); // inside the cooldown
    fake.byWorker('busy').execExitCode = 1;
    clock.advance(10_000);
    await launcher.syncState();
    expect(launcher.handle('busy')).toMatchObject({
      status: 'stalled',
      reason: 'heartbeat stale for 45s; exec health check failed: exit code 1',
      healthCheckAt: clock.now(),
    });
  });

  it('terminate stops and removes; terminateAll also removes orphans labelled with the run id', async () => {
    await using fake = await startFakeEngine();
    await using launcher = launcherOn(fake, { events: false });
    await launcher.spawn('a');
    await launcher.spawn('b');
    await using old = launcherOn(fake, { events: false });
    await old.spawn('orphan');
    await launcher.terminate('a', { graceMs: 1_500 });
    expect(fake.calls.find((c) => c.path.endsWith('/stop'))?.query.get('t')).toBe('2');
    expect(launcher.handle('a')).toMatchObject({ status: 'stopped', reason: 'terminated' });
    await launcher.terminateAll({ graceMs: 0 });
    expect(fake.containers.size).toBe(0);
    expect(launcher.handle('b')?.status).toBe(WorkerStatus.STOPPED);
  });

  it('adopt takes over the containers of an earlier launcher with the same runId', async () => {
    await using fake = await startFakeEngine();
    const first = launcherOn(fake, { events: false });
    await first.spawn('a');
    await first.spawn('b');
    fake.die(fake.byWorker('b').Id, 9, { silent: true, logs: 'oops\n' });
    await using second = launcherOn(fake);
    const adopted = await second.adopt();
    expect(adopted.map((h) => [h.workerId, h.status, h.containerName, h.startedAt])).toEqual([
      ['a', 'ready', 'ordo-run1-a', 1_700_000_000_000],
      ['b', 'crashed', 'ordo-run1-b', 1_700_000_000_000],
    ]);
    expect(second.handle('b')?.logTail).toEqual(['oops']);
    expect(await second.adopt()).toEqual([]); // already known
    await second.terminateAll({ graceMs: 0 });
    expect(fake.containers.size).toBe(0);
    await first.close();
  });

  it('works with createPoller: one list call per tick, calls per minute reported', async () => {
    await using fake = await startFakeEngine();
    const clock = new ManualClock(Date.now());
    await using launcher = launcherOn(fake, { clock });
    for (const id of ['a', 'b', 'c']) await launcher.spawn(id);
    await using poller = createPoller({ launcher, intervalMs: 15_000, clock });
    poller.start();
    for (let i = 0; i < 8; i++) {
      await clock.advanceAsync(15_000);
      await poller.tick();
    }
    expect(poller.stats()).toMatchObject({ ticks: 8, skipped: 0, apiCalls: 8, callsPerMinute: 4 });
  });

  it('rejects bad options and use after close', async () => {
    await using fake = await startFakeEngine();
    expect(() => launcherOn(fake, { image: '' })).toThrow(/image/);
    expect(() => launcherOn(fake, { cooldownMs: -1 })).toThrow(/cooldownMs/);
    expect(() => launcherOn(fake, { mode: 'sometimes' as never })).toThrow(/mode/);
    expect(() => launcherOn(fake, { runId: 'a b' })).toThrow(/runId/);
    const launcher = launcherOn(fake, { events: false });
    await launcher.close();
    const error = await launcher.spawn('w1').catch((e: unknown) => e);
    expect(isOrdoError(error, 'LAUNCHER_CLOSED')).toBe(true);
  });
});

describe('ContainerLauncher on a remote engine', () => {
  it('speaks to an engine over TCP', async () => {
    await using fake = await startFakeEngine('tcp');
    await using launcher = new ContainerLauncher({
      docker: dockerFromEnv({ DOCKER_HOST: fake.url }),
      image: 'ordo-test/fake:1',
    });
    expect(launcher.engine).toBe(fake.url.replace('tcp:', 'http:'));
    await launcher.spawn('w1');
    expect((await launcher.syncState()).get('w1')).toBe(WorkerStatus.READY);
    expect(launcher.eventsConnected).toBe(true);
  });

  it('speaks to an engine over TLS with client certificates from DOCKER_CERT_PATH', async () => {
    await using fake = await startFakeEngine('tls');
    const env = { DOCKER_HOST: fake.url, DOCKER_TLS_VERIFY: '1', DOCKER_CERT_PATH: TLS_DIR };
    await using launcher = new ContainerLauncher({ docker: dockerFromEnv(env), image: 'ordo-test/fake:1' });
    await launcher.spawn('w1');
    expect((await launcher.syncState()).get('w1')).toBe(WorkerStatus.READY);
    // Without the client certificate the engine refuses the handshake: the clear error, not a hang.
    const { tls } = dockerFromEnv(env) as { tls: { ca: Buffer } };
    await using anonymous = new ContainerLauncher({
      docker: { url: fake.url, tls: { ca: tls.ca } },
      image: 'ordo-test/fake:1',
      events: false,
    });
    const error = await anonymous.spawn('w2').catch((e: unknown) => e);
    expect(isOrdoError(error, 'LAUNCHER_ENGINE_UNAVAILABLE')).toBe(true);
    expect((error as Error).message).toContain(fake.url.replace('tcp:', 'https:'));
    expect((error as Error).message).toMatch(/client certificate and key \(DOCKER_CERT_PATH\)/);
  });
});

describe('dockerFromEnv', () => {
  it('reads DOCKER_HOST like the docker CLI', () => {
    expect(dockerFromEnv({})).toEqual({ socketPath: '/var/run/docker.sock' });
    expect(dockerFromEnv({ DOCKER_HOST: 'unix:///tmp/d.sock' })).toEqual({ socketPath: '/tmp/d.sock' });
    expect(dockerFromEnv({ DOCKER_HOST: 'tcp://10.0.0.5:2375' })).toEqual({ url: 'tcp://10.0.0.5:2375' });
    expect(() => dockerFromEnv({ DOCKER_HOST: 'ssh://me@host' })).toThrow(/unix:\/\/.*tcp:\/\//);
  });

  it('loads TLS material from DOCKER_CERT_PATH, and says which file is missing', async () => {
    await using dir = await tempDir();
    const { writeFile } = await import('node:fs/promises');
    for (const f of ['ca.pem', 'cert.pem', 'key.pem']) await writeFile(`${dir.path}/${f}`, f);
    const env = { DOCKER_HOST: 'tcp://h:2376', DOCKER_TLS_VERIFY: '1', DOCKER_CERT_PATH: dir.path };
    const conn = dockerFromEnv(env) as { url: string; tls: Record<string, unknown> };
    expect(conn.url).toBe('tcp://h:2376');
    expect(String(conn.tls.ca)).toBe('ca.pem');
    expect(conn.tls.rejectUnauthorized).toBe(true);
    expect(() => dockerFromEnv({ ...env, DOCKER_CERT_PATH: `${dir.path}/nope` })).toThrow(/ca\.pem/);
    const unchecked = dockerFromEnv({
      DOCKER_HOST: 'tcp://h:2376',
      DOCKER_TLS: '1',
      DOCKER_CERT_PATH: dir.path,
    });
    expect(unchecked).toMatchObject({ tls: { rejectUnauthorized: false } });
    expect(dockerFromEnv({ DOCKER_HOST: 'tcp://h:2375', DOCKER_CERT_PATH: dir.path })).toEqual({
      url: 'tcp://h:2375',
    });
  });
});

/** Sends a raw request to the fake engine, as another client would. */
async function fetchFake(fake: FakeEngine, method: string, path: string): Promise<void> {
  const { request } = await import('node:http');
  await new Promise<void>((resolve, reject) => {
    request({ socketPath: fake.socketPath, method, path }, (res) => {
      res.resume();
      res.on('end', resolve);
    })
      .on('error', reject)
      .end();
  });
}

/** Waits (in real time, for I/O; at most 15 s) until `condition` holds. */
async function until(condition: () => boolean): Promise<void> {
  for (let i = 0; i < 1500 && !condition(); i++) await new Promise((r) => setTimeout(r, 10));
  expect(condition()).toBe(true);
}
