import type { Breaker, Launcher } from '@ordo/contracts';

/**
 * The same launcher, with every `spawn` run through `breaker`: when workers keep failing to start, spawns
 * fail fast (`BREAKER_OPEN`) instead of hammering the engine or the host.
 */
export function guardSpawns(launcher: Launcher, breaker: Breaker): Launcher {
  return {
    spawn: (workerId, spec, signal) => breaker.execute(() => launcher.spawn(workerId, spec, signal), signal),
    monitor: (workerId, signal) => launcher.monitor(workerId, signal),
    syncState: (signal) => launcher.syncState(signal),
    terminate: (workerId, options) => launcher.terminate(workerId, options),
    terminateAll: (options) => launcher.terminateAll(options),
    handle: (workerId) => launcher.handle(workerId),
    on: (event, listener) => launcher.on(event, listener),
    off: (event, listener) => launcher.off(event, listener),
    close: () => launcher.close(),
    [Symbol.asyncDispose]: () => launcher.close(),
  };
}
