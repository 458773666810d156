import { OrdoError } from '@ordo/contracts';
import type { LauncherErrorOptions } from './errors.js';

/**
 * The stable codes of the remote worker endpoint's errors ({@link createRemoteLauncher} on the host,
 * {@link openWorkerConnection} on the worker). Branch on them with `isOrdoError(error, code)`.
 */
export const RemoteErrorCode = {
  /** The endpoint's options are invalid (a listen address it cannot parse, no credential, a bad number). */
  INVALID_OPTIONS: 'REMOTE_INVALID_OPTIONS',
  /** Plain TCP on an address that is not loopback, without `tls` and without `allowInsecure: true`. */
  INSECURE_LISTEN: 'REMOTE_INSECURE_LISTEN',
  /** The endpoint could not listen (address in use, a socket path that exists, no permission). */
  LISTEN_FAILED: 'REMOTE_LISTEN_FAILED',
  /** A worker started through the starter did not connect in time, or exited before it connected. */
  CONNECT_TIMEOUT: 'REMOTE_CONNECT_TIMEOUT',
  /** The endpoint refused this worker's connection; `details.reason` says why. */
  REFUSED: 'REMOTE_REFUSED',
  /** The worker could not reach the endpoint (refused, reset, no such socket, TLS failure). */
  UNREACHABLE: 'REMOTE_UNREACHABLE',
  /** The worker's credential file cannot be read or holds no token. */
  CREDENTIAL_INVALID: 'REMOTE_CREDENTIAL_INVALID',
} as const;

/** One of the {@link RemoteErrorCode} values. */
export type RemoteErrorCode = (typeof RemoteErrorCode)[keyof typeof RemoteErrorCode];

/** An option of the endpoint or of a worker connection is invalid; the message names it. */
export class RemoteOptionsError extends OrdoError {
  override readonly code = RemoteErrorCode.INVALID_OPTIONS;
  constructor(message: string, options: LauncherErrorOptions = {}) {
    super(message, options);
  }
}

/** Plain TCP on a non-loopback address was refused: give `tls`, or `allowInsecure: true` on a trusted network. */
export class InsecureListenError extends OrdoError {
  override readonly code = RemoteErrorCode.INSECURE_LISTEN;
  constructor(address: string) {
    super(
      `Refusing to listen for workers on ${address} without TLS: tokens and task files would cross the network in clear. Give \`tls\` (a key and certificate, and \`ca\` for mutual TLS), listen on a unix socket or on 127.0.0.1, or pass \`allowInsecure: true\` on a network you trust.`,
      { details: { address } },
    );
  }
}

/** The endpoint could not listen; the cause is Node's error. */
export class ListenFailedError extends OrdoError {
  override readonly code = RemoteErrorCode.LISTEN_FAILED;
  constructor(address: string, cause: unknown) {
    super(
      `The worker endpoint could not listen on ${address}: ${(cause as Error)?.message ?? String(cause)}. Pick another port or socket path (a stale socket file must be removed first).`,
      { cause, details: { address } },
    );
  }
}

/** A started worker did not connect back in time (or exited first): check its logs, the URL and the credential. */
export class RemoteConnectTimeoutError extends OrdoError {
  override readonly code = RemoteErrorCode.CONNECT_TIMEOUT;
  constructor(workerId: string, why: string) {
    super(
      `Worker "${workerId}" did not connect to the endpoint: ${why}. Check that it can reach the endpoint's URL, that it reads the credential file it was given, and its logs.`,
      { details: { workerId, why } },
    );
  }
}

/** Why an endpoint refuses a connection, as it tells the worker and counts it. */
export type RefusalReason =
  | 'missing-token'
  | 'bad-token'
  | 'version'
  | 'malformed'
  | 'oversized'
  | 'timeout'
  | 'rate-limited'
  | 'unassigned'
  | 'tls'
  | 'capacity'
  | 'closing';

/** The endpoint refused this connection; `details.reason` is a {@link RefusalReason}. */
export class RemoteRefusedError extends OrdoError {
  override readonly code = RemoteErrorCode.REFUSED;
  readonly reason: RefusalReason;
  constructor(reason: RefusalReason, url: string) {
    super(`The worker endpoint at ${url} refused this worker (${reason}). ${REFUSAL_HINTS[reason]}`, {
      details: { reason, url },
    });
    this.reason = reason;
  }
}

const REFUSAL_HINTS: Readonly<Record<RefusalReason, string>> = {
  'missing-token':
    'Give the worker the credential file of this runtime (--token-file or ORDO_WORKER_TOKEN_FILE).',
  'bad-token': "The token is not this runtime's: use the credential file of the current run.",
  version: 'The worker speaks another IPC version: run the same @ordo/runtime version on both sides.',
  malformed: 'The first message was not a HELLO: connect with `ordo worker --connect`.',
  oversized: 'The first message was larger than the endpoint accepts.',
  timeout: 'The HELLO did not arrive in time.',
  'rate-limited': 'Too many failed attempts from this address: wait and try again.',
  unassigned: 'No worker with this id is expected: it was replaced or the run ended.',
  tls: 'The TLS handshake failed: check the client certificate and the CA.',
  capacity: 'Too many workers are waiting for work already.',
  closing: 'The runtime is shutting down.',
};

/** The worker could not reach the endpoint; it retries with backoff unless told otherwise. */
export class RemoteUnreachableError extends OrdoError {
  override readonly code = RemoteErrorCode.UNREACHABLE;
  constructor(url: string, cause: unknown) {
    super(
      `Could not reach the worker endpoint at ${url}: ${(cause as Error)?.message ?? String(cause)}. Check that the runtime is serving (ordo serve --worker-listen) and the address.`,
      { cause, details: { url } },
    );
  }
}

/** The credential file cannot be used: give a readable file holding this runtime's token. */
export class CredentialInvalidError extends OrdoError {
  override readonly code = RemoteErrorCode.CREDENTIAL_INVALID;
  constructor(file: string | undefined, why: string, cause?: unknown) {
    super(
      `The worker credential ${file === undefined ? '(no file given)' : `file ${file}`} cannot be used: ${why}. Pass --token-file <file> or set ORDO_WORKER_TOKEN_FILE to the file the runtime wrote (never the token itself).`,
      { cause, details: { file } },
    );
  }
}
