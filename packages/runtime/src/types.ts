import type { Clock, FeatureTaskStatus, Launcher, Logger } from '@ordo/contracts';
import type { OrdoConfig, ReloadOutcome } from '@ordo/governance';
import type { Trace } from '@ordo/kernel-scheduler';
import type {
  ContainerLimits,
  ContainerMount,
  FeatureMetricsJson,
  RemoteEndpointStats,
  RemoteLauncherOptions,
  WorkerTlsFiles,
} from '@ordo/launcher';

/** The built-in launchers `createRuntime` can build, or any {@link Launcher} the host brings. */
export type LauncherChoice = 'subprocess' | 'docker' | Launcher;

/** Options for `createRuntime`. */
export interface RuntimeOptions {
  /**
   * The config: a YAML file path, or a partial config object merged over the defaults. Environment overrides
   * (`ORDO_WORKERS__MAX=4`) apply on top either way, as `loadConfig` does.
   * @default the defaults plus the environment
   */
  config?: string | DeepPartial<OrdoConfig> | undefined;
  /**
   * Watch the config file (`config` must be a path) and apply edits while running: the live keys (memory
   * interval, thresholds and hysteresis, breaker, admission, poll interval, log level) change the running
   * parts and `/metrics` (`ordo_config_value`); a change to a restart-only key is logged at warn naming it
   * and kept at its old value; an invalid edit is logged with why and the config in force stays.
   * `runtime.reloadConfig()` does the same on demand.
   * @default false
   */
  watch?: boolean | undefined;
  /** The directory task edits apply to. Every path a plan declares is relative to it. */
  workspace: string;
  /** Where the state file and the spool's scratch files live. @default `<workspace>/.ordo` */
  stateDir?: string | undefined;
  /** Which workers run the tasks. @default 'subprocess' */
  launcher?: LauncherChoice | undefined;
  /**
   * How many workers run at once, or `{ count, remote }` to run them as remote workers that connect in to
   * the runtime's worker endpoint (`ordo worker --connect`). @default `config.workers.max`
   */
  workers?: number | WorkersOptions | undefined;
  /** For `launcher: 'docker'`: the worker image, what it mounts and runs. @default { image: ORDO_WORKER_IMAGE } */
  docker?: DockerWorkerOptions | undefined;
  /** Extra environment variables for every worker. @default {} */
  workerEnv?: Readonly<Record<string, string>> | undefined;
  /** @default noopLogger */
  logger?: Logger | undefined;
  /** @default systemClock */
  clock?: Clock | undefined;
  /** Aborting it closes the runtime. */
  signal?: AbortSignal | undefined;
  /**
   * OpenTelemetry tracing of every feature run (needs the optional peer `@opentelemetry/api`): a span per
   * feature, level and task, with the tasks' run and commit steps as children, and each task's context
   * passed to its worker. Without it, nothing of OpenTelemetry is loaded. @default off
   */
  telemetry?: RuntimeTelemetryOptions | undefined;
}

/**
 * How a runtime traces its feature runs. The spans are made with `tracer`, as children of the context that
 * is active when `runFeature` is called.
 *
 * @example
 * ```ts
 * import { trace } from '@opentelemetry/api';
 * await using runtime = await createRuntime({ workspace, telemetry: { tracer: trace.getTracer('ordo') } });
 * ```
 */
export interface RuntimeTelemetryOptions {
  /**
   * An OpenTelemetry `Tracer` (`trace.getTracer(name)` of `@opentelemetry/api`, or a provider's own
   * `getTracer`). Typed by shape so that hosts without the peer installed need none of its types.
   */
  tracer: TelemetryTracer;
}

/** The part of an OpenTelemetry `Tracer` the runtime uses; any `Tracer` of `@opentelemetry/api` 1.x fits. */
export interface TelemetryTracer {
  startSpan(name: string, options?: unknown, context?: unknown): unknown;
}

/** `workers` as an object: how many, and where they come from. */
export interface WorkersOptions {
  /** How many workers run at once. @default `config.workers.max` */
  count?: number | undefined;
  /**
   * Serve a worker endpoint and run the pool on the workers that connect to it (or that `remote.starter`
   * starts, e.g. a `SwarmLauncher`); `launcher` is then not used. The feature run, spool, validation,
   * commits and trace stay here.
   */
  remote?: RemoteWorkersOptions | undefined;
}

