/**
 * `@ordo/launcher/worker`: what a worker process imports to write heartbeats. Small, with no dependency
 * beyond Node and `@ordo/contracts`.
 * @packageDocumentation
 */
export { HEARTBEAT_DIR_ENV, type Heartbeat, heartbeatPath, WORKER_ID_ENV } from './heartbeat.js';
export {
  createHeartbeatWriter,
  HeartbeatWriter,
  type HeartbeatWriterOptions,
  writeHeartbeat,
} from './heartbeatWriter.js';
