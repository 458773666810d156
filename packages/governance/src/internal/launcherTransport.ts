import {
  type Clock,
  isTerminalWorkerStatus,
  type Launcher,
  type Logger,
  type WorkerSpec,
  type WorkerStatusChange,
} from '@ordo/contracts';
import { PoolLauncherUnsupportedError } from '../errors.js';
import type { TransportEvents, WorkerTransport } from './workerTransport.js';

/** How long to wait for the launcher to see a worker's exit once its stdout ended, in ms. */
const EXIT_WAIT_MS = 2_000;

/**
 * Starts a worker on a contracts `Launcher` and speaks to it over its `WorkerIo`. The worker is gone when
 * its stdout ends; its exit code and reason then come from the launcher (waited for up to 2 s). Rejects
 * with the launcher's error when it cannot start one, and with `POOL_LAUNCHER_UNSUPPORTED` when the
 * launcher's handles have no `io`.
 */
export async function startLauncherWorker(
  launcher: Launcher,
  workerId: string,
  spec: WorkerSpec,
  events: TransportEvents,
  clock: Clock,
  logger: Logger,
): Promise<WorkerTransport> {
  const handle = await launcher.spawn(workerId, spec);
  const io = handle.io;
  if (io === undefined) {
    await launcher.terminate(workerId, { graceMs: 0 }).catch(() => {});
    throw new PoolLauncherUnsupportedError(workerId);
  }
  let killed = false;
  const kill = () => {
    if (killed) return;
    killed = true;
    launcher.terminate(workerId, { graceMs: 0 }).catch((error: unknown) => {
      logger.warn({ err: error }, 'terminating a worker failed');
    });
  };
  const pid = (handle as { pid?: unknown }).pid;
  const read = async () => {
    try {
      for await (const line of io.lines()) events.line(line);
    } catch (error) {
      logger.warn({ err: error }, 'reading a worker failed; it counts as gone');
      kill();
    }
    await exited(launcher, workerId, clock);
    const h = launcher.handle(workerId) ?? handle;
    const reason = h.reason;
    const signal = /\b(SIG[A-Z]+)\b/.exec(reason ?? '')?.[1] ?? null;
    events.exit({ code: h.exitCode ?? null, signal, reason, stderr: h.logTail });
  };
  let listening = false;
  return {
    pid: typeof pid === 'number' ? pid : undefined,
    listen: () => {
      if (listening) return;
      listening = true;
      void read();
    },
    send: (line) => {
      io.send(line).catch((error: unknown) => logger.debug({ err: error }, 'worker input closed'));
    },
    // A polite stop: the worker got SHUTDOWN; the launcher's terminate follows up after its grace.
    shutdown: () => {
      launcher.terminate(workerId, { graceMs: 5_000 }).catch(() => {});
    },
    kill,
  };
}

/** Resolves once the launcher reports the worker terminal, or after {@link EXIT_WAIT_MS}. */
function exited(launcher: Launcher, workerId: string, clock: Clock): Promise<void> {
  const handle = launcher.handle(workerId);
  if (handle === undefined || isTerminalWorkerStatus(handle.status)) return Promise.resolve();
  return new Promise<void>((resolve) => {
    const timer = clock.setTimeout(done, EXIT_WAIT_MS, { unref: true });
    function done() {
      clock.clearTimeout(timer);
      launcher.off('status', onStatus);
      resolve();
    }
    const onStatus = (change: WorkerStatusChange) => {
      if (change.workerId === workerId && isTerminalWorkerStatus(change.to)) done();
    };
    launcher.on('status', onStatus);
  });
}