/**
 * The runtime's worker endpoint (`createRemoteLauncher` of `@ordo/launcher`): `listen` (a unix socket, or
 * TCP with `tls`; plain TCP only on loopback or with `allowInsecure`), the credential (`tokenFile`, or a
 * random token in a private temp file), an optional `starter` and the handshake limits.
 */
export type RemoteWorkersOptions = Omit<RemoteLauncherOptions, 'clock' | 'logger'>;

/** Where remote workers connect, as `runtime.workerEndpoint` shows it. */
export interface WorkerEndpointInfo {
  /** The URL to give `ordo worker --connect`. */
  url: string;
  /** The credential file to give `--token-file` (or `ORDO_WORKER_TOKEN_FILE`). */
  tokenFile: string;
  /**
   * With `remote.tls: 'auto'`: the worker's TLS files to give `--tls-ca`, `--tls-cert` and `--tls-key`
   * (or `ORDO_WORKER_TLS_CA`, `_CERT`, `_KEY`); removed when the runtime closes. Otherwise `undefined`.
   */
  tlsFiles: WorkerTlsFiles | undefined;
  /** Accepted and refused connections so far. */
  stats(): RemoteEndpointStats;
}

/**
 * How `launcher: 'docker'` runs its workers: one container each, talking over its stdin/stdout. The
 * workspace is never mounted: files and edits travel over that channel, and the runtime commits on the host.
 *
 * Two ways to run: by default (`mountHostNode`) the container runs the host's Node and this install of
 * `@ordo/runtime`, bind-mounted read-only at the same paths, so any small image works (a local engine only).
 * With `mountHostNode: false` the image brings its own Node and `@ordo/runtime` and runs the worker itself
 * (its CMD, or `cmd`); see the README for a Dockerfile.
 *
 * Gotchas: a module task's file must be readable inside the container: mount its directory with `mounts`
 * (read-only, at the same path), or build it into the image.
 */
export interface DockerWorkerOptions {
  /** The worker image; it must be on the engine (the runtime never pulls). @default `ORDO_WORKER_IMAGE` */
  image?: string | undefined;
  /**
   * The container's command. @default with `mountHostNode`, the host's `workerCommand()`; without it, the
   * image's CMD
   */
  cmd?: readonly string[] | undefined;
  /**
   * Bind-mount the host's Node, its shared libraries, bash and the project root of this install, read-only
   * at the same paths (`hostNodeMounts()`). Turn it off for an image that brings its own worker.
   * @default true, unless `ORDO_WORKER_MOUNT_HOST_NODE` is `0` or `false`
   */
  mountHostNode?: boolean | undefined;
  /**
   * More bind mounts, e.g. the directory of the plan's module tasks at the same path. Read-only unless
   * a mount says `readOnly: false`. @default []
   */
  mounts?: readonly ContainerMount[] | undefined;
  /** Labels added to every worker container (besides `ordo.role=runtime-worker` and the launcher's). @default {} */
  labels?: Readonly<Record<string, string>> | undefined;
  /** The container network (`HostConfig.NetworkMode`). @default 'none' */
  network?: string | undefined;
  /** Memory, CPU and process limits of each worker container. @default none */
  limits?: ContainerLimits | undefined;
}

/** A partial of `T`, nested objects included. */
export type DeepPartial<T> = { [K in keyof T]?: T[K] extends object ? DeepPartial<T[K]> : T[K] };

/** Options for `runtime.runFeature`. */
export interface RunFeatureOptions {
  /**
   * Aborting it cancels the tasks in flight and the ones not started; committed tasks stay committed, and
   * `runFeature` resolves with status `cancelled` (it rejects with the reason only if the signal was already
   * aborted when it was called).
   */
  signal?: AbortSignal | undefined;
  /**
   * Pick up the unfinished run of this plan in the state directory (after a crash or a cancel): the tasks
   * its journal shows committed are skipped, the rest run, and the trace digest equals that of an
   * uninterrupted run. Without a journal it starts fresh; with the journal of another feature or plan it
   * rejects with `RESUME_MISMATCH`.
   * @default false
   */
  resume?: boolean | undefined;
  /** Called for every step, in order. */
  onEvent?: ((event: FeatureEvent) => void) | undefined;
  /**
   * A stored feature trace (`<stateDir>/traces/<feature>.json`, a kernel-scheduler trace) to replay: the plan
   * runs with the trace's seed and its records are compared with the trace's entries; the result's
   * `divergence` names the first task that differs. The trace is not stored again. Run a replay on a copy
   * of the workspace as it was before the feature (`ordo replay` makes one), or the tasks read their own edits.
   * Rejects with `RUNTIME_TRACE_INVALID` when the trace does not verify.
   * @default undefined (a normal run)
   */
  replay?: Trace | undefined;
}

