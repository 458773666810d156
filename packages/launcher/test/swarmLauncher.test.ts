import { randomBytes } from 'node:crypto';
import { isOrdoError, type Policy, WorkerStatus } from '@ordo/contracts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SwarmLauncher, type SwarmLauncherOptions } from '../src/index.js';
import { demux } from '../src/internal/engine.js';
import { nextStatus, tempDir } from './helpers.js';
import {
  describeOnRealEngine,
  docker,
  engine,
  eventually,
  IMAGE,
  reachable,
  warnIfSkipped,
} from './realEngine.js';

// Against a real Docker engine (see realEngine.ts), put in swarm mode for these tests when it is not already:
// skipped without an engine, failing with ORDO_REQUIRE_DOCKER=1.
const TEST = 'swarm';
warnIfSkipped('the Docker Swarm tests');

interface SwarmInfo {
  Name: string;
  Swarm: { LocalNodeState: string; NodeID: string; ControlAvailable: boolean };
}

async function info(): Promise<SwarmInfo> {
  const res = await engine?.request({ method: 'GET', path: '/info', endpoint: 'info' });
  return res?.json<SwarmInfo>() as SwarmInfo;
}

const swarmAtStart = reachable ? (await info()).Swarm.LocalNodeState : undefined;
if (swarmAtStart === 'active') {
  console.warn('[launcher] the engine is already a swarm: skipping the "not a swarm manager" test.');
}

function launcher(options: Partial<SwarmLauncherOptions> = {}): SwarmLauncher {
  return new SwarmLauncher({
    docker: docker ?? { socketPath: '/nonexistent' },
    image: IMAGE,
    labels: { 'ordo.test': TEST },
    cooldownMs: 0,
    stopGraceMs: 0,
    ...options,
  });
}

/** What the engine holds with `label` (services, secrets, containers). */
async function leftovers(
  label: string,
): Promise<{ services: unknown[]; secrets: unknown[]; containers: unknown[] }> {
  const filters = JSON.stringify({ label: [label] });
  const get = async (path: string, query: Record<string, string | number> = {}) =>
    (await engine?.request({ method: 'GET', path, endpoint: path, query: { filters, ...query } }))?.json<
      unknown[]
    >() ?? [];
  return {
    services: await get('/services'),
    secrets: await get('/secrets'),
    containers: await get('/containers/json', { all: 1 }),
  };
}

