import { setTimeout as delay } from 'node:timers/promises';
import {
  isTerminalWorkerStatus,
  type Launcher,
  type LauncherEvents,
  type Policy,
  type TerminateOptions,
  untilAborted,
  type WorkerHandle,
  type WorkerSpec,
  WorkerStatus,
} from '@ordo/contracts';
import type { ContainerLauncherOptions, EventsStreamChange } from './containerLauncher.js';
import type { DockerConnection } from './docker.js';
import { EngineRequestError, ImageNotFoundError, SwarmNotActiveError } from './errors.js';
import { type EngineRequest, type EngineResponse, logTail } from './internal/engine.js';
import { EngineLauncher, type EngineWorkerRecord } from './internal/engineLauncher.js';
import type { EngineEvent, EngineEventStream } from './internal/eventStream.js';
import { deathReason, liveHandle, newWorkerRecord } from './internal/launcherBase.js';
import {
  assertNoSecretInEnv,
  type PreparedSecret,
  prepareSecrets,
  type SwarmSecret,
  secretName,
  serviceName,
} from './internal/swarmSpec.js';
import { latestTasks, type SwarmTask, taskFinished, taskVerdict } from './internal/swarmTasks.js';
import { assertNumber } from './internal/validate.js';
import { type ContainerMount, RUN_ID_LABEL, WORKER_ID_LABEL } from './labels.js';

export type { SwarmSecret } from './internal/swarmSpec.js';

/** The container label Swarm puts on each task's container, naming its service. */
const SERVICE_ID_LABEL = 'com.docker.swarm.service.id';

/**
 * Options for {@link SwarmLauncher}. `cmd`, `limits` (of each task), `cooldownMs`, `reconnect`, `runId`
 * (also on the run's secrets), `logTailLines`, `clock` and `logger` mean what they mean for
 * `ContainerLauncher`.
 */
export interface SwarmLauncherOptions
  extends Pick<
    ContainerLauncherOptions,
    'cmd' | 'limits' | 'cooldownMs' | 'reconnect' | 'runId' | 'logTailLines' | 'clock' | 'logger'
  > {
  /** A manager of the swarm. @default dockerFromEnv() (DOCKER_HOST, else /var/run/docker.sock) */
  docker?: DockerConnection | undefined;
  /**
   * The image every worker runs. A name (`my-worker:1`) is resolved once, on the manager, to its image id,
   * and services run that id, so no node ever pulls (the launcher never pulls): on a multi-node swarm the
   * image must be on every node. A digest reference (`repo@sha256:…`) or an id (`sha256:…`) is used as it is
   * (Swarm pulls a digest a node lacks).
   */
  image: string;
  /**
   * Environment of every task; `ORDO_WORKER_ID` (and `ORDO_HEARTBEAT_DIR`, and each secret's `env`) are
   * added. A value that holds a secret's content is refused. @default {}
   */
  env?: Readonly<Record<string, string>> | undefined;
  /**
   * Secrets created for the run (`POST /secrets/create`, named `ordo-<runId>-<name>`, labelled with the run
   * id), mounted read-only at `/run/secrets/<name>` in every task, and removed by `terminateAll()` and
   * `close()`. The worker reads the file; an environment variable may carry only the path (`env`).
   *
   * @example `[{ name: 'ordo-worker', data: JSON.stringify({ url, token }), env: 'ORDO_WORKER_TOKEN_FILE' }]`
   * @default []
   */
  secrets?: readonly SwarmSecret[] | undefined;
  /** Labels of every service and task container, besides the run id and worker id labels. @default {} */
  labels?: Readonly<Record<string, string>> | undefined;
  /** Host directories to bind-mount (they must exist on the node the task lands on). @default [] */
  mounts?: readonly ContainerMount[] | undefined;
  /**
   * The network of the tasks: `'host'` (the node's network: a worker reaches the host's endpoint on
   * 127.0.0.1 of a single-node swarm), an overlay network's name or id, or `'none'`.
   * @default 'host'
   */
  network?: string | undefined;
  /**
   * A host directory for heartbeats, mounted at `/ordo/heartbeats` in every task. On a multi-node swarm it
   * must be a directory every node shares; or leave it out and rely on the task states.
   */
  heartbeatDir?: string | undefined;
  /** A running worker whose heartbeat is older than this is STALLED. @default 120000 */
  staleAfterMs?: number | undefined;
  /**
   * Swarm's `StopGracePeriod` of every service: how long a task gets after SIGTERM before SIGKILL when its
   * service is removed. Fixed when the service is created (changing it would make Swarm replace the task).
   * @default 5000
   */
  stopGraceMs?: number | undefined;
  /**
   * Keep two `GET /events` streams open: container events of the run's tasks (a death is seen at once) and
   * service events (a service removed behind the launcher's back). While the container stream is down,
   * `monitor` polls instead.
   * @default true
   */
  events?: boolean | undefined;
  /**
   * A contracts `Policy` that every whole-answer Engine API call runs through (as `ContainerLauncher`'s).
   * Not the events streams. Retry only what is safe to repeat: a failed `POST /services/create` may have
   * created the service.
   * @default undefined (each call made once)
   */
  policy?: Policy | undefined;
}

