import { setTimeout as delay } from 'node:timers/promises';
import {
  type Clock,
  childAbortController,
  isTerminalWorkerStatus,
  type Launcher,
  type LauncherEvents,
  type Logger,
  type Policy,
  type TerminateOptions,
  type WorkerHandle,
  type WorkerIo,
  type WorkerSpec,
  WorkerStatus,
} from '@ordo/contracts';
import type { DockerConnection } from './docker.js';
import {
  EngineRequestError,
  ImageNotFoundError,
  InvalidOptionsError,
  LauncherClosedError,
} from './errors.js';
import { AttachedIo } from './internal/attachedIo.js';
import { demux, logTail } from './internal/engine.js';
import { EngineLauncher, type EngineWorkerRecord } from './internal/engineLauncher.js';
import type { EngineEvent, EngineEventStream, ReconnectOptions } from './internal/eventStream.js';
import { deathReason, liveHandle, newWorkerRecord, settled } from './internal/launcherBase.js';
import { assertNumber, WORKER_ID } from './internal/validate.js';
import { type ContainerMount, RUN_ID_LABEL, WORKER_ID_LABEL } from './labels.js';

export { CONTAINER_HEARTBEAT_DIR, type ContainerMount, RUN_ID_LABEL, WORKER_ID_LABEL } from './labels.js';

/** Resource limits of every container. */
export interface ContainerLimits {
  /** Memory limit in bytes (`HostConfig.Memory`). */
  memoryBytes?: number | undefined;
  /** CPUs, fractional allowed (`HostConfig.NanoCpus`). */
  cpus?: number | undefined;
  /** Most processes the container may run (`HostConfig.PidsLimit`). */
  pidsLimit?: number | undefined;
}

/** The command run inside a container (by `POST /containers/{id}/exec`) when its heartbeat is stale. */
export interface ContainerHealthCheck {
  /** The command; exit code 0 means alive. */
  cmd: readonly string[];
  /** Fail the check after this long, on the launcher's clock. @default 5000 */
  timeoutMs?: number | undefined;
}

/** How `syncState` reads the engine. */
export type MonitorMode = 'batch' | 'per-container';

