/**
 * `@ordo/launcher`: workers as subprocesses, Docker containers or Docker Swarm services, watched cheaply (cooldown cache, one
 * batched Engine API call per poll, an events stream), with heartbeats and stall detection; worker, task,
 * level and feature metrics, a crash-safe state file and the status view.
 * @packageDocumentation
 */

export {
  CONTAINER_HEARTBEAT_DIR,
  type ContainerHealthCheck,
  ContainerLauncher,
  type ContainerLauncherEvents,
  type ContainerLauncherOptions,
  type ContainerLimits,
  type ContainerMount,
  type ContainerWorkerHandle,
  createContainerLauncher,
  type EventsStreamChange,
  type MonitorMode,
  RUN_ID_LABEL,
  WORKER_ID_LABEL,
  type WorkerStderrLine,
} from './containerLauncher.js';
export { DEFAULT_DOCKER_SOCKET, type DockerConnection, type DockerTls, dockerFromEnv } from './docker.js';
// ── State and metrics ────────────────────────────────────────────────────────────────────────────
export { durationMs, formatDuration, type TimeInput, toEpochMs } from './duration.js';
export {
  DuplicateWorkerError,
  EngineRequestError,
  EngineUnavailableError,
  ImageNotFoundError,
  InvalidOptionsError,
  LauncherClosedError,
  LauncherErrorCode,
  type LauncherErrorOptions,
  MetricsInputError,
  SpawnFailedError,
  StateClosedError,
  StateCorruptError,
  StateErrorCode,
  StateNotAFileError,
  StateUnknownEntityError,
  StateVersionError,
  StateWriteError,
  SwarmNotActiveError,
  UnknownWorkerError,
  WorkerIoClosedError,
  WorkerIoStreamError,
} from './errors.js';
export { HEARTBEAT_DIR_ENV, type Heartbeat, heartbeatPath, WORKER_ID_ENV } from './heartbeat.js';
export {
  createHeartbeatMonitor,
  HeartbeatMonitor,
  type HeartbeatMonitorOptions,
  type HeartbeatMonitorStats,
} from './heartbeatMonitor.js';
export {
  createHeartbeatWriter,
  HeartbeatWriter,
  type HeartbeatWriterOptions,
  writeHeartbeat,
} from './heartbeatWriter.js';
export {
  FeatureMetrics,
  type FeatureMetricsData,
  type FeatureMetricsJson,
  LevelMetrics,
  type LevelMetricsData,
  type LevelStatus,
  type MetricsJson,
  TaskMetrics,
  type TaskMetricsData,
  type TaskStatus,
  WorkerMetrics,
  type WorkerMetricsData,
} from './metrics.js';
export {
  createMetricsCollector,
  MetricsCollector,
  type MetricsCollectorOptions,
} from './metricsCollector.js';
export { percentile } from './percentile.js';
export {
  type CountsApiCalls,
  createPoller,
  type Poller,
  type PollerEvents,
  type PollerOptions,
  type PollerStats,
  type PollerTick,
} from './poller.js';
export {
  type OpenWorkerConnectionOptions,
  openWorkerConnection,
  type WorkerConnection,
  type WorkerTlsOptions,
} from './remoteClient.js';
export {
  CredentialInvalidError,
  InsecureListenError,
  ListenFailedError,
  type RefusalReason,
  RemoteConnectTimeoutError,
  RemoteErrorCode,
  RemoteOptionsError,
  RemoteRefusedError,
  RemoteUnreachableError,
} from './remoteErrors.js';
export {
  createRemoteLauncher,
  type RemoteEndpointStats,
  type RemoteLauncher,
  type RemoteLauncherEvents,
  type RemoteLauncherOptions,
  type RemotePlacement,
  type RemoteRefusal,
  type RemoteTlsOptions,
  type RemoteWorkerHandle,
  WORKER_CONNECT_ENV,
  WORKER_TLS_ENV,
  WORKER_TOKEN_FILE_ENV,
  type WorkerTlsFiles,
} from './remoteLauncher.js';
export { type RenderStatusOptions, renderStatus } from './renderStatus.js';
export {
  checkState,
  type IsoTime,
  type LauncherState,
  type LevelState,
  parseState,
  STATE_SCHEMA_VERSION,
  type TaskState,
  type WorkerState,
} from './stateSchema.js';
export {
  openStateStore,
  type ReadStateOptions,
  type ReadStateResult,
  readStateFile,
  type StateSource,
  StateStore,
  type StateStoreEvents,
  type StateStoreOptions,
  type TaskCompletedOptions,
  type TaskFailedOptions,
} from './stateStore.js';
export {
  createSubprocessLauncher,
  type ProcessWorkerHandle,
  SubprocessLauncher,
  type SubprocessLauncherOptions,
} from './subprocessLauncher.js';
export {
  createSwarmLauncher,
  type SwarmEventsStreamChange,
  SwarmLauncher,
  type SwarmLauncherEvents,
  type SwarmLauncherOptions,
  type SwarmPlacement,
  type SwarmSecret,
  type SwarmWorkerHandle,
} from './swarmLauncher.js';
export {
  createWorkerCertificates,
  type PemCredential,
  type WorkerCertificates,
  type WorkerCertificatesOptions,
} from './workerCertificates.js';
// ── end of state and metrics ─────────────────────────────────────────────────────────────────────