/** Where a worker's task was placed by Swarm. */
export interface SwarmPlacement {
  /** The node's id (`NodeID` of the task). */
  nodeId: string;
  /** The node's hostname (from `GET /nodes`), `undefined` when the node is not (or no longer) listed. */
  hostname: string | undefined;
}

/** A change of one of the events streams. */
export interface SwarmEventsStreamChange extends EventsStreamChange {
  /** Which stream: the run's task containers, or the swarm's services. */
  stream: 'containers' | 'services';
}

/** The events a {@link SwarmLauncher} emits. */
export interface SwarmLauncherEvents extends LauncherEvents {
  /** An events stream connected or dropped. */
  events: [change: SwarmEventsStreamChange];
}

/** A Swarm worker's handle: the contracts' {@link WorkerHandle} plus its service, task and node. */
export interface SwarmWorkerHandle extends WorkerHandle {
  /** The service's id. */
  readonly serviceId: string;
  /** The service's name, `ordo-<runId>-<workerId>` (or `ordo-<hash>` when that is no valid service name). */
  readonly serviceName: string;
  /** The current task's id, once Swarm made it. */
  readonly taskId: string | undefined;
  /** The task's container id, once known (it lives on `node`). */
  readonly containerId: string | undefined;
  /** Where the task runs, once Swarm placed it (seen by `syncState` or a polling `monitor`). */
  readonly node: SwarmPlacement | undefined;
  /** Why the status last changed, e.g. `exit code 137 after signal 9`. */
  readonly reason: string;
  /** The last log lines of a crashed worker (up to `logTailLines`). */
  readonly logTail: readonly string[];
}

interface SwarmRecord extends EngineWorkerRecord {
  serviceId: string;
  seq: number;
  task: SwarmTask | undefined;
  /** Set when a die event came before the task list said so. */
  died: { exitCode: number | undefined; containerId: string | undefined } | undefined;
  oom: boolean;
  killSignal: string | undefined;
  /** The service was removed behind the launcher's back. */
  gone: boolean;
  node: SwarmPlacement | undefined;
  removed: boolean;
}

