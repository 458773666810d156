import type { Clock, Launcher, Logger } from '@ordo/contracts';
import { isTerminalWorkerStatus } from '@ordo/contracts';
import { createRemoteLauncher, type RemoteLauncher } from '@ordo/launcher';
import { Counter, Gauge, type Registry } from 'prom-client';
import type { RemoteWorkersOptions, WorkerEndpointInfo } from '../types.js';

/**
 * The runtime's worker endpoint: a `RemoteLauncher` listening where `options.listen` says, its refusals
 * counted in `ordo_worker_endpoint_refusals_total{reason}` of the runtime's registry.
 */
export async function createRemoteWorkers(
  options: RemoteWorkersOptions,
  parts: { clock: Clock | undefined; logger: Logger },
): Promise<RemoteLauncher> {
  return createRemoteLauncher({ ...options, clock: parts.clock, logger: parts.logger });
}

/** Registers the endpoint's counters in `registry` and keeps them current. */
export function bindRemoteMetrics(launcher: RemoteLauncher, registry: Registry): void {
  const refusals = new Counter({
    name: 'ordo_worker_endpoint_refusals_total',
    help: 'Worker endpoint connections refused before any task data, by reason.',
    labelNames: ['reason'],
    registers: [registry],
  });
  new Counter({
    name: 'ordo_worker_endpoint_accepted_total',
    help: 'Worker endpoint connections that authenticated and got a worker id.',
    registers: [registry],
    collect() {
      this.reset();
      this.inc(launcher.stats().accepted);
    },
  });
  launcher.on('refused', ({ reason }) => refusals.inc({ reason }));
  // Where each connected worker runs: the starter's node (a Swarm node), else the host it reported.
  const placement = new Gauge({
    name: 'ordo_worker_endpoint_worker_info',
    help: 'One series per connected remote worker, labelled with where it runs.',
    labelNames: ['worker_id', 'node', 'hostname', 'address'],
    registers: [registry],
  });
  launcher.on('status', ({ workerId, to }) => {
    const node = launcher.handle(workerId)?.node;
    if (node === undefined) return;
    const labels = {
      worker_id: workerId,
      node: node.nodeId,
      hostname: node.hostname ?? '',
      address: node.address,
    };
    if (isTerminalWorkerStatus(to)) placement.remove(labels);
    else placement.set(labels, 1);
  });
}

/** What `runtime.workerEndpoint` shows. */
export function endpointInfo(launcher: RemoteLauncher): WorkerEndpointInfo {
  return {
    url: launcher.url,
    tokenFile: launcher.tokenFile,
    tlsFiles: launcher.tlsFiles,
    stats: () => launcher.stats(),
  };
}

/**
 * Where a worker runs, for the state file: the host name (else the node id) on its handle's `node`, which
 * Swarm and remote workers have; `undefined` for local workers.
 */
export function placementOf(launcher: Launcher, workerId: string): string | undefined {
  const node = (launcher.handle(workerId) as { node?: { nodeId?: unknown; hostname?: unknown } } | undefined)
    ?.node;
  if (typeof node?.hostname === 'string' && node.hostname !== '') return node.hostname;
  return typeof node?.nodeId === 'string' && node.nodeId !== '' ? node.nodeId : undefined;
}
