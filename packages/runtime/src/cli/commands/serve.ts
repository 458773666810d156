import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ExitCode } from '../exitCode.js';
import type { CliIo } from '../io.js';
import { createLineLogger } from '../lineLogger.js';
import { type WorkspaceFlags, workspacePaths } from '../options.js';
import type { RuntimeFactory } from './run.js';
import { printWorkerEndpoint, type WorkerListenFlags, workersOption } from './workerListen.js';

/** The flags of `ordo serve`. */
export interface ServeFlags extends WorkspaceFlags, WorkerListenFlags {
  /** @default 9464 */
  port: number;
  /** @default '127.0.0.1' */
  host: string;
}

/**
 * `ordo serve`: serves the runtime's `/health`, `/metrics` and `/status` on node:http until `io.signal`
 * aborts (SIGINT or SIGTERM), then closes the server and the runtime and exits 0. Prints the URL it
 * listens on (with the real port when `--port 0`). With a config file it watches it: live keys apply
 * without a restart, a restart-only key or an invalid edit is reported on stderr and changes nothing. The
 * runtime's log lines (filtered by `log.level`) go to stderr.
 */
export async function serve(flags: ServeFlags, io: CliIo, createRuntime: RuntimeFactory): Promise<ExitCode> {
  const paths = workspacePaths(flags, io.cwd);
  await using runtime = await createRuntime({
    workspace: paths.workspace,
    stateDir: paths.stateDir,
    config: paths.configFile,
    workers: workersOption(flags, io),
    watch: paths.configFile !== undefined,
    logger: createLineLogger(io.stderr, 'ordo serve'),
  });
  const server = createServer(runtime.httpHandler());
  await listen(server, flags.port, flags.host);
  const { port } = server.address() as AddressInfo;
  const host = flags.host.includes(':') ? `[${flags.host}]` : flags.host;
  io.stdout.write(`ordo serve: listening on http://${host}:${port} (GET /health, /metrics, /status)\n`);
  printWorkerEndpoint(runtime, io.stdout, 'ordo serve');
  if (paths.configFile !== undefined) io.stdout.write(`ordo serve: watching ${paths.configFile}\n`);
  try {
    await untilAborted(io.signal);
  } finally {
    await close(server);
  }
  io.stdout.write('ordo serve: stopped\n');
  return ExitCode.OK;
}

function listen(server: Server, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

function close(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

/** Resolves when `signal` aborts; never without one. */
function untilAborted(signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    signal?.addEventListener('abort', () => resolve(), { once: true });
  });
}