/**
 * Starts workers as Docker Swarm services and watches them as cheaply as `ContainerLauncher` does.
 *
 * - **one service per worker**: `spawn(id)` creates a service with `Replicas: 1` and restart condition
 *   `none`, so `terminate(id)` removes exactly that worker and a dead worker stays dead: the runtime's pool,
 *   not Swarm, decides on a replacement (and counts it against its restart budget). Swarm chooses the node.
 * - **secrets**: `secrets` are created once per run and mounted at `/run/secrets/<name>`; environment
 *   variables carry only their paths.
 * - **batch**: `syncState()` is ONE `GET /tasks?filters={"label":["ordo.run-id=…"]}` for all workers (plus a
 *   `GET /nodes`, cached, when a task lands on a node not seen yet).
 * - **events**: a `GET /events` stream of the run's task containers marks a worker CRASHED (or STOPPED on exit
 *   0) as soon as its container dies, and one of service events sees a service removed by someone else.
 *   Container events come from the engine the launcher talks to: a death on another node of the swarm is
 *   seen by the next `syncState()` (its task state).
 * - **cooldown**: `monitor(id)` answers from the cache within `cooldownMs`, and makes no call while the
 *   container events stream is up.
 *
 * Gotchas: the engine must be a Swarm manager (`LAUNCHER_SWARM_NOT_ACTIVE` otherwise); `terminateAll()` and
 * `close()` remove every service and secret labelled with the run id, also ones an earlier launcher with the
 * same `runId` left.
 *
 * @example
 * ```ts
 * await using launcher = createSwarmLauncher({
 *   image: 'my-worker:1',
 *   cmd: ['ordo', 'worker', '--connect', 'tls://build-host:7070'],
 *   secrets: [{ name: 'ordo-token', data: token, env: 'ORDO_WORKER_TOKEN_FILE' }],
 * });
 * const w1 = await launcher.spawn('w1');
 * await launcher.syncState();
 * console.log(w1.status, w1.node?.hostname);
 * ```
 */