describeOnRealEngine('SwarmLauncher on a real Docker engine', TEST, () => {
  it.skipIf(swarmAtStart === 'active')(
    'an engine that is not a swarm manager is LAUNCHER_SWARM_NOT_ACTIVE, telling to run docker swarm init',
    async () => {
      await using workers = launcher({ secrets: [{ name: 'tok', data: 'x'.repeat(16) }] });
      const error = await workers.spawn('w1').catch((e: unknown) => e);
      expect(isOrdoError(error, 'LAUNCHER_SWARM_NOT_ACTIVE')).toBe(true);
      expect((error as Error).message).toMatch(/docker swarm init/);
    },
  );

  describe('in swarm mode', () => {
    let initialised = false;
    beforeAll(async () => {
      if (!reachable || (await info()).Swarm.LocalNodeState === 'active') return;
      await engine?.request({
        method: 'POST',
        path: '/swarm/init',
        endpoint: 'swarm init',
        body: { ListenAddr: '127.0.0.1:2377', AdvertiseAddr: '127.0.0.1' },
      });
      initialised = true;
    }, 60_000);
    afterAll(async () => {
      if (!reachable) return;
      // Whatever a failed test left: services first (their secrets are in use until then).
      const left = await leftovers(`ordo.test=${TEST}`).catch(() => undefined);
      for (const s of (left?.services ?? []) as { ID: string }[]) {
        await engine?.request({ method: 'DELETE', path: `/services/${s.ID}`, endpoint: 'rm', ok: [404] });
      }
      if (initialised) {
        await engine?.request({
          method: 'POST',
          path: '/swarm/leave',
          endpoint: 'leave',
          query: { force: 1 },
        });
      }
    }, 60_000);

    it('3 workers with a secret file: READY (task running) on a node, a kill seen through events, terminate and close clean up', async () => {
      const token = `s3cr3t-${randomBytes(12).toString('hex')}`;
      const node = await info();
      await using workers = launcher({
        secrets: [{ name: 'ordo-worker', data: token, env: 'ORDO_WORKER_TOKEN_FILE' }],
        // Prints the secret file, and how many environment variables hold its content (0), then waits.
        cmd: [
          'sh',
          '-c',
          'echo "token=$(cat "$ORDO_WORKER_TOKEN_FILE")"; echo "in-env=$(env | grep -c -F -f "$ORDO_WORKER_TOKEN_FILE")"; exec sleep 300',
        ],
      });
      const ids = ['w1', 'w2', 'w.3']; // w.3 is no valid service name: the launcher names it by a hash
      for (const id of ids) await workers.spawn(id);
      expect(workers.eventsConnected).toBe(true);
      await eventually(async () =>
        [...(await workers.syncState()).values()].every((s) => s === WorkerStatus.READY),
      );

      // One task list per sync, whatever the worker count; the node list was read once and cached.
      const calls = workers.apiCalls();
      await workers.syncState();
      expect(workers.apiCalls()['GET /tasks']).toBe((calls['GET /tasks'] ?? 0) + 1);
      expect(workers.apiCalls()['GET /nodes']).toBe(1);
      for (const id of ids) {
        expect(workers.handle(id)?.node).toEqual({ nodeId: node.Swarm.NodeID, hostname: node.Name });
      }
      expect(workers.handle('w.3')?.serviceName).toMatch(/^ordo-[0-9a-f]{24}$/);

      // The secret is a file in the task, and neither in the task's environment nor in the service spec.
      const w1 = workers.handle('w1');
      await eventually(async () => {
        const logs = await engine?.request({
          method: 'GET',
          path: `/services/${w1?.serviceId}/logs`,
          endpoint: 'logs',
          query: { stdout: 1, stderr: 1 },
        });
        const text = demux(logs?.body ?? Buffer.alloc(0));
        return text.includes(`token=${token}`) && text.includes('in-env=0');
      });
      const service = await engine?.request({
        method: 'GET',
        path: `/services/${w1?.serviceId}`,
        endpoint: 'svc',
      });
      const containerSpec = service?.json<{
        Spec: { TaskTemplate: { ContainerSpec: { Env: string[]; Secrets: { File: { Name: string } }[] } } };
      }>().Spec.TaskTemplate.ContainerSpec;
      expect(containerSpec?.Env).toContain('ORDO_WORKER_TOKEN_FILE=/run/secrets/ordo-worker');
      expect(containerSpec?.Secrets.map((s) => s.File.Name)).toEqual(['ordo-worker']);
      expect(service?.body.toString('utf8')).not.toContain(token);

      // Kill w1's container behind the launcher's back: the events stream reports it, no task list needed.
      const tasks = workers.apiCalls()['GET /tasks'];
      const crashed = nextStatus(workers, 'w1', WorkerStatus.CRASHED, 5_000);
      await engine?.request({
        method: 'POST',
        path: `/containers/${w1?.containerId}/kill`,
        endpoint: 'kill',
      });
      expect((await crashed).reason).toMatch(/^exit code 137 after signal/);
      expect(workers.apiCalls()['GET /tasks']).toBe(tasks);
      expect(w1?.status).toBe(WorkerStatus.CRASHED);

      // terminate removes exactly that worker's service.
      await workers.terminate('w2');
      expect(workers.handle('w2')?.status).toBe(WorkerStatus.STOPPED);
      const services = (await leftovers(`ordo.run-id=${workers.runId}`)).services as { ID: string }[];
      expect(services.map((s) => s.ID).sort()).toEqual(
        [w1?.serviceId, workers.handle('w.3')?.serviceId].sort(),
      );
      expect(Object.fromEntries(await workers.syncState())).toEqual({
        w1: 'crashed',
        w2: 'stopped',
        'w.3': 'ready',
      });

      await workers.close();
      await eventually(async () => {
        const left = await leftovers(`ordo.run-id=${workers.runId}`);
        return left.services.length + left.secrets.length + left.containers.length === 0;
      });
    });

    it('with events off, a kill is seen by the next syncState (the task state); every call goes through the policy', async () => {
      // A pass-through policy that counts what it runs: each Engine API call must be one of them.
      let executed = 0;
      const policy: Policy = {
        execute: (fn, signal) => {
          executed++;
          return Promise.resolve(fn({ signal: signal ?? new AbortController().signal }));
        },
      };
      await using quiet = launcher({ cmd: ['sleep', '300'], events: false, policy });
      await quiet.spawn('w1');
      await eventually(async () => (await quiet.syncState()).get('w1') === WorkerStatus.READY);
      const id = quiet.handle('w1')?.containerId;
      await engine?.request({ method: 'POST', path: `/containers/${id}/kill`, endpoint: 'kill' });
      await eventually(async () => (await quiet.syncState()).get('w1') === WorkerStatus.CRASHED);
      expect(quiet.handle('w1')?.reason).toMatch(/^exit code 137/);
      expect(quiet.apiCalls()['GET /events']).toBeUndefined();
      expect(executed).toBe(Object.values(quiet.apiCalls()).reduce((a, b) => a + b, 0));
    });

    it('with heartbeatDir, the task writes its heartbeat in the mounted dir and is RUNNING its task', async () => {
      await using hb = await tempDir();
      await using beating = launcher({
        heartbeatDir: hb.path,
        staleAfterMs: 600_000,
        cmd: [
          'sh',
          '-c',
          'printf \'{"workerId":"%s","ts":%s000,"taskId":"t1"}\' "$ORDO_WORKER_ID" "$(date +%s)" > "$ORDO_HEARTBEAT_DIR/worker-$ORDO_WORKER_ID.json"; exec sleep 300',
        ],
      });
      await beating.spawn('w1');
      await eventually(async () => (await beating.syncState()).get('w1') === WorkerStatus.RUNNING);
      expect(beating.handle('w1')?.reason).toBe('running task t1');
    });

    it('a task that exits at start is CRASHED with its last log lines; exit 0 is STOPPED', async () => {
      await using failing = launcher();
      const crashed = nextStatus(failing, 'bad', WorkerStatus.CRASHED, 30_000);
      const stopped = nextStatus(failing, 'ok', WorkerStatus.STOPPED, 30_000);
      await failing.spawn('bad', {
        args: ['sh', '-c', 'echo "fatal: no config at /etc/w.yaml" >&2; exit 3'],
      });
      await failing.spawn('ok', { args: ['true'] });
      expect((await crashed).reason).toBe('exit code 3; last output: "fatal: no config at /etc/w.yaml"');
      expect(failing.handle('bad')).toMatchObject({
        exitCode: 3,
        logTail: ['fatal: no config at /etc/w.yaml'],
      });
      expect((await stopped).reason).toBe('exited with code 0');
    });

    it('refuses a secret in the environment, a missing image, and a service or secret left by a run with the same id', async () => {
      const secret = { name: 'tok', data: 'hunter2-hunter2' };
      await using workers = launcher({ secrets: [secret] });
      const inEnv = await workers.spawn('w1', { env: { TOKEN: secret.data } }).catch((e: unknown) => e);
      expect(isOrdoError(inEnv, 'LAUNCHER_INVALID_OPTIONS')).toBe(true);
      expect(() => launcher({ secrets: [secret], env: { T: `Bearer ${secret.data}` } })).toThrow(
        /secret "tok"/,
      );

      await using missing = launcher({ image: 'ordo-test/does-not-exist:0', events: false });
      const notFound = await missing.spawn('w1').catch((e: unknown) => e);
      expect(isOrdoError(notFound, 'LAUNCHER_IMAGE_NOT_FOUND')).toBe(true);

      await workers.spawn('w1', { args: ['sleep', '300'] });
      await using again = launcher({ runId: workers.runId, secrets: [secret], events: false });
      const clash = await again.spawn('w1').catch((e: unknown) => e);
      expect(isOrdoError(clash, 'LAUNCHER_ENGINE_ERROR')).toBe(true);
      expect((clash as Error).message).toMatch(/already exists .*terminateAll\(\)/);
      // Its terminateAll removes what the first one made, as after a host restart.
      await again.terminateAll();
      expect(await leftovers(`ordo.run-id=${workers.runId}`)).toMatchObject({ services: [], secrets: [] });
    });

    it('a secret that cannot be created removes the ones made before it, so the next spawn starts clean', async () => {
      await using first = launcher({ secrets: [{ name: 'b', data: 'second-secret' }], events: false });
      await first.spawn('w1', { args: ['sleep', '300'] });
      // Same run id: "a" is new, "b" clashes with the first launcher's.
      await using second = launcher({
        runId: first.runId,
        secrets: [
          { name: 'a', data: 'first-secret' },
          { name: 'b', data: 'second-secret' },
        ],
        events: false,
      });
      const clash = await second.spawn('w2').catch((e: unknown) => e);
      expect(isOrdoError(clash, 'LAUNCHER_ENGINE_ERROR')).toBe(true);
      // Only the first launcher's secret is left: "a" was removed when "b" failed.
      expect((await leftovers(`ordo.run-id=${first.runId}`)).secrets).toHaveLength(1);
      await first.terminateAll();
      expect(await leftovers(`ordo.run-id=${first.runId}`)).toMatchObject({ services: [], secrets: [] });
    });
  });
});