/** Options for {@link ContainerLauncher}. */
export interface ContainerLauncherOptions {
  /** Where the engine is. @default dockerFromEnv() (DOCKER_HOST, else /var/run/docker.sock) */
  docker?: DockerConnection | undefined;
  /** The image every worker runs. It must already be on the engine: the launcher never pulls. */
  image: string;
  /** The command (before `spec.args`). @default the image's CMD */
  cmd?: readonly string[] | undefined;
  /** Environment for every container; `ORDO_WORKER_ID` (and `ORDO_HEARTBEAT_DIR`) are added. @default {} */
  env?: Readonly<Record<string, string>> | undefined;
  /** Labels for every container, besides the run id and worker id labels. @default {} */
  labels?: Readonly<Record<string, string>> | undefined;
  /** Host directories to bind-mount. @default [] */
  mounts?: readonly ContainerMount[] | undefined;
  /** Resource limits. @default none */
  limits?: ContainerLimits | undefined;
  /** The container network (`HostConfig.NetworkMode`). @default 'none' */
  network?: string | undefined;
  /**
   * A host directory for heartbeats, mounted at `/ordo/heartbeats` in every container. Without it a running
   * container is READY and only the engine's view counts.
   */
  heartbeatDir?: string | undefined;
  /** A running worker whose heartbeat is older than this is STALLED (unless `healthCheck` passes). @default 120000 */
  staleAfterMs?: number | undefined;
  /** Run inside a container only when its heartbeat is stale; passing keeps it out of STALLED. @default none */
  healthCheck?: ContainerHealthCheck | undefined;
  /** `monitor(id)` returns the cached status when the worker was checked less than this ago. @default 10000 */
  cooldownMs?: number | undefined;
  /**
   * `batch`: one `GET /containers/json` for all workers per refresh. `per-container`: one
   * `GET /containers/{id}/json` per worker (what most tools do; kept for comparison).
   * @default 'batch'
   */
  mode?: MonitorMode | undefined;
  /**
   * Keep one `GET /events` stream open to see deaths at once; while it is down, monitoring falls back to
   * polling.
   * @default true
   */
  events?: boolean | undefined;
  /** Backoff of events stream reconnects: first delay, doubled up to `maxMs`. @default { initialMs: 500, maxMs: 30000 } */
  reconnect?: ReconnectOptions | undefined;
  /** The run id put on every container's `ordo.run-id` label. @default a random 12-hex-digit id */
  runId?: string | undefined;
  /**
   * Whether `close()` terminates and removes the workers. Turn it off to leave them running for another
   * launcher with the same `runId` to {@link ContainerLauncher.adopt}.
   * @default true
   */
  terminateOnClose?: boolean | undefined;
  /** How many log lines to keep from a crashed container. @default 20 */
  logTailLines?: number | undefined;
  /**
   * Give each worker a stdin/stdout line channel, `handle.io`, as `SubprocessLauncher` does: containers
   * are created with an open stdin (`OpenStdin`, `AttachStdin`, no TTY) and attached
   * (`POST /containers/{id}/attach`, one hijacked connection per worker) before they start, so no output
   * is missed. stdout lines come out of `io.lines()`; stderr lines are logged at debug and emitted as
   * `stderr` events. Workers taken over with `adopt()` have no channel.
   *
   * When to use: the runtime's IPC (one JSON message per line) with workers in containers.
   * Gotchas: the image's command must read stdin and write stdout line by line (flush after each line);
   * a container that exits closes its channel (`lines()` ends, `send` rejects with `LAUNCHER_IO_CLOSED`).
   * @default false
   */
  attachStdio?: boolean | undefined;
  /**
   * With `attachStdio`: how many unread stdout lines a worker may have before the launcher stops reading
   * its output (the container then blocks on its writes until `lines()` is read again). Nothing is dropped.
   * @default 10000
   */
  maxBufferedLines?: number | undefined;
  /**
   * A contracts `Policy` that every whole-answer Engine API call runs through (create, start, inspect,
   * list, exec, logs, stop, remove), e.g. governance's `wrap(retry(...), breaker)`. The events stream and
   * the attach upgrade do not (they reconnect on their own). Its retry must only retry what is safe to
   * repeat: a failed `POST /containers/create` may have created the container.
   * @default undefined (each call made once)
   */
  policy?: Policy | undefined;
  /** The time source (cooldown, staleness, backoff, health-check timeout). @default systemClock */
  clock?: Clock | undefined;
  /** @default noopLogger */
  logger?: Logger | undefined;
}

/** A change of the events stream, as the `events` event reports it. */
export interface EventsStreamChange {
  /** Whether the stream is now connected. */
  connected: boolean;
  /** Why, e.g. `connected`, `the engine closed the events stream`. */
  reason: string;
}

/** A line a worker wrote on stderr, as the `stderr` event reports it. */
export interface WorkerStderrLine {
  workerId: string;
  /** The line, without its newline. */
  line: string;
}

/** The events a {@link ContainerLauncher} emits. */
export interface ContainerLauncherEvents extends LauncherEvents {
  /** The events stream connected or dropped (monitoring polls the engine while it is down). */
  events: [change: EventsStreamChange];
  /** With `attachStdio`: a worker wrote a line on stderr. */
  stderr: [output: WorkerStderrLine];
}

/** A container worker's handle: the contracts' {@link WorkerHandle} plus its container and last log lines. */
export interface ContainerWorkerHandle extends WorkerHandle {
  /** The engine's container id. */
  readonly containerId: string;
  /** The container name, `ordo-<runId>-<workerId>`. */
  readonly containerName: string;
  /** Why the status last changed, e.g. `exit code 3; last output: "boom"`. */
  readonly reason: string;
  /** The last log lines of a crashed container (up to `logTailLines`). */
  readonly logTail: readonly string[];
  /** The worker's stdin/stdout line channel with `attachStdio: true`; else `undefined`. */
  readonly io: WorkerIo | undefined;
}

type EngineState = 'created' | 'running' | 'paused' | 'restarting' | 'removing' | 'exited' | 'dead' | 'gone';

interface ContainerRecord extends EngineWorkerRecord {
  containerId: string;
  /** Spawn order, so a list started before this container existed does not count it as gone. */
  seq: number;
  engineState: EngineState;
  engineExitCode: number | undefined;
  health: string | undefined;
  oom: boolean;
  killSignal: string | undefined;
  execAt: number | undefined;
  execOk: { ok: boolean; detail: string } | undefined;
  removed: boolean;
  /** The attach channel, with `attachStdio`. */
  io: AttachedIo | undefined;
}

