/**
 * Docker workers: a `ContainerLauncher` runs two busybox workers, watched in `batch` mode (one list call per
 * poll, whatever the worker count) plus the engine's `/events` stream. One worker is killed behind the
 * launcher's back: the events stream reports it CRASHED at once, without a poll. `terminateAll` removes the
 * rest. With no engine reachable, it says how to start one and exits 0.
 */
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { pathToFileURL } from 'node:url';
import { isOrdoError, type WorkerStatusChange } from '@ordo/contracts';
import { ContainerLauncher, createPoller, type DockerConnection, dockerFromEnv } from '@ordo/launcher';

/** The image `scripts/docker-engine.sh start` imports into its engine. */
export const IMAGE = 'ordo-test/busybox:1';

/** What the example found, for its smoke test. */
export type DockerWorkersDemo =
  | { readonly engine: 'unavailable'; readonly message: string }
  | {
      readonly engine: 'used';
      /** Statuses after the first poll. */
      readonly firstPoll: Readonly<Record<string, string>>;
      /** The killed worker's CRASHED change. */
      readonly crash: WorkerStatusChange;
      /** Whether the events stream was connected when the crash came in. */
      readonly viaEvents: boolean;
      /** List calls made by the poll and while waiting for the crash (the crash itself needs none). */
      readonly listCalls: { afterPoll: number; afterCrash: number };
      /** Every status change, `worker: from → to`. */
      readonly changes: readonly string[];
      /** Containers of this run still on the engine after `terminateAll`. */
      readonly leftAfterTerminate: number;
    };

const HOW_TO_START = [
  'No Docker engine is reachable. To run this example against a private engine (no bridge, no iptables):',
  '',
  '  ORDO_DOCKER_DIR=/tmp/ordo-docker-dev scripts/docker-engine.sh start   # from the repository root; prints DOCKER_HOST=…',
  '  export DOCKER_HOST=unix:///tmp/ordo-docker-dev/docker.sock',
  '  pnpm --filter @ordo/example-docker-workers start',
  '  ORDO_DOCKER_DIR=/tmp/ordo-docker-dev scripts/docker-engine.sh stop    # when done',
  '',
  'Any engine works (DOCKER_HOST=unix://… or tcp://… with DOCKER_TLS_VERIFY and DOCKER_CERT_PATH) once it has',
  `the ${IMAGE} image, which the script imports from the host's busybox.`,
].join('\n');

/**
 * A busybox worker: says hello, idles, and exits 0 at once on SIGTERM (a shell as PID 1 ignores it otherwise,
 * and `terminate` would wait for the grace period).
 */
const WORKER_CMD = [
  'sh',
  '-c',
  'echo "worker $ORDO_WORKER_ID up"; trap "exit 0" TERM; while true; do sleep 1 & wait $!; done',
];

/** Runs the whole demonstration, printing through `log`. `docker` defaults to `DOCKER_HOST`. */
export async function main(
  log: (line: string) => void = console.log,
  { docker = dockerFromEnv() }: { docker?: DockerConnection } = {},
): Promise<DockerWorkersDemo> {
  await using launcher = new ContainerLauncher({
    docker,
    image: IMAGE,
    cmd: WORKER_CMD,
    mode: 'batch', // one GET /containers/json per poll for all workers
    events: true, // plus a long-lived GET /events: deaths are seen within a second
    labels: { 'ordo.example': 'docker-workers' },
  });
  const changes: string[] = [];
  launcher.on('status', ({ workerId, from, to, reason }) => {
    changes.push(`${workerId}: ${from} → ${to}`);
    log(`  [${workerId}: ${from} → ${to}${reason ? ` (${reason})` : ''}]`);
  });
  launcher.on('events', ({ connected, reason }) =>
    log(`  [events stream ${connected ? 'up' : 'down'}: ${reason}]`),
  );

  log(`engine: ${launcher.engine}, run ${launcher.runId}`);
  try {
    await Promise.all(['w1', 'w2'].map((id) => launcher.spawn(id)));
  } catch (error) {
    if (!isOrdoError(error, 'LAUNCHER_ENGINE_UNAVAILABLE')) throw error;
    log(`${error.code}: ${error.message}\n\n${HOW_TO_START}`);
    return { engine: 'unavailable', message: error.message };
  }
  const list = () => launcher.apiCalls()['GET /containers/json'] ?? 0;

  // A poll (what `poller.start()` does every `intervalMs`): one list call for both workers.
  await using poller = createPoller({ launcher, intervalMs: 15_000 });
  const firstPoll = Object.fromEntries([...((await poller.tick()) ?? [])].sort());
  log(`poll: ${JSON.stringify(firstPoll)} (list calls so far: ${list()})`);
  const afterPoll = list();

  // Kill w2 behind the launcher's back (as the OOM killer or an operator would) and wait for the events stream.
  const w2 = launcher.handle('w2');
  if (!w2) throw new Error('w2 was not spawned');
  const crashed = new Promise<WorkerStatusChange>((resolve, reject) => {
    const timeout = setTimeout(() => reject(new Error('w2 was not reported crashed within 60 s')), 60_000);
    launcher.on('status', (change) => {
      if (change.workerId !== 'w2' || change.to !== 'crashed') return;
      clearTimeout(timeout);
      resolve(change);
    });
  });
  log(`\nkilling w2 (container ${w2.containerId.slice(0, 12)}) with SIGKILL`);
  await engineRequest(docker, 'POST', `/containers/${w2.containerId}/kill?signal=KILL`);
  const crash = await crashed;
  const viaEvents = launcher.eventsConnected;
  const afterCrash = list();
  log(`w2 crashed: ${crash.reason}; seen through ${viaEvents ? 'the events stream' : 'a poll'}`);
  log(`list calls: ${afterPoll} after the poll, ${afterCrash} after the crash`);
  log(`w2's last log lines: ${JSON.stringify(launcher.handle('w2')?.logTail ?? [])}`);

  log('\nterminateAll:');
  await launcher.terminateAll({ graceMs: 5_000 });
  const left = await engineRequest(
    docker,
    'GET',
    `/containers/json?all=1&filters=${encodeURIComponent(JSON.stringify({ label: [`ordo.run-id=${launcher.runId}`] }))}`,
  );
  const leftAfterTerminate = (JSON.parse(left) as unknown[]).length;
  log(`containers of this run left on the engine: ${leftAfterTerminate}`);
  log(`Engine API calls by endpoint: ${JSON.stringify(launcher.apiCalls())}`);
  return {
    engine: 'used',
    firstPoll,
    crash,
    viaEvents,
    listCalls: { afterPoll, afterCrash },
    changes,
    leftAfterTerminate,
  };
}

/** One Engine API call with Node's own client (the launcher does not expose raw calls). Resolves the body. */
function engineRequest(docker: DockerConnection, method: string, path: string): Promise<string> {
  const tls = 'url' in docker ? docker.tls : undefined;
  const target =
    'socketPath' in docker
      ? { socketPath: docker.socketPath }
      : (({ hostname, port }) => ({ hostname, port, ...tls }))(new URL(docker.url.replace(/^tcp:/, 'http:')));
  return new Promise((resolve, reject) => {
    const req = (tls ? httpsRequest : httpRequest)({ ...target, method, path }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (chunk: string) => {
        body += chunk;
      });
      res.on('end', () =>
        (res.statusCode ?? 500) < 300
          ? resolve(body)
          : reject(new Error(`${method} ${path}: ${res.statusCode} ${body}`)),
      );
    });
    req.on('error', reject).end();
  });
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await main();
