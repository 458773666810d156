import { connect as netConnect, type Socket } from 'node:net';
import { hostname } from 'node:os';
import { connect as tlsConnect } from 'node:tls';
import { type Clock, IPC_PROTOCOL_VERSION, systemClock } from '@ordo/contracts';
import { isLoopbackHost, parseEndpointAddress } from './internal/endpointAddress.js';
import { readFirstLine } from './internal/firstLine.js';
import { encodeLine, parseHostReply } from './internal/remoteWire.js';
import { RemoteOptionsError, RemoteRefusedError, RemoteUnreachableError } from './remoteErrors.js';

/** A worker's TLS settings: the CA that signed the endpoint, and its own certificate for mutual TLS. */
export interface WorkerTlsOptions {
  /** The CA the endpoint's certificate must chain to. @default Node's trusted CAs */
  ca?: string | Buffer | undefined;
  /** This worker's certificate, for mutual TLS. */
  cert?: string | Buffer | undefined;
  /** This worker's private key, for mutual TLS. */
  key?: string | Buffer | undefined;
  /** The name to check the endpoint's certificate against. @default the URL's host */
  servername?: string | undefined;
}

/** Options for {@link openWorkerConnection}. */
export interface OpenWorkerConnectionOptions {
  /** The endpoint: `unix:///path.sock`, `tcp://host:port` (loopback) or `tls://host:port`. */
  url: string;
  /** The runtime's token (read from the credential file; never pass it through argv or env). */
  token: string;
  /** The id the starter gave this worker (`ORDO_WORKER_ID`); without it the host assigns one. @default none */
  workerId?: string | undefined;
  /** For `tls://`. @default {} */
  tls?: WorkerTlsOptions | undefined;
  /** How long connecting may take (not the wait for work), in ms. @default 10000 */
  connectTimeoutMs?: number | undefined;
  /** The host name this worker reports (shown as its placement). @default os.hostname() */
  host?: string | undefined;
  /** Allow `tcp://` to a host that is not loopback (the token crosses the network in clear). @default false */
  allowInsecure?: boolean | undefined;
  /** @default systemClock */
  clock?: Clock | undefined;
  /** Aborts the connection attempt and the wait for a spawn. */
  signal?: AbortSignal | undefined;
}

/** An authenticated connection: IPC v1 starts on `socket` with the worker's READY. */
export interface WorkerConnection {
  socket: Socket;
  /** The worker id the host gave this connection. */
  workerId: string;
  /** The host's IPC limits: serve with them (`serveWorker({ maxMessageBytes, reportIntervalMs })`). */
  maxMessageBytes: number;
  reportIntervalMs: number;
  /** Bytes the host sent after its WELCOME (normally none): feed them to the IPC reader first. */
  rest: Buffer;
}

/** The largest host reply read. */
const MAX_REPLY_BYTES = 4096;

/**
 * Connects to a worker endpoint, presents the token in a HELLO and waits (possibly long: until the host has
 * work for it) for the host's WELCOME. The returned socket is paused; IPC v1 starts on it.
 *
 * @throws RemoteRefusedError (`REMOTE_REFUSED`, `reason` says why) when the host refuses;
 * RemoteUnreachableError (`REMOTE_UNREACHABLE`) when it cannot be reached or the connection ends first;
 * `signal.reason` on abort.
 */
export async function openWorkerConnection(options: OpenWorkerConnectionOptions): Promise<WorkerConnection> {
  const { url, signal } = options;
  signal?.throwIfAborted();
  const clock = options.clock ?? systemClock;
  const address = parseEndpointAddress(url, 'url');
  if (
    address.kind === 'tcp' &&
    !address.tls &&
    !isLoopbackHost(address.host) &&
    options.allowInsecure !== true
  ) {
    throw new RemoteOptionsError(
      `Refusing to send the token to ${url} in clear: use tls://, a unix socket or a loopback address (or allowInsecure on a network you trust).`,
    );
  }
  const socket = await connectSocket(options, address, clock);
  try {
    socket.write(
      encodeLine({
        type: 'HELLO',
        v: IPC_PROTOCOL_VERSION,
        token: options.token,
        ...(options.workerId !== undefined && { workerId: options.workerId }),
        host: (options.host ?? hostname()).slice(0, 256),
        pid: process.pid,
      }),
    );
    const first = await readFirstLine(socket, {
      maxBytes: MAX_REPLY_BYTES,
      timeoutMs: 2 ** 31 - 1,
      clock,
      signal,
    });
    if (!first.ok) {
      if (first.reason === 'aborted') throw signal?.reason;
      throw new RemoteUnreachableError(
        url,
        new Error(
          `the endpoint ${first.reason === 'closed' ? 'closed the connection' : `sent an ${first.reason} reply`}`,
        ),
      );
    }
    const reply = parseHostReply(first.line);
    if (reply === undefined) {
      throw new RemoteUnreachableError(
        url,
        new Error('the endpoint answered something other than WELCOME or REFUSED'),
      );
    }
    if (reply.type === 'REFUSED') throw new RemoteRefusedError(reply.reason, url);
    return {
      socket,
      workerId: reply.workerId,
      maxMessageBytes: reply.maxMessageBytes,
      reportIntervalMs: reply.reportIntervalMs,
      rest: first.rest,
    };
  } catch (error) {
    socket.destroy();
    throw error;
  }
}

function connectSocket(
  options: OpenWorkerConnectionOptions,
  address: ReturnType<typeof parseEndpointAddress>,
  clock: Clock,
): Promise<Socket> {
  const { url, signal } = options;
  return new Promise<Socket>((resolve, reject) => {
    let socket: Socket;
    const event = address.kind === 'tcp' && address.tls ? 'secureConnect' : 'connect';
    if (address.kind === 'unix') socket = netConnect({ path: address.path });
    else if (address.tls) {
      const tls = options.tls ?? {};
      socket = tlsConnect({
        host: address.host,
        port: address.port,
        servername: tls.servername ?? (/^[\d.:]+$/.test(address.host) ? undefined : address.host),
        ...(tls.ca !== undefined && { ca: tls.ca }),
        ...(tls.cert !== undefined && { cert: tls.cert }),
        ...(tls.key !== undefined && { key: tls.key }),
        minVersion: 'TLSv1.2',
      });
    } else socket = netConnect({ host: address.host, port: address.port });
    const done = () => {
      clock.clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      socket.off('error', onError).off(event, onConnect);
    };
    const onConnect = () => {
      done();
      socket.setNoDelay?.(true);
      socket.setKeepAlive?.(true, 15_000);
      socket.on('error', () => {}); // later errors end the connection; its close is what counts
      resolve(socket);
    };
    const onError = (error: Error) => {
      done();
      socket.destroy();
      reject(new RemoteUnreachableError(url, error));
    };
    const onAbort = () => {
      done();
      socket.destroy();
      reject(signal?.reason);
    };
    const timer = clock.setTimeout(
      () => onError(new Error(`no connection within ${options.connectTimeoutMs ?? 10_000} ms`)),
      options.connectTimeoutMs ?? 10_000,
      { unref: true },
    );
    signal?.addEventListener('abort', onAbort, { once: true });
    socket.once('error', onError).once(event, onConnect);
  });
}