interface ListedContainer {
  Id: string;
  Names?: string[];
  Created?: number;
  Labels?: Record<string, string> | null;
  State?: string;
  Status?: string;
}

interface InspectedContainer {
  State?: { Status?: string; ExitCode?: number; OOMKilled?: boolean; Health?: { Status?: string } | null };
}

/**
 * Starts workers as Docker containers through the Engine API (undici on the unix socket or TCP/TLS, never the
 * docker CLI) and watches them cheaply:
 *
 * - **events**: one long-lived `GET /events` stream, filtered to this run's label, marks a worker CRASHED as
 *   soon as its container dies (`die`, `oom`, `kill`, `health_status`); it reconnects with backoff and replays
 *   what it missed with `since`. While it is down, monitoring polls instead: never silently stale.
 * - **batch**: `syncState()` is ONE `GET /containers/json?all=1&filters={"label":["ordo.run-id=…"]}` for all
 *   workers, whatever their number; engine health checks are read from it.
 * - **cooldown**: `monitor(id)` answers from the cache when the worker was checked less than `cooldownMs` ago.
 * - **heartbeats**: with `heartbeatDir`, a stale heartbeat makes a worker STALLED; with `healthCheck`, the
 *   launcher first runs that command in the container (`POST /containers/{id}/exec`), and only then.
 *
 * A container that exits non-zero (or is killed, or runs out of memory) is CRASHED, with its last log lines
 * in `reason` and `logTail`. `apiCalls()` counts every Engine API call by endpoint. With `attachStdio`, each
 * handle has a stdin/stdout line channel, `io`, like a subprocess worker's.
 *
 * Gotchas: the image must be on the engine (`LAUNCHER_IMAGE_NOT_FOUND` otherwise); containers run with
 * network `none` unless you say otherwise; `terminateAll()` removes every container labelled with the run id.
 *
 * @example
 * ```ts
 * await using launcher = new ContainerLauncher({
 *   docker: { socketPath: '/var/run/docker.sock' },
 *   image: 'my-worker:1',
 *   heartbeatDir: '/var/run/ordo/heartbeats',
 *   staleAfterMs: 60_000,
 * });
 * launcher.on('status', (c) => console.log(c.workerId, c.from, '→', c.to, c.reason));
 * await launcher.spawn('w1');
 * await using poller = createPoller({ launcher, intervalMs: 15_000 });
 * poller.start();
 * ```
 */
