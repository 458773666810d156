import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Clock, Logger, Policy } from '@ordo/contracts';
import { type ContainerLauncher, type ContainerMount, createContainerLauncher } from '@ordo/launcher';
import { RuntimeOptionsError } from '../errors.js';
import { hostNodeMounts } from '../hostNodeMounts.js';
import type { DockerWorkerOptions } from '../types.js';
import { isInside } from './isInside.js';

/** The label every runtime worker container carries, besides the launcher's run and worker ids. */
export const RUNTIME_WORKER_LABEL = 'ordo.role';

/** What {@link createDockerLauncher} needs besides the user's docker options. */
export interface DockerLauncherContext {
  /** How this install starts `@ordo/runtime/worker` (`workerCommand()`), used with the host's Node. */
  workerCommand: { command: string; args: readonly string[] };
  logger: Logger;
  clock?: Clock | undefined;
  /** @default process.env */
  env?: NodeJS.ProcessEnv | undefined;
  /** Aborts the host inspection (`ldd`). */
  signal?: AbortSignal | undefined;
  /** What the launcher's Engine API calls run through (the runtime passes `wrap(retry, breaker)`). */
  policy?: Policy | undefined;
  /** How long a worker's status is cached between Engine calls (`launcher.monitorCooldownMs`). @default 10000 */
  cooldownMs?: number | undefined;
}

/**
 * The `ContainerLauncher` of `launcher: 'docker'`: each worker is a container of `docker.image` with a
 * stdin/stdout line channel (`attachStdio`), no network unless `docker.network` says otherwise, and the
 * `ordo.role=runtime-worker` label. By default (`mountHostNode`) the host's Node, its libraries, bash and
 * this install are bind-mounted read-only and the container runs the host's worker command, so a bare
 * image works; otherwise the image runs its own worker (`docker.cmd` or its CMD). The workspace is never
 * mounted: files and edits travel over the channel.
 *
 * @throws RuntimeOptionsError without an image, for a bad mount, or when the worker command would not be
 * visible in the container.
 */
export async function createDockerLauncher(
  docker: DockerWorkerOptions | undefined,
  context: DockerLauncherContext,
): Promise<ContainerLauncher> {
  const env = context.env ?? process.env;
  const image = docker?.image ?? env.ORDO_WORKER_IMAGE;
  if (typeof image !== 'string' || image === '') {
    throw new RuntimeOptionsError(
      'docker.image',
      'launcher "docker" needs a worker image: pass docker: { image } or set ORDO_WORKER_IMAGE. It must be on the engine already (the runtime never pulls).',
    );
  }
  const extra = checkMounts(docker?.mounts ?? []);
  const mountHostNode = docker?.mountHostNode ?? mountHostNodeFromEnv(env.ORDO_WORKER_MOUNT_HOST_NODE);
  const mounts = mountHostNode ? [...(await hostNodeMounts({ signal: context.signal })), ...extra] : extra;
  let cmd = docker?.cmd;
  if (mountHostNode && cmd === undefined) {
    const { command, args } = context.workerCommand;
    cmd = [command, ...args];
    assertVisible(cmd, mounts);
  }
  return createContainerLauncher({
    image,
    ...(cmd === undefined ? {} : { cmd }),
    mounts,
    labels: { [RUNTIME_WORKER_LABEL]: 'runtime-worker', ...docker?.labels },
    network: docker?.network ?? 'none',
    ...(docker?.limits ? { limits: docker.limits } : {}),
    attachStdio: true,
    ...(context.policy ? { policy: context.policy } : {}),
    ...(context.cooldownMs === undefined ? {} : { cooldownMs: context.cooldownMs }),
    logger: context.logger,
    clock: context.clock,
  });
}

/** `ORDO_WORKER_MOUNT_HOST_NODE`: `1`/`true` (the default when unset) or `0`/`false`. */
function mountHostNodeFromEnv(value: string | undefined): boolean {
  if (value === undefined || value === '' || value === '1' || value === 'true') return true;
  if (value === '0' || value === 'false') return false;
  throw new RuntimeOptionsError(
    'docker.mountHostNode',
    `ORDO_WORKER_MOUNT_HOST_NODE must be 1, true, 0 or false, got ${JSON.stringify(value)}.`,
  );
}

function checkMounts(mounts: readonly ContainerMount[]): ContainerMount[] {
  return mounts.map((mount, i) => {
    for (const key of ['source', 'target'] as const) {
      const value = (mount as Partial<ContainerMount> | undefined)?.[key];
      // A ':' would split the engine's `source:target:ro` bind string in the wrong place.
      if (typeof value !== 'string' || !path.isAbsolute(value) || value.includes(':')) {
        throw new RuntimeOptionsError(
          `docker.mounts[${i}].${key}`,
          `expected an absolute path without ':', got ${JSON.stringify(value)}.`,
        );
      }
    }
    return { source: mount.source, target: mount.target, readOnly: mount.readOnly ?? true };
  });
}

/** Every absolute path (or file URL) of the command must be under a mount, or the worker cannot start. */
function assertVisible(cmd: readonly string[], mounts: readonly ContainerMount[]): void {
  for (const part of cmd) {
    const file = part.startsWith('file:') ? fileURLToPath(part) : part;
    if (!path.isAbsolute(file)) continue;
    if (mounts.some((m) => isInside(file, m.target))) continue;
    throw new RuntimeOptionsError(
      'docker.mountHostNode',
      `the worker command needs ${file}, which no mount shows inside the container (the install root of @ordo/runtime was not found). Add it to docker.mounts, or use an image that runs the worker (docker.mountHostNode: false).`,
    );
  }
}
