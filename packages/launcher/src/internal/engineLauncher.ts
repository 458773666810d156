import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import {
  isTerminalWorkerStatus,
  type LauncherEvents,
  noopLogger,
  systemClock,
  type WorkerHandle,
  type WorkerSpec,
  type WorkerStatus,
} from '@ordo/contracts';
import type { ContainerLauncherOptions } from '../containerLauncher.js';
import { dockerFromEnv } from '../docker.js';
import { InvalidOptionsError } from '../errors.js';
import { HEARTBEAT_DIR_ENV, heartbeatPath, WORKER_ID_ENV } from '../heartbeat.js';
import { CONTAINER_HEARTBEAT_DIR, type ContainerMount, RUN_ID_LABEL, WORKER_ID_LABEL } from '../labels.js';
import { EngineClient } from './engine.js';
import { type EngineEvent, EngineEventStream, reconnectDelays } from './eventStream.js';
import { LauncherBase, type WorkerRecord } from './launcherBase.js';
import { assertNumber, assertRunId } from './validate.js';

/** The options both Engine API launchers (containers, Swarm services) take, documented on each. */
export type EngineLauncherOptions = Pick<
  ContainerLauncherOptions,
  | 'docker'
  | 'image'
  | 'cmd'
  | 'env'
  | 'labels'
  | 'mounts'
  | 'heartbeatDir'
  | 'staleAfterMs'
  | 'cooldownMs'
  | 'reconnect'
  | 'runId'
  | 'logTailLines'
  | 'policy'
  | 'clock'
  | 'logger'
>;

/** What a new worker's container or task gets (see {@link EngineLauncher.newWorker}). */
export interface NewWorker {
  env: Record<string, string>;
  labels: Record<string, string>;
  cmd: string[];
  /** The `mounts` option, then the heartbeat dir. */
  mounts: ContainerMount[];
}

/** What an Engine API launcher keeps about a worker, besides the common fields. */
export interface EngineWorkerRecord extends WorkerRecord {
  /** When the worker's status was last worked out (for the `monitor` cooldown). */
  checkedAt: number | undefined;
  /** Set while a dead worker's logs are read, before it turns CRASHED. */
  dying: Promise<void> | undefined;
}

/**
 * The parts `ContainerLauncher` and `SwarmLauncher` share: the checked options, the Engine API client, the
 * run id, the handles, the `monitor` cooldown and the events streams' settings.
 */
export abstract class EngineLauncher<
  R extends EngineWorkerRecord,
  E extends LauncherEvents & { [K in keyof E]: unknown[] },
  H extends WorkerHandle,