/**
 * One step of a feature run, as `onEvent` sees it. The feature runs as one graph: a level starts
 * (`level-start`) when its first task starts, task events come as tasks progress (a task of level 2 may
 * start before one of level 1 has committed, though commits follow the plan order), and a `level-end` once
 * all of a level's tasks have an outcome (`cancelled` when one of them was cancelled).
 */
export type FeatureEvent =
  | {
      type: 'feature-start';
      feature: string;
      runId: string;
      levels: number;
      tasks: number;
      /** Tasks the journal shows committed before this (resumed) run: they are skipped. */
      resumed: number;
      /** Spool commits a crash left half done, rolled back before the run (their tasks run again). */
      recovered: number;
    }
  | { type: 'level-start'; level: number; tasks: readonly string[] }
  | { type: 'task-start'; level: number; taskId: string; workerId: string }
  | {
      type: 'task-skipped';
      level: number;
      taskId: string;
      reason: 'committed-before-resume' | 'dependency-failed';
    }
  | { type: 'task-committed'; level: number; taskId: string; files: readonly string[]; durationMs: number }
  | { type: 'task-failed'; level: number; taskId: string; code: string; message: string }
  | { type: 'level-end'; level: number; status: 'completed' | 'failed' | 'cancelled' }
  | { type: 'feature-end'; feature: string; status: FeatureStatus; traceDigest: string };

/** How a feature run ended. */
export type FeatureStatus = 'succeeded' | 'failed' | 'cancelled';

/** What happened to one task. */
export interface TaskOutcome {
  id: string;
  level: number;
  /** `committed`, `failed`, `skipped` or `cancelled` (contracts' {@link FeatureTaskStatus}). */
  status: FeatureTaskStatus;
  /** Paths (relative to the workspace) the commit wrote or deleted. */
  files: readonly string[];
  /** The error code and message when it failed. */
  error?: { code: string; message: string } | undefined;
  durationMs: number;
}

/** What `runFeature` returns. */
export interface FeatureResult {
  feature: string;
  runId: string;
  status: FeatureStatus;
  /** One entry per task, in plan order of levels, then scheduler commit order. */
  tasks: readonly TaskOutcome[];
  /**
   * The final digest of the feature trace (the kernel-scheduler trace of the run, stored in
   * `<stateDir>/traces/<feature>.json`); equal for a resumed run and an uninterrupted one, and at any number
   * of workers.
   */
  traceDigest: string;
  /** The unified diff of every file the feature changed, against the workspace before it started. */
  diff: string;
  /** The feature, level, task and worker metrics. */
  metrics: FeatureMetricsJson;
  /** A replay only (`runFeature(plan, { replay })`): where the run first differed from the stored trace. */
  divergence?: FeatureDivergence | undefined;
}

/** Where a replayed feature first differs from its stored trace. */
export interface FeatureDivergence {
  /** The position in the trace's commit order. */
  seq: number;
  /** The task the trace has there (`undefined` past its end). */
  taskId: string | undefined;
  /** `order`: another task (or count) there, nothing ran; `status` or `result`: the task's outcome differs. */
  kind: 'order' | 'status' | 'result';
  /** What the trace recorded (an id, a status or a result digest). */
  expected: string | undefined;
  /** What the replay produced. */
  actual: string | undefined;
}

/** Options for `runtime.httpHandler`. */
export interface RuntimeHttpOptions {
  /**
   * The host's own routes. Requests to anything but `/metrics`, `/health` and `/status` pass admission
   * (503 under memory pressure, 429 over the rate, with `Retry-After`) and then reach it; without it they get 404.
   */
  next?:
    | ((req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse) => void)
    | undefined;
}

