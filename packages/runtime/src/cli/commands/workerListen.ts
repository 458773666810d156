import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Runtime, RuntimeOptions } from '../../types.js';
import { CliUsageError } from '../cliErrors.js';
import type { CliIo, CliOutput } from '../io.js';

/** The worker endpoint flags of `ordo serve` and `ordo run`. */
export interface WorkerListenFlags {
  /** Where the worker endpoint listens: a unix socket path, `127.0.0.1:port`, or `host:port` with TLS. */
  workerListen?: string | undefined;
  /** The credential file (made with a random token when it does not exist). */
  workerTokenFile?: string | undefined;
  /** PEM files of the endpoint's TLS key and certificate, and the CA of worker certificates (mutual TLS). */
  workerTlsKey?: string | undefined;
  workerTlsCert?: string | undefined;
  workerTlsCa?: string | undefined;
  /** Mutual TLS with a CA made for the endpoint (`tls: 'auto'`). */
  workerTlsAuto?: boolean | undefined;
  /** How many workers the pool keeps. */
  workers?: number | undefined;
}

/** The `workers` option of `createRuntime` for these flags (a count, or a count and the endpoint). */
export function workersOption(flags: WorkerListenFlags, io: Pick<CliIo, 'cwd'>): RuntimeOptions['workers'] {
  const tlsFlags = [flags.workerTlsKey, flags.workerTlsCert, flags.workerTlsCa];
  if (flags.workerTlsAuto === true && tlsFlags.some((f) => f !== undefined)) {
    throw new CliUsageError('Give --worker-tls-auto or the --worker-tls-key/cert/ca files, not both.');
  }
  if (flags.workerListen === undefined) {
    if (
      flags.workerTokenFile !== undefined ||
      flags.workerTlsAuto === true ||
      tlsFlags.some((f) => f !== undefined)
    ) {
      throw new CliUsageError('The --worker-token-file and --worker-tls-* options need --worker-listen.', {
        hint: 'add --worker-listen <addr>, e.g. --worker-listen /run/ordo/workers.sock',
      });
    }
    return flags.workers;
  }
  if ((flags.workerTlsKey === undefined) !== (flags.workerTlsCert === undefined)) {
    throw new CliUsageError('Give both --worker-tls-key and --worker-tls-cert, or neither.');
  }
  const pem = (file: string) => readFileSync(resolve(io.cwd, file));
  const tls =
    flags.workerTlsAuto === true
      ? ('auto' as const)
      : flags.workerTlsKey !== undefined && flags.workerTlsCert !== undefined
        ? {
            key: pem(flags.workerTlsKey),
            cert: pem(flags.workerTlsCert),
            ...(flags.workerTlsCa !== undefined && { ca: pem(flags.workerTlsCa) }),
          }
        : undefined;
  const listen = flags.workerListen.startsWith('.')
    ? resolve(io.cwd, flags.workerListen)
    : flags.workerListen;
  return {
    count: flags.workers,
    remote: {
      listen,
      ...(flags.workerTokenFile !== undefined && { tokenFile: resolve(io.cwd, flags.workerTokenFile) }),
      ...(tls !== undefined && { tls }),
    },
  };
}

/** Prints how workers join the runtime's endpoint, if it has one. */
export function printWorkerEndpoint(runtime: Runtime, out: CliOutput, prefix: string): void {
  const endpoint = runtime.workerEndpoint;
  if (endpoint === undefined) return;
  const tls = endpoint.tlsFiles;
  const tlsFlags = tls === undefined ? '' : ` --tls-ca ${tls.ca} --tls-cert ${tls.cert} --tls-key ${tls.key}`;
  out.write(
    `${prefix}: workers join with: ordo worker --connect ${endpoint.url} --token-file ${endpoint.tokenFile}${tlsFlags}\n`,
  );
}