export class SwarmLauncher
  extends EngineLauncher<SwarmRecord, SwarmLauncherEvents, SwarmWorkerHandle>
  implements Launcher, AsyncDisposable
{
  readonly #options: SwarmLauncherOptions;
  readonly #stopGraceMs: number;
  readonly #secrets: PreparedSecret[];
  readonly #containerEvents: EngineEventStream;
  readonly #serviceEvents: EngineEventStream;
  readonly #hostnames = new Map<string, string>();
  #nodesLoad: Promise<void> | undefined;
  #image: Promise<string> | undefined;
  #secretIds: Promise<Map<string, string>> | undefined;
  #seq = 0;
  /** Whether this launcher asked the engine to create anything (then `close()` cleans the run up). */
  #created = false;
  #refreshing: Promise<void> | undefined;

  constructor(options: SwarmLauncherOptions) {
    super('SwarmLauncher', options);
    this.#stopGraceMs = options.stopGraceMs ?? 5000;
    assertNumber('stopGraceMs', this.#stopGraceMs);
    this.#secrets = prepareSecrets(options.secrets);
    assertNoSecretInEnv(options.env ?? {}, this.#secrets);
    this.#options = options;
    const emit = (stream: 'containers' | 'services') => (connected: boolean, reason: string) =>
      this.events.emit('events', { connected, reason, stream });
    const onEvent = (event: EngineEvent) => this.#onEngineEvent(event);
    this.#containerEvents = this.eventStream(
      { type: ['container'], label: [this.#runLabel] },
      onEvent,
      emit('containers'),
    );
    // Service events carry no labels, so they cannot be filtered by the run's label: they are few, and
    // matched by service id here.
    this.#serviceEvents = this.eventStream({ type: ['service'] }, onEvent, emit('services'));
  }

  get #runLabel(): string {
    return `${RUN_ID_LABEL}=${this.runId}`;
  }

  /** Whether the container events stream is connected (then local deaths are seen at once). */
  get eventsConnected(): boolean {
    return this.#containerEvents.connected;
  }

  /**
   * Creates the worker's service (`POST /services/create`: one replica, restart condition `none`, labels
   * `ordo.run-id` / `ordo.worker-id` on the service and its task container, the run's secrets mounted). The
   * first spawn also resolves the image and creates the run's secrets. Resolves when Swarm accepted the
   * service; the task starts after (INITIALIZING until it runs).
   *
   * Rejects with `LAUNCHER_SWARM_NOT_ACTIVE` when the engine is not a Swarm manager,
   * `LAUNCHER_IMAGE_NOT_FOUND` when the image is not on it, `LAUNCHER_ENGINE_UNAVAILABLE` when it cannot be
   * reached, `LAUNCHER_ENGINE_ERROR` when it refuses a call, `LAUNCHER_INVALID_OPTIONS` when `spec.env`
   * carries a secret's content.
   */
  async spawn(workerId: string, spec: WorkerSpec = {}, signal?: AbortSignal): Promise<SwarmWorkerHandle> {
    const { env, labels, cmd, mounts } = await this.newWorker(workerId, spec, signal);
    assertNoSecretInEnv(env, this.#secrets);
    for (const secret of this.#secrets) if (secret.env !== undefined) env[secret.env] = secret.path;
    const o = this.#options;
    if (o.events !== false) await Promise.all([this.#containerEvents.start(), this.#serviceEvents.start()]);
    const [image, secretIds] = await Promise.all([this.#resolveImage(signal), this.#createSecrets(signal)]);
    const name = serviceName(this.runId, workerId);
    const limits = o.limits ?? {};
    const network = o.network ?? 'host';
    const body = {
      Name: name,
      Labels: labels,
      TaskTemplate: {
        ContainerSpec: {
          Image: image,
          ...(cmd.length > 0 && { Args: cmd }),
          Labels: labels,
          Env: Object.entries(env).map(([k, v]) => `${k}=${v}`),
          Mounts: mounts.map((m) => ({
            Type: 'bind',
            Source: m.source,
            Target: m.target,
            ReadOnly: m.readOnly === true,
          })),
          Secrets: this.#secrets.map((s) => ({
            File: { Name: s.name, UID: '0', GID: '0', Mode: 0o400 },
            SecretID: secretIds.get(s.name),
            SecretName: secretName(this.runId, s.name),
          })),
          StopGracePeriod: Math.round(this.#stopGraceMs * 1e6),
        },
        Resources: {
          Limits: {
            ...(limits.memoryBytes !== undefined && { MemoryBytes: limits.memoryBytes }),
            ...(limits.cpus !== undefined && { NanoCPUs: Math.round(limits.cpus * 1e9) }),
            ...(limits.pidsLimit !== undefined && { Pids: limits.pidsLimit }),
          },
        },
        RestartPolicy: { Condition: 'none', MaxAttempts: 0 },
        Networks: network === '' ? [] : [{ Target: network }],
      },
      Mode: { Replicated: { Replicas: 1 } },
    };
    this.#created = true;
    const created = await this.#call(
      { method: 'POST', path: '/services/create', endpoint: 'POST /services/create', body, signal },
      `a service named "${name}"`,
    );
    const record = this.#newRecord(workerId, created.json<{ ID: string }>().ID);
    this.records.set(workerId, record);
    const handle = liveHandle(record, {
      serviceId: record.serviceId,
      serviceName: name,
      get taskId() {
        return record.task?.ID;
      },
      get containerId() {
        return record.task?.Status?.ContainerStatus?.ContainerID;
      },
      get node() {
        return record.node;
      },
    }) as SwarmWorkerHandle;
    this.handles.set(workerId, handle);
    this.logger.info({ workerId, serviceId: record.serviceId, name }, 'worker service created');
    return handle;
  }

  #newRecord(workerId: string, serviceId: string): SwarmRecord {
    return {
      ...newWorkerRecord(workerId, 'service created, waiting for Swarm to start its task', this.clock.now()),
      checkedAt: undefined,
      dying: undefined,
      serviceId,
      seq: ++this.#seq,
      task: undefined,
      died: undefined,
      oom: false,
      killSignal: undefined,
      gone: false,
      node: undefined,
      removed: false,
    };
  }

  /**
   * `monitor`'s refresh past the cooldown: no Engine API call while the container events stream is up and
   * the task runs (it reads the heartbeat file); otherwise ONE `GET /tasks` for all workers (a task that
   * has not run yet is only seen in the task list).
   */
  protected override async refresh(record: SwarmRecord, signal?: AbortSignal): Promise<void> {
    if (this.#containerEvents.connected && record.task?.Status?.State === 'running')
      await this.#derive(record, signal);
    else await this.#refreshAll(signal);
  }

  /** Refreshes every worker with ONE `GET /tasks` (and `GET /nodes` when a task is on a node not seen yet). */
  async syncState(signal?: AbortSignal): Promise<ReadonlyMap<string, WorkerStatus>> {
    signal?.throwIfAborted();
    await this.#refreshAll(signal);
    return this.statuses();
  }

  /**
   * Removes the worker's service (`DELETE /services/{id}`): Swarm sends SIGTERM to its task, and SIGKILL after
   * the service's `StopGracePeriod` (the `stopGraceMs` option; `graceMs` here cannot change it for a running
   * task, as Swarm would replace the task to apply it). Resolves once the task is down (a `GET /tasks` every
   * 100–500 ms), or after `stopGraceMs` + 30 s with a warning.
   */
  async terminate(workerId: string, options: TerminateOptions = {}): Promise<void> {
    assertNumber('graceMs', options.graceMs ?? 0);
    await this.#terminate([this.record(workerId)]);
  }

  /**
   * Removes every service labelled with the run id (the known workers and any left by an earlier launcher
   * with the same `runId`), waits until their tasks are down, then removes every secret labelled with it.
   */
  async terminateAll(options: TerminateOptions = {}): Promise<void> {
    assertNumber('graceMs', options.graceMs ?? 0);
    const listed = await this.#call({
      method: 'GET',
      path: '/services',
      endpoint: 'GET /services',
      query: { filters: JSON.stringify({ label: [this.#runLabel] }) },
    });
    const known = new Set([...this.records.values()].map((r) => r.serviceId));
    const strays = listed.json<{ ID: string }[]>().filter((s) => !known.has(s.ID));
    await Promise.all(strays.map((s) => this.#removeService(s.ID)));
    await this.#terminate([...this.records.values()], new Set(strays.map((s) => s.ID)));
    await this.#removeSecrets();
  }

  /** Closes the events streams, removes every service and secret of the run, closes the engine connections. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all([this.#containerEvents.close(), this.#serviceEvents.close()]);
    try {
      if (this.#created) await this.terminateAll();
    } catch (error) {
      // An engine that is no Swarm manager holds no service or secret of the run: nothing to clean up.
      if (!(error instanceof SwarmNotActiveError)) throw error;
    } finally {
      await this.engineClient.close();
    }
  }

  // ---- engine calls ------------------------------------------------------------------------------

  /** An Engine API call; a 503 about swarm mode is `LAUNCHER_SWARM_NOT_ACTIVE`, a 409 names what exists. */
  async #call(req: EngineRequest, what?: string): Promise<EngineResponse> {
    try {
      return await this.engineClient.request(req);
    } catch (error) {
      if (!(error instanceof EngineRequestError)) throw error;
      const { status, engineMessage } = error.details as { status: number; engineMessage: string };
      if (status === 503 && /swarm/i.test(engineMessage)) {
        throw new SwarmNotActiveError(this.engineClient.where, { cause: error, details: { engineMessage } });
      }
      if (status === 409 && what !== undefined) {
        throw new EngineRequestError(
          `${what} already exists on ${this.engineClient.where}, left by an earlier launcher with runId "${this.runId}". Remove it with terminateAll() on a launcher with that runId, or use another runId.`,
          { cause: error, details: { ...error.details } },
        );
      }
      throw error;
    }
  }

  /** The image as services run it: a name resolved to its id on the manager (so no node pulls). */
  #resolveImage(signal?: AbortSignal): Promise<string> {
    const image = this.#options.image;
    if (/^sha256:[0-9a-f]{64}$/.test(image) || image.includes('@sha256:')) return Promise.resolve(image);
    // Shared by concurrent spawns, so made without any one caller's signal (each races its own below).
    this.#image ??= this.#call({
      method: 'GET',
      path: `/images/${image}/json`,
      endpoint: 'GET /images/{name}/json',
    }).then(
      (res) => res.json<{ Id: string }>().Id,
      (error: unknown) => {
        this.#image = undefined;
        if (error instanceof EngineRequestError && error.details?.status === 404) {
          throw new ImageNotFoundError(
            `Image "${image}" is not on the Docker engine at ${this.engineClient.where}. Pull or build it first (docker pull ${image}), on every node of the swarm; the launcher never pulls.`,
            { cause: error, details: { image, engine: this.engineClient.where } },
          );
        }
        throw error;
      },
    );
    return untilAborted(this.#image, signal);
  }

  /**
   * Creates the run's secrets once (again after `terminateAll`); resolves with their ids by name. Shared by
   * concurrent spawns, so made without any one caller's signal; a failed attempt removes what it made, so
   * the next spawn can create them again.
   */
  #createSecrets(signal?: AbortSignal): Promise<Map<string, string>> {
    this.#secretIds ??= (async () => {
      if (this.#secrets.length > 0) this.#created = true;
      const ids = new Map<string, string>();
      try {
        for (const secret of this.#secrets) {
          const name = secretName(this.runId, secret.name);
          const res = await this.#call(
            {
              method: 'POST',
              path: '/secrets/create',
              endpoint: 'POST /secrets/create',
              body: {
                Name: name,
                Labels: { [RUN_ID_LABEL]: this.runId },
                Data: secret.bytes.toString('base64'),
              },
            },
            `a secret named "${name}"`,
          );
          ids.set(secret.name, res.json<{ ID: string }>().ID);
        }
      } catch (error) {
        await Promise.allSettled(
          [...ids.values()].map((id) =>
            this.#call({ method: 'DELETE', path: `/secrets/${id}`, endpoint: 'DELETE /secrets/{id}' }),
          ),
        );
        throw error;
      }
      return ids;
    })().catch((error: unknown) => {
      this.#secretIds = undefined; // the next spawn tries again
      throw error;
    });
    return untilAborted(this.#secretIds, signal);
  }

  async #removeSecrets(): Promise<void> {
    this.#secretIds = undefined;
    const listed = await this.#call({
      method: 'GET',
      path: '/secrets',
      endpoint: 'GET /secrets',
      query: { filters: JSON.stringify({ label: [this.#runLabel] }) },
    });
    await Promise.all(
      listed.json<{ ID: string }[]>().map((s) =>
        this.#call({
          method: 'DELETE',
          path: `/secrets/${s.ID}`,
          endpoint: 'DELETE /secrets/{id}',
          ok: [404],
        }),
      ),
    );
  }

  async #removeService(serviceId: string): Promise<void> {
    await this.#call({
      method: 'DELETE',
      path: `/services/${serviceId}`,
      endpoint: 'DELETE /services/{id}',
      ok: [404],
    });
  }

  #listTasks(signal?: AbortSignal): Promise<SwarmTask[]> {
    return this.#call({
      method: 'GET',
      path: '/tasks',
      endpoint: 'GET /tasks',
      query: { filters: JSON.stringify({ label: [this.#runLabel] }) },
      signal,
    }).then((r) => r.json<SwarmTask[]>());
  }

  /** Hostnames of the swarm's nodes, read once and again when a task names a node not seen yet. */
  async #placement(nodeId: string | undefined, signal?: AbortSignal): Promise<SwarmPlacement | undefined> {
    if (nodeId === undefined || nodeId === '') return undefined;
    if (!this.#hostnames.has(nodeId)) {
      this.#nodesLoad ??= this.#call({ method: 'GET', path: '/nodes', endpoint: 'GET /nodes', signal })
        .then((res) => {
          for (const node of res.json<{ ID: string; Description?: { Hostname?: string } }[]>()) {
            if (node.Description?.Hostname !== undefined)
              this.#hostnames.set(node.ID, node.Description.Hostname);
          }
        })
        .finally(() => {
          this.#nodesLoad = undefined;
        });
      await this.#nodesLoad;
    }
    return { nodeId, hostname: this.#hostnames.get(nodeId) };
  }

  // ---- monitoring --------------------------------------------------------------------------------

  /** One task list for every worker, then each worker's status; concurrent callers share one refresh. */
  #refreshAll(signal?: AbortSignal): Promise<void> {
    this.#refreshing ??= (async () => {
      try {
        const seqAtStart = this.#seq;
        const tasks = latestTasks(await this.#listTasks(signal));
        for (const record of this.records.values()) {
          const task = tasks.get(record.serviceId);
          if (task) {
            record.task = task;
            if (task.NodeID !== record.node?.nodeId) record.node = await this.#placement(task.NodeID, signal);
          } else if (record.task !== undefined && record.seq <= seqAtStart && !record.removed) {
            record.gone = true; // it had a task, and now neither the task nor its service is there
          }
        }
        await Promise.all([...this.records.values()].map((r) => this.#derive(r, signal)));
      } finally {
        this.#refreshing = undefined;
      }
    })();
    return this.#refreshing;
  }

  /** Turns what is known of a worker (task state, a die event, heartbeat) into its status. */
  async #derive(record: SwarmRecord, signal?: AbortSignal): Promise<void> {
    if (isTerminalWorkerStatus(record.status) || record.stopRequested || record.dying) return;
    record.checkedAt = this.clock.now();
    if (record.gone) {
      this.setStatus(record, WorkerStatus.CRASHED, 'service removed outside the launcher');
      return;
    }
    const verdict = record.died
      ? { kind: 'exited' as const, exitCode: record.died.exitCode, detail: '' }
      : record.task
        ? taskVerdict(record.task, record.node?.hostname)
        : { kind: 'starting' as const, state: 'not scheduled yet' };
    switch (verdict.kind) {
      case 'starting':
        this.setStatus(record, WorkerStatus.INITIALIZING, `task ${verdict.state}`);
        return;
      case 'lost':
        this.setStatus(record, WorkerStatus.CRASHED, verdict.detail);
        return;
      case 'exited': {
        await this.die(record, () => this.#onExit(record, verdict.exitCode, verdict.detail));
        return;
      }
      case 'running':
        break;
    }
    const beat = await this.heartbeatVerdict(record, signal);
    record.healthCheckAt = this.clock.now();
    if (isTerminalWorkerStatus(record.status) || record.stopRequested || record.dying) return;
    this.setStatus(record, beat.stale ? WorkerStatus.STALLED : beat.status, beat.reason);
  }

  /** A task that exited: STOPPED on exit 0, else CRASHED with the service's last log lines. */
  async #onExit(record: SwarmRecord, code: number | undefined, detail: string): Promise<void> {
    record.exitCode = code;
    if (code === 0 && !record.oom) {
      this.setStatus(record, WorkerStatus.STOPPED, 'exited with code 0');
      return;
    }
    const what = [
      record.oom ? `out of memory (exit code ${code ?? 'unknown'})` : `exit code ${code ?? 'unknown'}`,
      record.killSignal === undefined || record.oom ? '' : ` after signal ${record.killSignal}`,
      detail && !/non-zero exit/.test(detail) ? ` (${detail})` : '',
    ].join('');
    record.logTail = await this.#deathLogs(record).catch((error: unknown) => {
      this.logger.warn({ err: error, workerId: record.workerId }, 'could not read the logs of a dead task');
      return [];
    });
    this.setStatus(record, WorkerStatus.CRASHED, deathReason(what, record.logTail));
  }

  /**
   * The dead task's last log lines: from its container when it is on this engine's node (at once, as
   * `ContainerLauncher` reads them), else from the service (`GET /services/{id}/logs`, any node).
   */
  async #deathLogs(record: SwarmRecord): Promise<string[]> {
    const send = (req: EngineRequest) => this.#call(req);
    const containerId = record.died?.containerId ?? record.task?.Status?.ContainerStatus?.ContainerID;
    if (containerId) {
      const local = await logTail(
        send,
        `/containers/${containerId}/logs`,
        'GET /containers/{id}/logs',
        this.logTailLines,
      ).catch(() => undefined);
      if (local) return local;
    }
    return logTail(send, `/services/${record.serviceId}/logs`, 'GET /services/{id}/logs', this.logTailLines);
  }

  /** Removes the services of `records` (and waits for `more` too), until their tasks are down. */
  async #terminate(records: readonly SwarmRecord[], more: ReadonlySet<string> = new Set()): Promise<void> {
    await Promise.all(records.map((r) => r.dying));
    const stopping = records.filter((r) => !r.removed);
    for (const record of stopping) {
      if (isTerminalWorkerStatus(record.status)) continue;
      record.stopRequested = true;
      this.setStatus(record, WorkerStatus.STOPPING, 'terminate requested');
    }
    await Promise.all(stopping.map((r) => this.#removeService(r.serviceId)));
    for (const record of stopping) record.removed = true;
    await this.#awaitTasksDown(new Set([...stopping.map((r) => r.serviceId), ...more]));
    for (const record of records) {
      this.setStatus(record, WorkerStatus.STOPPED, 'terminated');
      this.forgetHeartbeat(record.workerId);
    }
  }

  /** Polls the task list until no task of `serviceIds` runs any more (or gives up after the grace + 30 s). */
  async #awaitTasksDown(serviceIds: ReadonlySet<string>): Promise<void> {
    if (serviceIds.size === 0) return;
    const deadline = Date.now() + this.#stopGraceMs + 30_000;
    for (let attempt = 0; ; attempt++) {
      const tasks = await this.#listTasks();
      const running = tasks.filter((t) => serviceIds.has(t.ServiceID ?? '') && !taskFinished(t));
      if (running.length === 0) return;
      if (Date.now() > deadline) {
        this.logger.warn(
          { tasks: running.map((t) => t.ID) },
          'tasks of removed services are still running; Swarm will stop them',
        );
        return;
      }
      // Real time, not the clock: this only paces an I/O poll; Swarm times the stop itself.
      await delay(Math.min(100 * 2 ** attempt, 500));
    }
  }

  // ---- events ------------------------------------------------------------------------------------

  #onEngineEvent(event: EngineEvent): void {
    const attributes = event.Actor?.Attributes ?? {};
    if (event.Type === 'service') {
      if (event.Action !== 'remove') return;
      for (const record of this.records.values()) {
        if (record.serviceId !== event.Actor?.ID || record.removed) continue;
        record.gone = true;
        this.#update(record);
      }
      return;
    }
    const record = this.records.get(attributes[WORKER_ID_LABEL] ?? '');
    if (event.Type !== 'container' || !record || record.serviceId !== attributes[SERVICE_ID_LABEL]) return;
    switch ((event.Action ?? '').split(':')[0]) {
      case 'die': {
        const code = Number(attributes.exitCode ?? Number.NaN);
        record.died = { exitCode: Number.isFinite(code) ? code : undefined, containerId: event.Actor?.ID };
        break;
      }
      case 'oom':
        record.oom = true;
        return;
      case 'kill':
        record.killSignal = attributes.signal;
        return;
      default:
        return;
    }
    this.#update(record);
  }

  #update(record: SwarmRecord): void {
    this.#derive(record).catch((error: unknown) =>
      this.logger.warn(
        { err: error, workerId: record.workerId },
        'could not update a worker from an engine event',
      ),
    );
  }
}

/**
 * Makes a Docker Swarm launcher (the `createX` way every long-lived ordo component is made; the class is exported for its
 * type and `instanceof`, and `new SwarmLauncher(…)` keeps working).
 *
 * @example
 * ```ts
 * const launcher = createSwarmLauncher({ image: 'ordo-worker', network: 'host' });
 * ```
 */
export function createSwarmLauncher(options: SwarmLauncherOptions): SwarmLauncher {
  return new SwarmLauncher(options);
}