/** The wired runtime `createRuntime` returns. Dispose it (`await using`) or call `close()`. */
export interface Runtime extends AsyncDisposable {
  /** The config in force (defaults, file, environment, and the live keys of any reload since). */
  readonly config: Readonly<OrdoConfig>;
  /**
   * Reads the config file again and applies it by the rules of `watch`: which live keys applied, which
   * restart-only keys were refused, and the error of an invalid edit (the config in force stays).
   * @throws RuntimeOptionsError when the config was not given as a file path.
   */
  reloadConfig(): Promise<ReloadOutcome>;
  /** The workspace the edits apply to (absolute). */
  readonly workspace: string;
  /** Where the state file lives (absolute). */
  readonly stateDir: string;
  /**
   * Runs a plan (a typed object, a parsed plan, or a YAML/JSON file path, relative to the workspace) to the
   * end. Failed tasks do not reject: they are in the result with their error code (status `failed`).
   * @throws PlanInvalidError | PlanUnreadableError before anything runs; `RUNTIME_BUSY`, `RUNTIME_CLOSED`,
   * `RESUME_MISMATCH`; `WORKER_START_FAILED` / `RUNTIME_LAUNCHER_UNSUPPORTED` when no worker can start.
   */
  runFeature(plan: PlanSource, options?: RunFeatureOptions): Promise<FeatureResult>;
  /** The worker endpoint, when `workers.remote` is set. */
  readonly workerEndpoint: WorkerEndpointInfo | undefined;
  /** The current feature's metrics, or the last one's, or `undefined` before any. */
  status(): FeatureMetricsJson | undefined;
  /** The Prometheus text exposition of every metric. */
  metricsText(): Promise<string>;
  /** A `node:http` request listener serving `/metrics`, `/health`, `/status`, with admission in front of `next`. */
  httpHandler(
    options?: RuntimeHttpOptions,
  ): (req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse) => void;
  /** Stops workers, the poller, the monitor and every open handle. Idempotent. */
  close(): Promise<void>;
}

/** Anything `runFeature` accepts as a plan: a file path (`.yaml`, `.yml`, `.json`) or a plan object. */
export type PlanSource = string | PlanInput;

/** A feature plan as written by a user (validated by `parsePlan`). */
export interface PlanInput {
  /** The feature's name: letters, digits, `-`, `_`, `.`. */
  feature: string;
  /** The scheduler seed. @default 0 */
  seed?: number | undefined;
  tasks: readonly PlanTaskInput[];
}

/** One task of a plan. */
export interface PlanTaskInput {
  /** Unique in the plan. */
  id: string;
  /** Ids of tasks that must commit before this one starts. @default [] */
  deps?: readonly string[] | undefined;
  /** `CRITICAL`…`LOW` or 0–3. @default 'NORMAL' */
  priority?: 'CRITICAL' | 'HIGH' | 'NORMAL' | 'LOW' | 0 | 1 | 2 | 3 | undefined;
  /** Workspace-relative paths or globs the task may create, change or delete; anything else fails it. */
  files: readonly string[];
  /** Milliseconds the task may run once it has a worker; past it, it fails with `TASK_TIMEOUT`. @default none */
  timeoutMs?: number | undefined;
  /**
   * Whether the memory governor may preempt the task when memory reaches the critical level (85 % by
   * default): it is stopped and queued again, and runs from the start once memory allows, with the same
   * input, so its outcome does not change. Mark tasks that are safe to run twice. @default false
   */
  preemptable?: boolean | undefined;
  /**
   * What the worker runs: a bash command run in a scratch copy of the declared files (its cwd), or an ES
   * module (path relative to the plan file or absolute) whose default export `(ctx) => edits` returns edits.
   */
  run: { shell: string } | { module: string; export?: string | undefined; input?: unknown };
}

/** A validated plan, as `parsePlan` and `loadPlan` return it: defaults filled in, module paths absolute. */
export interface Plan {
  feature: string;
  /** The scheduler seed. */
  seed: number;
  /** The tasks, in the order written. */
  tasks: readonly PlanTask[];
  /** A sha256 of the plan's canonical JSON: a resumed run refuses a plan that changed. */
  digest: string;
}

/** One validated task of a {@link Plan}. */
export interface PlanTask {
  id: string;
  deps: readonly string[];
  /** A `TaskPriority` number: 0 CRITICAL … 3 LOW. */
  priority: 0 | 1 | 2 | 3;
  /** Workspace-relative paths or globs (`/`-separated) the task may create, change or delete. */
  files: readonly string[];
  timeoutMs: number | undefined;
  /** Present (true) when the plan marked the task preemptable. */
  preemptable?: true | undefined;
  run: { kind: 'shell'; shell: string } | { kind: 'module'; module: string; export: string; input: unknown };
}
