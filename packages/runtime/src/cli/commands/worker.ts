import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { ExitCode } from '../exitCode.js';
import type { CliIo } from '../io.js';

/** The flags of `ordo worker`. */
export interface WorkerFlags {
  /** The endpoint to connect to; without it (and without `ORDO_WORKER_CONNECT`) the worker is attached. */
  connect?: string | undefined;
  /** The credential file. @default `ORDO_WORKER_TOKEN_FILE` */
  tokenFile?: string | undefined;
  /** The id a starter gave this worker. @default `ORDO_WORKER_ID` */
  workerId?: string | undefined;
  /** PEM files for `tls://`: the endpoint's CA, this worker's certificate and key (mutual TLS). */
  tlsCa?: string | undefined;
  tlsCert?: string | undefined;
  tlsKey?: string | undefined;
  /** Allow `tcp://` off loopback. */
  allowInsecure?: boolean | undefined;
  /** Failed connection attempts in a row before giving up. @default unlimited */
  maxAttempts?: number | undefined;
}

/**
 * `ordo worker`: runs this process as a worker. With `--connect <url>` (or `ORDO_WORKER_CONNECT`, which a
 * starter sets) it joins a runtime's worker endpoint with the token from `--token-file` /
 * `ORDO_WORKER_TOKEN_FILE` and serves tasks until the host shuts down (exit 0) or refuses it for good
 * (exit 1); SIGINT/SIGTERM stop it (exit 0). Without it, it is the attached worker: IPC v1 on stdin/stdout.
 * Progress lines go to stderr: stdout stays free (it is the protocol channel of an attached worker).
 */
export async function worker(flags: WorkerFlags, io: CliIo): Promise<ExitCode> {
  const { connectWorker, serveRuntimeWorker } = await import('../../worker.js');
  const url = flags.connect ?? io.env.ORDO_WORKER_CONNECT;
  if (url === undefined || url === '') {
    const server = serveRuntimeWorker();
    const stop = () => void server.close();
    io.signal?.addEventListener('abort', stop, { once: true });
    await server.closed;
    io.signal?.removeEventListener('abort', stop);
    return ExitCode.OK;
  }
  const pem = (file: string | undefined) =>
    file === undefined ? undefined : readFile(resolve(io.cwd, file));
  const [ca, cert, key] = await Promise.all([
    pem(flags.tlsCa ?? nonEmpty(io.env.ORDO_WORKER_TLS_CA)),
    pem(flags.tlsCert ?? nonEmpty(io.env.ORDO_WORKER_TLS_CERT)),
    pem(flags.tlsKey ?? nonEmpty(io.env.ORDO_WORKER_TLS_KEY)),
  ]);
  const tokenFile = flags.tokenFile ?? io.env.ORDO_WORKER_TOKEN_FILE;
  io.stderr.write(`ordo worker: connecting to ${url}\n`);
  const result = await connectWorker({
    url,
    tokenFile: tokenFile === undefined ? undefined : resolve(io.cwd, tokenFile),
    workerId: flags.workerId,
    tls: {
      ...(ca !== undefined && { ca }),
      ...(cert !== undefined && { cert }),
      ...(key !== undefined && { key }),
    },
    allowInsecure: flags.allowInsecure,
    maxAttempts: flags.maxAttempts,
    env: io.env,
    clock: io.clock,
    signal: io.signal,
  });
  io.stderr.write(
    `ordo worker: stopped (${result.reason}) after ${result.sessions} session${result.sessions === 1 ? '' : 's'}\n`,
  );
  return ExitCode.OK;
}

/** An environment value, unless it is unset or empty. */
function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value;
}
