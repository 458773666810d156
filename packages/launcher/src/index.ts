/**
 * `@ordo/launcher`: workers as subprocesses or Docker containers, watched cheaply (cooldown cache, one
 * batched Engine API call per poll, an events stream), with heartbeats and stall detection.
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
  type EventsStreamChange,
  type MonitorMode,
  RUN_ID_LABEL,
  WORKER_ID_LABEL,
} from './containerLauncher.js';
export { DEFAULT_DOCKER_SOCKET, type DockerConnection, type DockerTls, dockerFromEnv } from './docker.js';
export {
  DuplicateWorkerError,
  EngineRequestError,
  EngineUnavailableError,
  ImageNotFoundError,
  InvalidOptionsError,
  LauncherClosedError,
  LauncherErrorCode,
  type LauncherErrorOptions,
  SpawnFailedError,
  UnknownWorkerError,
} from './errors.js';
export { HEARTBEAT_DIR_ENV, type Heartbeat, heartbeatPath, WORKER_ID_ENV } from './heartbeat.js';
export {
  HeartbeatMonitor,
  type HeartbeatMonitorOptions,
  type HeartbeatMonitorStats,
} from './heartbeatMonitor.js';
export { HeartbeatWriter, type HeartbeatWriterOptions, writeHeartbeat } from './heartbeatWriter.js';
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
  type ProcessWorkerHandle,
  SubprocessLauncher,
  type SubprocessLauncherOptions,
} from './subprocessLauncher.js';
