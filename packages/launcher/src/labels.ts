/** The label holding the launcher's run id; every container, service and secret of a launcher carries it. */
export const RUN_ID_LABEL = 'ordo.run-id';
/** The label holding the worker id. */
export const WORKER_ID_LABEL = 'ordo.worker-id';
/** Where `heartbeatDir` is mounted inside each container (and what `ORDO_HEARTBEAT_DIR` says there). */
export const CONTAINER_HEARTBEAT_DIR = '/ordo/heartbeats';

/** A host directory bind-mounted into every container. */
export interface ContainerMount {
  /** The host path. */
  source: string;
  /** The path inside the container. */
  target: string;
  /** Mount it read-only. @default false */
  readOnly?: boolean | undefined;
}
