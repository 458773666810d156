import { writeFile } from 'node:fs/promises';
import { isOrdoError, WorkerStatus } from '@ordo/contracts';
import { ManualClock } from '@ordo/contracts/testing';
import { expect, it } from 'vitest';
import { ContainerLauncher, type ContainerLauncherOptions, createPoller } from '../src/index.js';
import { nextStatus, tempDir } from './helpers.js';
import { describeOnRealEngine, docker, engine, eventually, IMAGE, warnIfSkipped } from './realEngine.js';

// Against a real Docker engine (see realEngine.ts): skipped without one, failing with ORDO_REQUIRE_DOCKER=1.
const TEST_LABEL = { 'ordo.test': 'launcher' };
warnIfSkipped('the real Docker engine tests');

/** A worker that writes a heartbeat every second, atomically, until `freeze-<id>` appears in the dir. */
const WORKER = [
  'sh',
  '-c',
  [
    'hb="$ORDO_HEARTBEAT_DIR/worker-$ORDO_WORKER_ID.json"',
    'while true; do',
    '  if [ ! -e "$ORDO_HEARTBEAT_DIR/freeze-$ORDO_WORKER_ID" ]; then',
    '    printf \'{"workerId":"%s","ts":%s000}\' "$ORDO_WORKER_ID" "$(date +%s)" > "$hb.tmp" && mv "$hb.tmp" "$hb"',
    '  fi',
    '  sleep 1',
    'done',
  ].join('\n'),
];

function launcher(options: Partial<ContainerLauncherOptions> = {}): ContainerLauncher {
  return new ContainerLauncher({
    docker: docker ?? { socketPath: '/nonexistent' },
    image: IMAGE,
    labels: TEST_LABEL,
    cooldownMs: 0,
    ...options,
  });
}

describeOnRealEngine('ContainerLauncher on a real Docker engine', TEST_LABEL['ordo.test'], () => {
  it('3 heartbeat workers: a kill is CRASHED through events, a frozen heartbeat is STALLED, terminateAll cleans up', async () => {
    await using hb = await tempDir();
    const clock = new ManualClock(Date.now());
    await using workers = launcher({
      cmd: WORKER,
      heartbeatDir: hb.path,
      staleAfterMs: 60_000,
      clock,
      healthCheck: { cmd: ['sh', '-c', 'test ! -e "$ORDO_HEARTBEAT_DIR/freeze-$ORDO_WORKER_ID"'] },
    });
    for (const id of ['w1', 'w2', 'w3']) await workers.spawn(id);
    expect(workers.eventsConnected).toBe(true);
    await eventually(async () =>
      [...(await workers.syncState()).values()].every((s) => s === WorkerStatus.READY),
    );

    // Kill w1 behind the launcher's back: the events stream reports it, no poll needed.
    const lists = workers.apiCalls()['GET /containers/json'];
    const crashed = nextStatus(workers, 'w1', WorkerStatus.CRASHED);
    await engine?.request({
      method: 'POST',
      path: `/containers/${workers.handle('w1')?.containerId}/kill`,
      endpoint: 'kill',
    });
    expect((await crashed).reason).toMatch(/^exit code 137 after signal/);
    expect(workers.apiCalls()['GET /containers/json']).toBe(lists);

    // Freeze w2's heartbeat; an hour later every heartbeat is stale, and only w2 fails its exec check.
    await writeFile(`${hb.path}/freeze-w2`, '');
    clock.setNow(Date.now() + 3_600_000);
    const states = await workers.syncState();
    expect(Object.fromEntries(states)).toEqual({ w1: 'crashed', w2: 'stalled', w3: 'ready' });
    expect(workers.handle('w2')?.reason).toMatch(/heartbeat stale .*exec health check failed: exit code 1/);
    expect(workers.apiCalls()['POST /containers/{id}/exec']).toBe(2); // w2 and w3; never for fresh heartbeats before

    await workers.terminateAll({ graceMs: 0 });
    const left = await engine?.request({
      method: 'GET',
      path: '/containers/json',
      endpoint: 'list',
      query: { all: 1, filters: JSON.stringify({ label: [`ordo.run-id=${workers.runId}`] }) },
    });
    expect(left?.json()).toEqual([]);
  });

  it('with events off, a kill is seen on the next poll tick', async () => {
    await using quiet = launcher({ cmd: ['sleep', '300'], events: false });
    await quiet.spawn('w1');
    await using poller = createPoller({ launcher: quiet, intervalMs: 15_000 });
    expect((await poller.tick())?.get('w1')).toBe(WorkerStatus.READY);
    const id = quiet.handle('w1')?.containerId;
    await engine?.request({ method: 'POST', path: `/containers/${id}/kill`, endpoint: 'kill' });
    await engine?.request({ method: 'POST', path: `/containers/${id}/wait`, endpoint: 'wait' }); // until it is down
    expect((await poller.tick())?.get('w1')).toBe(WorkerStatus.CRASHED);
    expect(quiet.apiCalls()['GET /events']).toBeUndefined();
    await quiet.terminateAll({ graceMs: 0 });
  });

  it('a container that exits at start is CRASHED with its last log lines', async () => {
    await using failing = launcher({
      cmd: ['sh', '-c', 'echo booting >&2; echo "fatal: no config at /etc/w.yaml" >&2; exit 3'],
    });
    const crashed = nextStatus(failing, 'w1', WorkerStatus.CRASHED);
    await failing.spawn('w1');
    const change = await crashed;
    expect(change.reason).toBe('exit code 3; last output: "booting | fatal: no config at /etc/w.yaml"');
    expect(failing.handle('w1')).toMatchObject({
      exitCode: 3,
      logTail: ['booting', 'fatal: no config at /etc/w.yaml'],
    });
    await failing.terminateAll({ graceMs: 0 });
  });

  it('a missing image is LAUNCHER_IMAGE_NOT_FOUND', async () => {
    await using missing = launcher({ image: 'ordo-test/does-not-exist:0', events: false });
    const error = await missing.spawn('w1').catch((e: unknown) => e);
    expect(isOrdoError(error, 'LAUNCHER_IMAGE_NOT_FOUND')).toBe(true);
  });
});