export class ContainerLauncher
  extends EngineLauncher<ContainerRecord, ContainerLauncherEvents, ContainerWorkerHandle>
  implements Launcher, AsyncDisposable
{
  readonly #options: ContainerLauncherOptions;
  readonly #mode: MonitorMode;
  readonly #maxBufferedLines: number;
  #seq = 0;
  #refreshing: Promise<void> | undefined;
  readonly #eventStream: EngineEventStream;

  constructor(options: ContainerLauncherOptions) {
    super('ContainerLauncher', options);
    this.#mode = options.mode ?? 'batch';
    if (this.#mode !== 'batch' && this.#mode !== 'per-container') {
      throw new InvalidOptionsError(
        `Option "mode" must be 'batch' or 'per-container', got ${String(this.#mode)}.`,
      );
    }
    if (options.attachStdio !== undefined && typeof options.attachStdio !== 'boolean') {
      throw new InvalidOptionsError(
        `Option "attachStdio" must be true or false, got ${JSON.stringify(options.attachStdio)}.`,
      );
    }
    this.#maxBufferedLines = options.maxBufferedLines ?? 10_000;
    assertNumber('maxBufferedLines', this.#maxBufferedLines, 1);
    if (options.healthCheck) assertNumber('healthCheck.timeoutMs', options.healthCheck.timeoutMs ?? 5000, 1);
    this.#options = options;
    this.#eventStream = this.eventStream(
      { type: ['container'], label: [`${RUN_ID_LABEL}=${this.runId}`] },
      (event) => this.#onEngineEvent(event),
      (connected, reason) => this.events.emit('events', { connected, reason }),
    );
  }

  /** Whether the events stream is connected (then deaths are seen at once and `monitor` makes no call). */
  get eventsConnected(): boolean {
    return this.#eventStream.connected;
  }

  /**
   * Creates and starts a container named `ordo-<runId>-<workerId>`, labelled with the run id and worker id;
   * with `attachStdio`, attaches to it before the start. Rejects with `LAUNCHER_IMAGE_NOT_FOUND` when the
   * image is missing, `LAUNCHER_ENGINE_UNAVAILABLE` when the engine cannot be reached, and
   * `LAUNCHER_ENGINE_ERROR` when the engine refuses a call (the attach included); the container is removed
   * when the attach or the start fails.
   */
  async spawn(workerId: string, spec: WorkerSpec = {}, signal?: AbortSignal): Promise<ContainerWorkerHandle> {
    const { env, labels, cmd, mounts } = await this.newWorker(workerId, spec, signal);
    const o = this.#options;
    if (o.events !== false) await this.#eventStream.start();
    const name = `ordo-${this.runId}-${workerId}`;
    const binds = mounts.map((m) => `${m.source}:${m.target}${m.readOnly ? ':ro' : ''}`);
    const limits = o.limits ?? {};
    const body = {
      Image: o.image,
      ...(cmd.length > 0 && { Cmd: cmd }),
      ...(o.attachStdio === true && {
        // StdinOnce false: the stdin stays open when the attach connection closes.
        OpenStdin: true,
        StdinOnce: false,
        AttachStdin: true,
        AttachStdout: true,
        AttachStderr: true,
        Tty: false,
      }),
      Env: Object.entries(env).map(([k, v]) => `${k}=${v}`),
      Labels: labels,
      HostConfig: {
        NetworkMode: o.network ?? 'none',
        Binds: binds,
        ...(limits.memoryBytes !== undefined && { Memory: limits.memoryBytes }),
        ...(limits.cpus !== undefined && { NanoCpus: Math.round(limits.cpus * 1e9) }),
        ...(limits.pidsLimit !== undefined && { PidsLimit: limits.pidsLimit }),
      },
    };
    let containerId: string;
    try {
      const created = await this.engineClient.request({
        method: 'POST',
        path: '/containers/create',
        endpoint: 'POST /containers/create',
        query: { name },
        body,
        signal,
      });
      containerId = created.json<{ Id: string }>().Id;
    } catch (error) {
      throw this.#createError(error, name);
    }
    const record = this.#newRecord(workerId, containerId, this.clock.now());
    this.records.set(workerId, record); // before start: a die event may come before start returns
    try {
      if (o.attachStdio === true) record.io = await this.#attach(record, signal);
      await this.engineClient.request({
        method: 'POST',
        path: `/containers/${containerId}/start`,
        endpoint: 'POST /containers/{id}/start',
        signal,
      });
    } catch (error) {
      this.records.delete(workerId);
      await record.io?.close();
      await this.#remove(record).catch(() => {});
      throw error;
    }
    if (record.engineState === 'created') record.engineState = 'running';
    const handle = this.#register(record, name);
    this.logger.info({ workerId, containerId, name }, 'worker container started');
    await this.#derive(record, signal);
    return handle;
  }

  /**
   * Takes over the containers labelled with this launcher's `runId` that it does not know yet, e.g. those of
   * an earlier launcher with the same `runId` that went down with its host process: one list call, then each
   * is monitored, terminated and counted as if this launcher had spawned it. Dead ones come back CRASHED or
   * STOPPED. Resolves with the new handles.
   *
   * @example
   * ```ts
   * const launcher = new ContainerLauncher({ image: 'my-worker:1', runId: savedRunId });
   * for (const worker of await launcher.adopt()) console.log(worker.workerId, worker.status);
   * ```
   */
  async adopt(signal?: AbortSignal): Promise<ContainerWorkerHandle[]> {
    signal?.throwIfAborted();
    if (this.closed) throw new LauncherClosedError();
    if (this.#options.events !== false) await this.#eventStream.start();
    const adopted: ContainerWorkerHandle[] = [];
    for (const c of await this.#list(signal)) {
      const workerId = c.Labels?.[WORKER_ID_LABEL];
      if (workerId === undefined || this.records.has(workerId) || !WORKER_ID.test(workerId)) continue;
      const record = this.#newRecord(workerId, c.Id, (c.Created ?? this.clock.now() / 1000) * 1000);
      this.#applyListed(record, c);
      this.records.set(workerId, record);
      adopted.push(this.#register(record, c.Names?.[0]?.replace(/^\//, '') ?? c.Id));
      await this.#derive(record, signal);
    }
    return adopted;
  }

  #newRecord(workerId: string, containerId: string, startedAt: number): ContainerRecord {
    return {
      ...newWorkerRecord(workerId, 'container created', startedAt),
      containerId,
      seq: ++this.#seq,
      engineState: 'created',
      engineExitCode: undefined,
      health: undefined,
      oom: false,
      killSignal: undefined,
      checkedAt: undefined,
      execAt: undefined,
      execOk: undefined,
      dying: undefined,
      removed: false,
      io: undefined,
    };
  }

  /** Opens the worker's attach connection (stdin, stdout, stderr) and wraps it in its line channel. */
  async #attach(record: ContainerRecord, signal?: AbortSignal): Promise<AttachedIo> {
    const { workerId, containerId } = record;
    const socket = await this.engineClient.upgrade({
      method: 'POST',
      path: `/containers/${containerId}/attach`,
      endpoint: 'POST /containers/{id}/attach',
      query: { stream: 1, stdin: 1, stdout: 1, stderr: 1 },
      signal,
    });
    return new AttachedIo(socket, {
      workerId,
      maxBufferedLines: this.#maxBufferedLines,
      onStderr: (line) => {
        this.logger.debug({ workerId, line }, 'worker stderr');
        this.events.emit('stderr', { workerId, line });
      },
      onClose: (error) => {
        if (error) this.logger.warn({ err: error, workerId }, 'worker attach stream broke');
        else this.logger.debug({ workerId }, 'worker attach stream closed');
      },
    });
  }

  #register(record: ContainerRecord, containerName: string): ContainerWorkerHandle {
    const handle = liveHandle(
      record,
      { containerId: record.containerId, containerName },
      record.io,
    ) as ContainerWorkerHandle;
    this.handles.set(record.workerId, handle);
    return handle;
  }

  /**
   * `monitor`'s refresh past the cooldown: no Engine API call while the events stream is up (deaths arrive
   * through it); otherwise one list call for all workers in batch mode, one inspect in per-container mode.
   */
  protected override async refresh(record: ContainerRecord, signal?: AbortSignal): Promise<void> {
    if (this.#eventStream.connected) await this.#derive(record, signal);
    else if (this.#mode === 'batch') await this.#refreshAll(signal);
    else {
      await this.#inspect(record, signal);
      await this.#derive(record, signal);
    }
  }

  /**
   * Refreshes every worker: in batch mode ONE `GET /containers/json` for all of them (always, events or
   * not: it is the reconciliation); in per-container mode `monitor` for each.
   */
  async syncState(signal?: AbortSignal): Promise<ReadonlyMap<string, WorkerStatus>> {
    signal?.throwIfAborted();
    if (this.#mode === 'batch') await this.#refreshAll(signal);
    else await Promise.all([...this.records.keys()].map((id) => this.monitor(id, signal)));
    return this.statuses();
  }

  /**
   * Stops the container (`POST /containers/{id}/stop?t=…`: SIGTERM, then SIGKILL after `graceMs`, rounded up to
   * seconds and timed by the engine) and removes it. A crashed worker's container is removed too.
   */
  async terminate(workerId: string, options: TerminateOptions = {}): Promise<void> {
    const record = this.record(workerId);
    const graceMs = options.graceMs ?? 5000;
    assertNumber('graceMs', graceMs);
    await record.dying;
    try {
      if (!isTerminalWorkerStatus(record.status)) {
        record.stopRequested = true;
        this.setStatus(record, WorkerStatus.STOPPING, 'terminate requested');
        await this.engineClient.request({
          method: 'POST',
          path: `/containers/${record.containerId}/stop`,
          endpoint: 'POST /containers/{id}/stop',
          query: { t: Math.ceil(graceMs / 1000) },
          ok: [304, 404],
        });
      }
      await this.#remove(record);
    } finally {
      // Normally closed already (the engine ends the stream when the container stops); never left open.
      await record.io?.close();
    }
    this.setStatus(record, WorkerStatus.STOPPED, 'terminated');
    this.forgetHeartbeat(workerId);
  }

  /**
   * Terminates every worker, and removes any other container labelled with this run id (left by an earlier
   * launcher with the same `runId`): one list call, then a stop and a remove per container.
   */
  async terminateAll(options: TerminateOptions = {}): Promise<void> {
    const listed = await this.#list();
    const known = new Set([...this.records.values()].map((r) => r.containerId));
    await Promise.all([
      ...[...this.records.keys()].map((id) => this.terminate(id, options)),
      ...listed
        .filter((c) => !known.has(c.Id))
        .map((c) =>
          this.engineClient.request({
            method: 'DELETE',
            path: `/containers/${c.Id}`,
            endpoint: 'DELETE /containers/{id}',
            query: { force: 1 },
            ok: [404],
          }),
        ),
    ]);
  }

  /**
   * Closes the events stream, terminates every worker (unless `terminateOnClose: false`), closes every
   * attach connection and the engine connections.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.#eventStream.close();
    try {
      if (this.records.size > 0 && this.#options.terminateOnClose !== false) await this.terminateAll();
    } finally {
      await Promise.all([...this.records.values()].map((r) => r.io?.close()));
      await this.engineClient.close();
    }
  }

  // ---- engine state ------------------------------------------------------------------------------

  #createError(error: unknown, name: string): unknown {
    if (!(error instanceof EngineRequestError)) return error;
    const { status, engineMessage } = error.details as { status: number; engineMessage: string };
    if (status === 404 && /no such image/i.test(engineMessage)) {
      return new ImageNotFoundError(
        `Image "${this.#options.image}" is not on the Docker engine at ${this.engineClient.where}. Pull or build it first (docker pull ${this.#options.image}); the launcher never pulls.`,
        { cause: error, details: { image: this.#options.image, engine: this.engineClient.where } },
      );
    }
    if (status === 409) {
      return new EngineRequestError(
        `A container named "${name}" already exists on ${this.engineClient.where}, left by an earlier launcher with runId "${this.runId}". Remove it with terminateAll() on a launcher with that runId, or use another runId.`,
        { cause: error, details: { ...error.details, name } },
      );
    }
    return error;
  }

  #list(signal?: AbortSignal): Promise<ListedContainer[]> {
    return this.engineClient
      .request({
        method: 'GET',
        path: '/containers/json',
        endpoint: 'GET /containers/json',
        query: { all: 1, filters: JSON.stringify({ label: [`${RUN_ID_LABEL}=${this.runId}`] }) },
        signal,
      })
      .then((r) => r.json<ListedContainer[]>());
  }

  /** One list call for every worker, then each worker's status; concurrent callers share one refresh. */
  #refreshAll(signal?: AbortSignal): Promise<void> {
    this.#refreshing ??= (async () => {
      try {
        const seqAtStart = this.#seq;
        const listed = await this.#list(signal);
        const seen = new Set<string>();
        for (const c of listed) {
          const record = this.records.get(c.Labels?.[WORKER_ID_LABEL] ?? '');
          if (!record || record.containerId !== c.Id) continue;
          seen.add(record.workerId);
          this.#applyListed(record, c);
        }
        for (const record of this.records.values()) {
          if (!seen.has(record.workerId) && record.seq <= seqAtStart && !record.removed) {
            record.engineState = 'gone';
          }
        }
        await Promise.all([...this.records.values()].map((r) => this.#derive(r, signal)));
      } finally {
        this.#refreshing = undefined;
      }
    })();
    return this.#refreshing;
  }

  #applyListed(record: ContainerRecord, c: ListedContainer): void {
    record.engineState = (c.State as EngineState | undefined) ?? record.engineState;
    const status = c.Status ?? '';
    const exited = /Exited \((-?\d+)\)/.exec(status);
    if (exited) record.engineExitCode = Number(exited[1]);
    const health = /\((healthy|unhealthy|health: starting)\)/.exec(status);
    record.health = health ? (health[1] === 'health: starting' ? 'starting' : health[1]) : record.health;
  }

  async #inspect(record: ContainerRecord, signal?: AbortSignal): Promise<void> {
    const res = await this.engineClient.request({
      method: 'GET',
      path: `/containers/${record.containerId}/json`,
      endpoint: 'GET /containers/{id}/json',
      signal,
      ok: [404],
    });
    if (res.status === 404) {
      record.engineState = 'gone';
      return;
    }
    const state = res.json<InspectedContainer>().State ?? {};
    record.engineState = (state.Status as EngineState | undefined) ?? record.engineState;
    record.engineExitCode = state.ExitCode ?? record.engineExitCode;
    record.oom ||= state.OOMKilled === true;
    record.health = state.Health?.Status ?? record.health;
  }

  /** Turns what is known of a worker (engine state, health, heartbeat) into its status. */
  async #derive(record: ContainerRecord, signal?: AbortSignal): Promise<void> {
    if (isTerminalWorkerStatus(record.status) || record.stopRequested || record.dying) return;
    record.checkedAt = this.clock.now();
    switch (record.engineState) {
      case 'exited':
      case 'dead': {
        await this.die(record, () => this.#onExit(record));
        return;
      }
      case 'gone':
        this.setStatus(record, WorkerStatus.CRASHED, 'container disappeared (removed outside the launcher)');
        return;
      case 'paused':
        this.setStatus(record, WorkerStatus.STALLED, 'container paused');
        return;
      case 'running':
        break;
      default:
        return; // created, restarting, removing: nothing new
    }
    if (record.health === 'unhealthy') {
      this.setStatus(record, WorkerStatus.STALLED, 'the engine health check reports unhealthy');
      return;
    }
    const verdict = await this.heartbeatVerdict(record, signal);
    record.healthCheckAt = this.clock.now();
    if (isTerminalWorkerStatus(record.status) || record.stopRequested || record.dying) return;
    if (!verdict.stale) this.setStatus(record, verdict.status, verdict.reason);
    else await this.#staleHeartbeat(record, verdict.reason, signal);
  }

  /** A stale heartbeat: STALLED, unless the exec health check (run at most once per cooldown) passes. */
  async #staleHeartbeat(record: ContainerRecord, reason: string, signal?: AbortSignal): Promise<void> {
    const check = this.#options.healthCheck;
    if (!check) {
      this.setStatus(record, WorkerStatus.STALLED, reason);
      return;
    }
    const now = this.clock.now();
    if (
      record.execOk === undefined ||
      record.execAt === undefined ||
      now - record.execAt >= this.cooldownMs
    ) {
      record.execAt = now;
      record.execOk = await this.#exec(record, check, signal);
    }
    if (isTerminalWorkerStatus(record.status) || record.stopRequested || record.dying) return;
    if (record.execOk.ok) {
      this.setStatus(record, settled(record), `${reason}, but the exec health check passed`);
    } else {
      this.setStatus(
        record,
        WorkerStatus.STALLED,
        `${reason}; exec health check failed: ${record.execOk.detail}`,
      );
    }
  }

  async #exec(
    record: ContainerRecord,
    check: ContainerHealthCheck,
    signal?: AbortSignal,
  ): Promise<{ ok: boolean; detail: string }> {
    const timeoutMs = check.timeoutMs ?? 5000;
    const child = childAbortController(signal);
    const timer = this.clock.setTimeout(
      () => child.controller.abort(new Error(`timed out after ${timeoutMs} ms`)),
      timeoutMs,
    );
    try {
      const created = await this.engineClient.request({
        method: 'POST',
        path: `/containers/${record.containerId}/exec`,
        endpoint: 'POST /containers/{id}/exec',
        // Attached output makes the start call last until the command's output ends.
        body: { Cmd: check.cmd, AttachStdout: true, AttachStderr: true },
        signal: child.signal,
      });
      const execId = created.json<{ Id: string }>().Id;
      const output = await this.engineClient.request({
        method: 'POST',
        path: `/exec/${execId}/start`,
        endpoint: 'POST /exec/{id}/start',
        body: { Detach: false, Tty: false },
        signal: child.signal,
      });
      // The engine records the exit code a moment after the output ends: ask again until it has.
      for (let attempt = 0; ; attempt++) {
        const info = await this.engineClient.request({
          method: 'GET',
          path: `/exec/${execId}/json`,
          endpoint: 'GET /exec/{id}/json',
          signal: child.signal,
        });
        const { Running, ExitCode } = info.json<{ Running?: boolean; ExitCode?: number | null }>();
        if (!Running && typeof ExitCode === 'number') {
          const said = demux(output.body).trim().split('\n').at(-1)?.slice(0, 200);
          return {
            ok: ExitCode === 0,
            detail: `exit code ${ExitCode}${said ? ` (${JSON.stringify(said)})` : ''}`,
          };
        }
        // Real time, not the clock: this only paces an I/O poll (at most ~1 s); the clock bounds the check.
        if (attempt >= 20) return { ok: false, detail: 'the engine did not report an exit code' };
        await delay(Math.min(5 * 2 ** attempt, 100), undefined, { signal: child.signal });
      }
    } catch (error) {
      if (signal?.aborted) throw signal.reason;
      const detail = child.signal.aborted
        ? String((child.signal.reason as Error).message)
        : String(
            ((error as EngineRequestError).details?.engineMessage as string | undefined) ??
              (error as Error).message,
          );
      return { ok: false, detail };
    } finally {
      this.clock.clearTimeout(timer);
      child.dispose();
    }
  }

  /** A dead container: STOPPED on exit 0, else CRASHED with its last log lines. */
  async #onExit(record: ContainerRecord): Promise<void> {
    const code = record.engineExitCode;
    record.exitCode = code;
    if (code === 0 && !record.oom) {
      this.setStatus(record, WorkerStatus.STOPPED, 'exited with code 0');
      return;
    }
    let what = `exit code ${code ?? 'unknown'}`;
    if (record.oom) what = `out of memory (${what})`;
    else if (record.killSignal !== undefined) what += ` after signal ${record.killSignal}`;
    record.logTail = await this.#logs(record).catch((error: unknown) => {
      this.logger.warn(
        { err: error, workerId: record.workerId },
        'could not read the logs of a dead container',
      );
      return [];
    });
    this.setStatus(record, WorkerStatus.CRASHED, deathReason(what, record.logTail));
  }

  #logs(record: ContainerRecord): Promise<string[]> {
    return logTail(
      (req) => this.engineClient.request(req),
      `/containers/${record.containerId}/logs`,
      'GET /containers/{id}/logs',
      this.logTailLines,
    );
  }

  async #remove(record: ContainerRecord): Promise<void> {
    if (record.removed) return;
    await this.engineClient.request({
      method: 'DELETE',
      path: `/containers/${record.containerId}`,
      endpoint: 'DELETE /containers/{id}',
      query: { force: 1 },
      ok: [404],
    });
    record.removed = true;
    record.engineState = 'gone';
  }

  // ---- events stream -----------------------------------------------------------------------------

  #onEngineEvent(event: EngineEvent): void {
    const attributes = event.Actor?.Attributes ?? {};
    const record = this.records.get(attributes[WORKER_ID_LABEL] ?? '');
    const containerId = event.Actor?.ID ?? event.id;
    if (event.Type !== 'container' || !record || record.containerId !== containerId) return;
    const action = event.Action ?? '';
    switch (action.split(':')[0]) {
      case 'start':
      case 'unpause':
        if (record.engineState !== 'exited' && record.engineState !== 'gone') record.engineState = 'running';
        break;
      case 'die':
        record.engineState = 'exited';
        record.engineExitCode = Number(attributes.exitCode ?? Number.NaN);
        break;
      case 'oom':
        record.oom = true;
        return;
      case 'kill':
        record.killSignal = attributes.signal;
        return;
      case 'pause':
        record.engineState = 'paused';
        break;
      case 'destroy':
        if (!record.removed) record.engineState = 'gone';
        break;
      case 'health_status':
        record.health = action.slice('health_status:'.length).trim();
        break;
      default:
        return;
    }
    this.#derive(record).catch((error: unknown) =>
      this.logger.warn(
        { err: error, workerId: record.workerId },
        'could not update a worker from an engine event',
      ),
    );
  }
}

/**
 * Makes a container launcher (the `createX` way every long-lived ordo component is made; the class is exported for its
 * type and `instanceof`, and `new ContainerLauncher(…)` keeps working).
 *
 * @example
 * ```ts
 * const launcher = createContainerLauncher({ image: 'node:20', cmd: ['node', 'worker.js'] });
 * ```
 */
export function createContainerLauncher(options: ContainerLauncherOptions): ContainerLauncher {
  return new ContainerLauncher(options);
}