> extends LauncherBase<R, E> {
  /** This launcher's run id (the `ordo.run-id` label of everything it makes on the engine). */
  readonly runId: string;
  protected readonly engineClient: EngineClient;
  protected readonly cooldownMs: number;
  protected readonly logTailLines: number;
  protected readonly handles = new Map<string, H>();
  readonly #reconnect: { initialMs: number; maxMs: number };
  readonly #common: EngineLauncherOptions;

  protected constructor(kind: string, options: EngineLauncherOptions) {
    const staleAfterMs = options.staleAfterMs ?? 120_000;
    assertNumber('staleAfterMs', staleAfterMs);
    const logger = options.logger ?? noopLogger;
    super({ clock: options.clock ?? systemClock, logger, staleAfterMs, heartbeatDir: options.heartbeatDir });
    if (typeof options.image !== 'string' || options.image === '') {
      throw new InvalidOptionsError(`${kind} needs an \`image\` (already on the engine).`);
    }
    this.cooldownMs = options.cooldownMs ?? 10_000;
    assertNumber('cooldownMs', this.cooldownMs);
    this.logTailLines = options.logTailLines ?? 20;
    assertNumber('logTailLines', this.logTailLines);
    this.#reconnect = reconnectDelays(options.reconnect);
    this.runId = assertRunId(options.runId ?? randomBytes(6).toString('hex'));
    this.engineClient = new EngineClient(options.docker ?? dockerFromEnv(), logger, 8, options.policy);
    this.#common = options;
  }

  /**
   * Starts a new worker's spawn: checks the id, removes its old heartbeat file, and works out its
   * environment (`ORDO_WORKER_ID`, `ORDO_HEARTBEAT_DIR`), labels (run id, worker id), command and mounts.
   */
  protected async newWorker(workerId: string, spec: WorkerSpec, signal?: AbortSignal): Promise<NewWorker> {
    signal?.throwIfAborted();
    this.checkNewWorker(workerId);
    const o = this.#common;
    const env: Record<string, string> = { ...o.env, ...spec.env, [WORKER_ID_ENV]: workerId };
    const mounts = [...(o.mounts ?? [])];
    if (this.heartbeatDir !== undefined) {
      await rm(heartbeatPath(this.heartbeatDir, workerId), { force: true });
      env[HEARTBEAT_DIR_ENV] = CONTAINER_HEARTBEAT_DIR;
      mounts.push({ source: this.heartbeatDir, target: CONTAINER_HEARTBEAT_DIR });
    }
    return {
      env,
      labels: { ...o.labels, ...spec.labels, [RUN_ID_LABEL]: this.runId, [WORKER_ID_LABEL]: workerId },
      cmd: [...(o.cmd ?? []), ...(spec.args ?? [])],
      mounts,
    };
  }

  /** Engine API calls made so far, by endpoint (e.g. `{ 'GET /containers/json': 40, 'GET /events': 1 }`). */
  apiCalls(): Record<string, number> {
    return this.engineClient.apiCalls();
  }

  /** Where the engine is, e.g. `unix:///var/run/docker.sock`. */
  get engine(): string {
    return this.engineClient.where;
  }

  /** The handle of a worker this launcher started (or adopted), if it knows it. */
  handle(workerId: string): H | undefined {
    return this.handles.get(workerId);
  }

  /**
   * The worker's status. Answers from the cache when the worker was checked less than `cooldownMs` ago;
   * otherwise refreshes it as the launcher's description says (no call while its events stream is up).
   */
  async monitor(workerId: string, signal?: AbortSignal): Promise<WorkerStatus> {
    signal?.throwIfAborted();
    const record = this.record(workerId);
    await record.dying;
    if (isTerminalWorkerStatus(record.status) || record.stopRequested) return record.status;
    if (record.checkedAt !== undefined && this.clock.now() - record.checkedAt < this.cooldownMs) {
      return record.status;
    }
    await this.refresh(record, signal);
    return record.status;
  }

  /** Brings one worker's status up to date for `monitor`. */
  protected abstract refresh(record: R, signal?: AbortSignal): Promise<void>;

  /** Every worker's status, once the deaths being worked out are done. */
  protected async statuses(): Promise<ReadonlyMap<string, WorkerStatus>> {
    await Promise.all([...this.records.values()].map((r) => r.dying));
    return new Map([...this.records].map(([id, r]) => [id, r.status]));
  }

  /** Runs the death of a worker (reading its logs, then CRASHED or STOPPED) once, visible as `dying`. */
  protected async die(record: R, death: () => Promise<void>): Promise<void> {
    const dying = death();
    record.dying = dying;
    await dying;
    if (record.dying === dying) record.dying = undefined;
  }

  /** An events stream on this launcher's engine, clock, logger and reconnect settings. */
  protected eventStream(
    filters: Readonly<Record<string, readonly string[]>>,
    onEvent: (event: EngineEvent) => void,
    onChange: (connected: boolean, reason: string) => void,
  ): EngineEventStream {
    return new EngineEventStream({
      engine: this.engineClient,
      clock: this.clock,
      logger: this.logger,
      filters,
      reconnect: this.#reconnect,
      onEvent,
      onChange,
    });
  }
}
