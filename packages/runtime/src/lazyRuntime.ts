import type { Runtime, RuntimeOptions } from './types.js';

/**
 * Builds the runtime: loads the config, starts the memory monitor, and wires the governance queue, memory
 * governor, spawn breaker and Prometheus metrics, a launcher with its poller, and the governance
 * `WorkerPool` on that launcher (workers started on the first `runFeature`, kept alive across tasks and
 * features, each with the config's heap cap, RSS warning, idle exit, restart budget and stall limit).
 * Dispose it with `await using` or `close()`: nothing is left running.
 *
 * Importing `@ordo/runtime` loads none of this: the parts (governance, the launchers, the scheduler, the
 * spool, zod, prom-client) load on the first call, so a host that only parses plans stays light.
 *
 * When to use: one runtime per workspace and state directory, in the process that runs features.
 *
 * Gotchas: features run one at a time per runtime (`RUNTIME_BUSY`). With `launcher: 'docker'` each worker
 * is a container talking over its stdin/stdout; see `DockerWorkerOptions` for what it mounts and runs.
 *
 * @throws RuntimeOptionsError (`RUNTIME_OPTIONS_INVALID`) for a missing workspace or a bad option;
 * `CONFIG_INVALID` / `CONFIG_UNREADABLE` from the config.
 * @example
 * ```ts
 * await using runtime = await createRuntime({ workspace: process.cwd(), workers: 4 });
 * const result = await runtime.runFeature('feature.yaml', { onEvent: (e) => console.log(e.type) });
 * console.log(result.status, result.traceDigest);
 * ```
 */
export async function createRuntime(options: RuntimeOptions): Promise<Runtime> {
  const runtime = await import('./runtime.js');
  return runtime.createRuntime(options);
}
