import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { chmod, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createServer as createNetServer, type Server, type Socket } from 'node:net';
import { hostname, tmpdir } from 'node:os';
import path from 'node:path';
import { createServer as createTlsServer, type TLSSocket } from 'node:tls';
import {
  type Clock,
  encodeMessage,
  IPC_PROTOCOL_VERSION,
  IpcEnv,
  isTerminalWorkerStatus,
  type Launcher,
  type LauncherEvents,
  type Logger,
  noopLogger,
  systemClock,
  type TerminateOptions,
  type TimerHandle,
  type WorkerHandle,
  type WorkerIo,
  type WorkerSpec,
  WorkerStatus,
  type WorkerStatusChange,
} from '@ordo/contracts';
import { LauncherClosedError } from './errors.js';
import { WORKER_ID_ENV } from './heartbeat.js';
import {
  type EndpointAddress,
  endpointUrl,
  isLoopbackHost,
  parseEndpointAddress,
} from './internal/endpointAddress.js';
import { FailureLimiter } from './internal/failureLimiter.js';
import { readFirstLine } from './internal/firstLine.js';
import { LauncherBase, liveHandle, newWorkerRecord, type WorkerRecord } from './internal/launcherBase.js';
import { encodeLine, type HelloMessage, parseHello } from './internal/remoteWire.js';
import { SocketIo } from './internal/socketIo.js';
import {
  InsecureListenError,
  ListenFailedError,
  type RefusalReason,
  RemoteConnectTimeoutError,
  RemoteOptionsError,
} from './remoteErrors.js';
import { createWorkerCertificates } from './workerCertificates.js';

/** The environment variable that carries the endpoint's URL to a worker a starter launches. */
export const WORKER_CONNECT_ENV = 'ORDO_WORKER_CONNECT';
/** The environment variable that carries the credential file's path (never the token itself). */
export const WORKER_TOKEN_FILE_ENV = 'ORDO_WORKER_TOKEN_FILE';
/**
 * The environment variables that carry the paths of a worker's TLS files (`tls: 'auto'`): the CA of the
 * endpoint's certificate, and the worker's own certificate and key for mutual TLS.
 */
export const WORKER_TLS_ENV = {
  CA: 'ORDO_WORKER_TLS_CA',
  CERT: 'ORDO_WORKER_TLS_CERT',
  KEY: 'ORDO_WORKER_TLS_KEY',
} as const;

/** The TLS files `tls: 'auto'` wrote for workers (PEM, `0600`, in a private directory). */
export interface WorkerTlsFiles {
  /** The CA the endpoint's certificate chains to: `ordo worker --tls-ca`. */
  ca: string;
  /** A client certificate the CA signed: `--tls-cert`. */
  cert: string;
  /** Its private key: `--tls-key`. */
  key: string;
}

/** TLS of the endpoint: PEM text or bytes. With `ca`, every worker must present a certificate it signed. */
export interface RemoteTlsOptions {
  /** The endpoint's private key. */
  key: string | Buffer;
  /** The endpoint's certificate (chain). */
  cert: string | Buffer;
  /** The CA that signs worker certificates: mutual TLS, a worker without one is refused (`tls`). @default none */
  ca?: string | Buffer | undefined;
}

/** Options for {@link createRemoteLauncher}. */
export interface RemoteLauncherOptions {
  /**
   * Where to listen: `unix:///path/to.sock` (or an absolute path; the socket is made `0600`), or
   * `host:port` / `tcp://host:port` (TCP; port 0 picks a free one). TCP off loopback needs `tls` or
   * `allowInsecure`.
   */
  listen: string;
  /**
   * The shared secret every worker presents (at least 16 characters, no whitespace).
   * @default the content of `tokenFile` when it exists, else 32 random bytes (base64url)
   */
  token?: string | undefined;
  /**
   * The credential file: written (`0600`) with the token when it does not exist or differs, and passed to the
   * workers a starter launches (`ORDO_WORKER_TOKEN_FILE`). Removed by `close()` only when this launcher made it.
   * @default a file in a new private temp directory
   */
  tokenFile?: string | undefined;
  /**
   * Serve TLS (and with `tls.ca`, mutual TLS). `'auto'`: mutual TLS with a CA made for this endpoint
   * (`createWorkerCertificates`): its private key stays in memory, the endpoint's certificate names the
   * `listen` and `advertise` hosts (for a wildcard address also this machine's host name, `localhost`,
   * 127.0.0.1 and ::1), and one worker credential is written to `tlsFiles` for workers (a starter's get
   * the paths in `ORDO_WORKER_TLS_*`). Every certificate is valid for 30 days.
   * @default none: a unix socket or loopback TCP
   */
  tls?: RemoteTlsOptions | 'auto' | undefined;
  /** Allow plain TCP on a non-loopback address. @default false */
  allowInsecure?: boolean | undefined;
  /** The URL workers are told to connect to. @default derived from `listen` (with the real port) */
  advertise?: string | undefined;
  /**
   * A launcher that starts each worker (`SwarmLauncher`, `SubprocessLauncher` running `ordo worker
   * --connect`): `spawn(id)` starts it with `ORDO_WORKER_CONNECT`, `ORDO_WORKER_TOKEN_FILE` and
   * `ORDO_WORKER_ID` and pairs the connection that presents that id. `close()` closes it too. Without
   * one, `spawn` pairs the next authenticated worker that connected by itself.
   * @default none
   */
  starter?: Launcher | undefined;
  /** With a starter: how long a started worker has to connect, in ms. @default 60000 */
  connectTimeoutMs?: number | undefined;
  /** How long a new connection has to send its HELLO (slow-loris limit), in ms. @default 5000 */
  handshakeTimeoutMs?: number | undefined;
  /** The largest HELLO line, in bytes; more is refused before parsing. @default 4096 */
  maxHelloBytes?: number | undefined;
  /** Failed attempts from one address within `failureWindowMs` after which it is refused at once. @default 20 */
  maxFailures?: number | undefined;
  /** @default 60000 */
  failureWindowMs?: number | undefined;
  /** Authenticated workers that may wait for a spawn (without a starter). @default 64 */
  maxWaiting?: number | undefined;
  /** Connections in their handshake at once; more are refused (`capacity`). @default 256 */
  maxHandshakes?: number | undefined;
  /** @default systemClock */
  clock?: Clock | undefined;
  /** @default noopLogger */
  logger?: Logger | undefined;
}

/** Where a remote worker runs, as it said in its HELLO and as the connection shows. */
export interface RemotePlacement {
  /** The node: the starter's (a Swarm node id), else the worker's host name, else its address. */
  nodeId: string;
  /** The host name the worker (or the starter) reported, if any. */
  hostname: string | undefined;
  /** The connection's peer address (`unix` for a unix socket). */
  address: string;
}

/** A remote worker's handle: a contracts {@link WorkerHandle} whose `io` is its connection. */
export interface RemoteWorkerHandle extends WorkerHandle {
  /** The connection's IPC v1 line channel. */
  readonly io: WorkerIo;
  /** Where it runs. */
  readonly node: RemotePlacement;
  /** Why the status last changed (`connected from 127.0.0.1`, `connection closed`). */
  readonly reason: string;
  readonly logTail: readonly string[];
}

/** A refused connection, as the `refused` event reports it. */
export interface RemoteRefusal {
  reason: RefusalReason;
  /** The peer's address, `unix` for a unix socket peer. */
  peer: string;
}

/** What the endpoint has done since it started. */
export interface RemoteEndpointStats {
  /** Connections that authenticated and were paired with a worker id. */
  accepted: number;
  /** Refused connections by reason. */
  refused: Readonly<Record<RefusalReason, number>>;
  /** Authenticated workers waiting for a spawn. */
  waiting: number;
  /** Spawns waiting for a worker. */
  pending: number;
  /** Paired connections open now. */
  connected: number;
}

/** The events a {@link RemoteLauncher} emits. */
export interface RemoteLauncherEvents extends LauncherEvents {
  /** A connection was refused (before any task data). */
  refused: [refusal: RemoteRefusal];
}

/**
 * The worker endpoint on the host, as a contracts `Launcher`: governance's `WorkerPool` runs on it
 * unchanged. Each handle's `io` is an authenticated connection speaking IPC v1; a closed connection is the
 * worker's exit.
 */
export interface RemoteLauncher extends Launcher {
  /** The URL workers connect to (`unix:///…`, `tcp://127.0.0.1:…`, `tls://…`). */
  readonly url: string;
  /** The credential file workers read the token from. */
  readonly tokenFile: string;
  /** With `tls: 'auto'`: the files a worker needs (removed by `close()`); otherwise `undefined`. */
  readonly tlsFiles: WorkerTlsFiles | undefined;
  /** Counters of accepted and refused connections. */
  stats(): RemoteEndpointStats;
  spawn(workerId: string, spec?: WorkerSpec, signal?: AbortSignal): Promise<RemoteWorkerHandle>;
  handle(workerId: string): RemoteWorkerHandle | undefined;
  on<E extends keyof RemoteLauncherEvents>(
    event: E,
    listener: (...args: RemoteLauncherEvents[E]) => void,
  ): unknown;
  off<E extends keyof RemoteLauncherEvents>(
    event: E,
    listener: (...args: RemoteLauncherEvents[E]) => void,
  ): unknown;
}

/**
 * Starts the worker endpoint and resolves once it listens.
 *
 * Every connection must, within `handshakeTimeoutMs` and in at most `maxHelloBytes`, send a HELLO carrying
 * this runtime's token (compared in constant time) and IPC version 1; over TLS with `tls.ca`, it must also
 * present a client certificate the CA signed. Anything else is refused before a byte of task data is sent,
 * counted in `stats().refused` and the `refused` event, and an address that keeps failing is refused at
 * once for a while (`maxFailures` in `failureWindowMs`).
 *
 * When to use: workers on other machines or in a cluster (`ordo worker --connect <url>`), started by an
 * engine through `starter` or by anything else.
 *
 * Gotchas: without a starter, `spawn` waits for a worker to connect, however long (abort it with its
 * signal); `terminate` ends the worker's session (SHUTDOWN, then the connection), and a self-started
 * worker then connects again and waits for the next spawn. The TLS handshake itself is bounded by Node's
 * `handshakeTimeout` (the same `handshakeTimeoutMs`, on the real clock).
 *
 * @throws RemoteOptionsError (`REMOTE_INVALID_OPTIONS`), InsecureListenError (`REMOTE_INSECURE_LISTEN`),
 * ListenFailedError (`REMOTE_LISTEN_FAILED`).
 * @example
 * ```ts
 * await using endpoint = await createRemoteLauncher({ listen: '127.0.0.1:0' });
 * // elsewhere: ordo worker --connect <endpoint.url> --token-file <endpoint.tokenFile>
 * const pool = new WorkerPool({ launcher: endpoint, maxWorkers: 4 });
 * ```
 */
export async function createRemoteLauncher(options: RemoteLauncherOptions): Promise<RemoteLauncher> {
  const endpoint = new RemoteEndpoint(options);
  await endpoint.listen();
  return endpoint;
}

interface RemoteRecord extends WorkerRecord {
  spec: WorkerSpec;
  io: SocketIo | undefined;
  placement: Omit<RemotePlacement, 'nodeId'> & { host: string | undefined };
  pending: Pending | undefined;
  stopTimer: TimerHandle | undefined;
}

interface Pending {
  workerId: string;
  started: boolean;
  resolve: (handle: RemoteWorkerHandle) => void;
  reject: (error: unknown) => void;
}

interface Waiting {
  socket: Socket;
  hello: HelloMessage;
  rest: Buffer;
  peer: string;
  /** Removes the listeners of the waiting room. */
  leave: () => void;
}

const REASONS: readonly RefusalReason[] = [
  'missing-token',
  'bad-token',
  'version',
  'malformed',
  'oversized',
  'timeout',
  'rate-limited',
  'unassigned',
  'tls',
  'capacity',
  'closing',
];

/** Refusals that are not the peer's fault: they do not count against its address. */
const NOT_FAILURES: ReadonlySet<RefusalReason> = new Set([
  'rate-limited',
  'capacity',
  'closing',
  'unassigned',
]);

const DEFAULT_MAX_MESSAGE_BYTES = 1024 * 1024;
const DEFAULT_REPORT_MS = 5000;
const SHUTDOWN_LINE = encodeMessage({ type: 'SHUTDOWN' }).trimEnd();
/** How long a terminated worker gets at least to read its SHUTDOWN and close, in ms. */
const SHUTDOWN_FLUSH_MS = 1000;

class RemoteEndpoint extends LauncherBase<RemoteRecord, RemoteLauncherEvents> implements RemoteLauncher {
  readonly #o: RemoteLauncherOptions;
  readonly #address: EndpointAddress;
  readonly #tls: boolean;
  readonly #server: Server;
  readonly #limiter: FailureLimiter;
  readonly #handles = new Map<string, RemoteWorkerHandle>();
  readonly #pending = new Map<string, Pending>();
  readonly #queue: Pending[] = [];
  readonly #waiting: Waiting[] = [];
  readonly #handshaking = new Set<Socket>();
  readonly #refused = Object.fromEntries(REASONS.map((r) => [r, 0])) as Record<RefusalReason, number>;
  readonly #starter: Launcher | undefined;
  readonly #onStarterStatus = (change: WorkerStatusChange) => this.#starterStatus(change);
  #accepted = 0;
  #tokenDigest: Buffer = Buffer.alloc(32);
  #tokenFile = '';
  #madeTokenFile: string | undefined;
  #madeDir: string | undefined;
  /** With `tls: 'auto'`: the worker credential to write, then where it was written. */
  #autoTls: { ca: string; cert: string; key: string } | undefined;
  #tlsDir: string | undefined;
  #tlsFiles: WorkerTlsFiles | undefined;
  #url = '';
  #closing: Promise<void> | undefined;

  constructor(options: RemoteLauncherOptions) {
    super({
      clock: options?.clock ?? systemClock,
      logger: (options?.logger ?? noopLogger).child({ component: 'worker-endpoint' }),
      staleAfterMs: Number.POSITIVE_INFINITY,
      heartbeatDir: undefined,
    });
    this.#o = options;
    this.#address = parseEndpointAddress(options?.listen, 'listen');
    this.#tls = options.tls !== undefined;
    if (this.#address.kind === 'tcp') {
      if (this.#address.tls && !this.#tls) {
        throw new RemoteOptionsError(
          `listen ${options.listen} asks for TLS: give the \`tls\` key and certificate.`,
        );
      }
      if (!this.#tls && options.allowInsecure !== true && !isLoopbackHost(this.#address.host)) {
        throw new InsecureListenError(options.listen);
      }
    }
    for (const name of [
      'connectTimeoutMs',
      'handshakeTimeoutMs',
      'maxHelloBytes',
      'maxFailures',
      'failureWindowMs',
      'maxWaiting',
      'maxHandshakes',
    ] as const) {
      const value = options[name];
      if (value !== undefined && !(typeof value === 'number' && value >= 1 && !Number.isNaN(value))) {
        throw new RemoteOptionsError(`Option "${name}" must be a number >= 1, got ${String(value)}.`);
      }
    }
    if (options.token !== undefined) assertToken(options.token, 'token');
    this.#starter = options.starter;
    this.#limiter = new FailureLimiter({
      maxFailures: options.maxFailures ?? 20,
      windowMs: options.failureWindowMs ?? 60_000,
      clock: this.clock,
    });
    const onSocket = (socket: Socket) => void this.#onConnection(socket);
    if (options.tls) {
      const tls = options.tls === 'auto' ? this.#makeAutoTls(options) : options.tls;
      const server = createTlsServer({
        key: tls.key,
        cert: tls.cert,
        ...(tls.ca !== undefined && { ca: tls.ca, requestCert: true, rejectUnauthorized: true }),
        minVersion: 'TLSv1.2',
        handshakeTimeout: this.#handshakeMs,
      });
      // Refuse a blocked address before the TLS handshake costs anything.
      server.on('connection', (raw: Socket) => {
        if (this.#limiter.blocked(peerOf(raw))) {
          this.#count('rate-limited', peerOf(raw));
          raw.destroy();
        }
      });
      server.on('secureConnection', (socket: TLSSocket) => onSocket(socket));
      server.on('tlsClientError', (_error, socket) => {
        const peer = peerOf(socket);
        this.#count('tls', peer);
        this.#limiter.fail(peer);
      });
      this.#server = server;
    } else {
      this.#server = createNetServer(onSocket);
    }
    this.#server.on('error', (error) => this.logger.warn({ err: error }, 'worker endpoint error'));
  }

  /**
   * A new CA for this endpoint: its certificate and key (the CA's key is dropped with the generator),
   * and one worker credential kept for `listen` to write.
   */
  #makeAutoTls(options: RemoteLauncherOptions): RemoteTlsOptions {
    if (this.#address.kind !== 'tcp') {
      throw new RemoteOptionsError(`tls: 'auto' needs a TCP listen address, got ${options.listen}.`);
    }
    const hosts = [this.#address.host];
    if (options.advertise !== undefined) {
      const advertised = parseEndpointAddress(options.advertise, 'advertise');
      if (advertised.kind === 'tcp') hosts.push(advertised.host);
    }
    if (['0.0.0.0', '::', ''].includes(this.#address.host)) {
      hosts.splice(0, 1, hostname(), 'localhost', '127.0.0.1', '::1');
    }
    const pki = createWorkerCertificates({ hosts, clock: this.clock });
    this.#autoTls = { ca: pki.ca, ...pki.issueWorker('ordo-worker') };
    return { ...pki.endpoint, ca: pki.ca };
  }

  /** Writes the worker credential of `tls: 'auto'` into a new private directory. */
  async #writeTlsFiles(): Promise<void> {
    if (this.#autoTls === undefined) return;
    this.#tlsDir = await mkdtemp(path.join(tmpdir(), 'ordo-endpoint-tls-'));
    const files: WorkerTlsFiles = {
      ca: path.join(this.#tlsDir, 'ca.pem'),
      cert: path.join(this.#tlsDir, 'worker.pem'),
      key: path.join(this.#tlsDir, 'worker-key.pem'),
    };
    for (const part of ['ca', 'cert', 'key'] as const) {
      await writeFile(files[part], this.#autoTls[part], { mode: 0o600 });
    }
    this.#tlsFiles = files;
  }

  get tlsFiles(): WorkerTlsFiles | undefined {
    return this.#tlsFiles;
  }

  get #handshakeMs(): number {
    return this.#o.handshakeTimeoutMs ?? 5000;
  }

  get url(): string {
    return this.#url;
  }

  get tokenFile(): string {
    return this.#tokenFile;
  }

  /** Prepares the credential file and listens. */
  async listen(): Promise<void> {
    await this.#prepareToken();
    try {
      await this.#writeTlsFiles();
    } catch (error) {
      await this.#dropToken();
      throw error;
    }
    const address = this.#address;
    const shown = this.#o.listen;
    if (address.kind === 'unix') {
      if (await stat(address.path).catch(() => undefined)) {
        await this.#dropToken();
        throw new ListenFailedError(shown, new Error(`${address.path} exists`));
      }
    }
    try {
      await new Promise<void>((resolve, reject) => {
        this.#server.once('error', reject);
        const done = () => {
          this.#server.off('error', reject);
          resolve();
        };
        if (address.kind === 'unix') this.#server.listen(address.path, done);
        else this.#server.listen(address.port, address.host, done);
      });
    } catch (error) {
      await this.#dropToken();
      throw new ListenFailedError(shown, error);
    }
    if (address.kind === 'unix') {
      await chmod(address.path, 0o600);
      this.#url = endpointUrl(address, false);
    } else {
      const bound = this.#server.address();
      const port = typeof bound === 'object' && bound !== null ? bound.port : address.port;
      this.#url = endpointUrl({ ...address, port }, this.#tls);
    }
    if (this.#o.advertise !== undefined) {
      parseEndpointAddress(this.#o.advertise, 'advertise');
      this.#url = this.#o.advertise;
    }
    this.#starter?.on('status', this.#onStarterStatus);
    this.logger.info(
      { url: this.#url, tls: this.#tls, starter: this.#starter !== undefined },
      'worker endpoint listening',
    );
  }

  async #prepareToken(): Promise<void> {
    let file = this.#o.tokenFile;
    if (file === undefined) {
      this.#madeDir = await mkdtemp(path.join(tmpdir(), 'ordo-endpoint-'));
      file = path.join(this.#madeDir, 'worker-token');
    }
    file = path.resolve(file);
    const existing = await readFile(file, 'utf8').then(
      (text) => text.trim(),
      () => undefined,
    );
    const token = this.#o.token ?? existing ?? randomBytes(32).toString('base64url');
    assertToken(
      token,
      existing !== undefined && this.#o.token === undefined ? `the token in ${file}` : 'token',
    );
    if (existing !== token) {
      await writeFile(file, `${token}\n`, { mode: 0o600 });
      if (existing === undefined) this.#madeTokenFile = file;
    }
    await chmod(file, 0o600);
    this.#tokenFile = file;
    this.#tokenDigest = digest(token);
  }

  async #dropToken(): Promise<void> {
    if (this.#tlsDir !== undefined) await rm(this.#tlsDir, { recursive: true, force: true });
    this.#tlsDir = undefined;
    this.#tlsFiles = undefined;
    if (this.#madeTokenFile !== undefined) await rm(this.#madeTokenFile, { force: true });
    if (this.#madeDir !== undefined) await rm(this.#madeDir, { recursive: true, force: true });
    this.#madeTokenFile = undefined;
    this.#madeDir = undefined;
  }

  stats(): RemoteEndpointStats {
    let connected = 0;
    for (const record of this.records.values()) if (record.io?.open) connected++;
    return {
      accepted: this.#accepted,
      refused: { ...this.#refused },
      waiting: this.#waiting.length,
      pending: this.#pending.size,
      connected,
    };
  }

  // ---- spawn and pairing ---------------------------------------------------------------------------

  /**
   * With a starter, starts the worker through it and resolves once the worker connected with its id
   * (rejects with `REMOTE_CONNECT_TIMEOUT` when it does not within `connectTimeoutMs` or exits first, and
   * with the starter's error when it cannot start one). Without one, resolves with the next authenticated
   * worker (one waiting already, or the next to connect). Rejects with `signal.reason` on abort,
   * `LAUNCHER_CLOSED` once closed.
   */
  async spawn(workerId: string, spec: WorkerSpec = {}, signal?: AbortSignal): Promise<RemoteWorkerHandle> {
    signal?.throwIfAborted();
    this.checkNewWorker(workerId);
    const record: RemoteRecord = {
      ...newWorkerRecord(workerId, 'waiting for the worker to connect', this.clock.now()),
      spec,
      io: undefined,
      placement: { host: undefined, hostname: undefined, address: '' },
      pending: undefined,
      stopTimer: undefined,
    };
    this.records.set(workerId, record);
    const paired = new Promise<RemoteWorkerHandle>((resolve, reject) => {
      record.pending = { workerId, started: this.#starter !== undefined, resolve, reject };
    });
    const pending = record.pending as Pending;
    this.#pending.set(workerId, pending);
    const onAbort = () => this.#failPending(record, signal?.reason);
    signal?.addEventListener('abort', onAbort, { once: true });
    let timer: TimerHandle | undefined;
    try {
      if (this.#starter === undefined) {
        const next = this.#waiting.shift();
        if (next) this.#pair(record, next);
        else this.#queue.push(pending);
      } else {
        timer = this.clock.setTimeout(
          () =>
            this.#failPending(
              record,
              new RemoteConnectTimeoutError(
                workerId,
                `no connection within ${this.#o.connectTimeoutMs ?? 60_000} ms`,
              ),
            ),
          this.#o.connectTimeoutMs ?? 60_000,
          { unref: true },
        );
        await this.#starter
          .spawn(
            workerId,
            {
              ...spec,
              env: {
                ...spec.env,
                [WORKER_CONNECT_ENV]: this.#url,
                [WORKER_TOKEN_FILE_ENV]: this.#tokenFile,
                [WORKER_ID_ENV]: workerId,
                ...(this.#tlsFiles && {
                  [WORKER_TLS_ENV.CA]: this.#tlsFiles.ca,
                  [WORKER_TLS_ENV.CERT]: this.#tlsFiles.cert,
                  [WORKER_TLS_ENV.KEY]: this.#tlsFiles.key,
                }),
              },
            },
            signal,
          )
          .catch((error: unknown) => {
            this.#failPending(record, error, false);
          });
      }
      return await paired;
    } finally {
      if (timer !== undefined) this.clock.clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    }
  }

  /** Ends a spawn that has no connection yet: its worker (if a starter made one) is stopped. */
  #failPending(record: RemoteRecord, error: unknown, stopStarted = true): void {
    const pending = record.pending;
    if (pending === undefined) return;
    record.pending = undefined;
    this.#pending.delete(record.workerId);
    const at = this.#queue.indexOf(pending);
    if (at !== -1) this.#queue.splice(at, 1);
    this.setStatus(
      record,
      WorkerStatus.CRASHED,
      `did not connect: ${(error as Error)?.message ?? String(error)}`,
    );
    if (stopStarted && this.#starter !== undefined) {
      this.#starter.terminate(record.workerId, { graceMs: 0 }).catch(() => {});
    }
    pending.reject(error);
  }

  /** Gives the waiting connection to the spawn of `record`: WELCOME, then IPC v1. */
  #pair(record: RemoteRecord, conn: Waiting): void {
    const pending = record.pending as Pending;
    record.pending = undefined;
    this.#pending.delete(record.workerId);
    const env = record.spec.env ?? {};
    const maxMessageBytes = positiveInt(env[IpcEnv.MAX_MESSAGE_BYTES]) ?? DEFAULT_MAX_MESSAGE_BYTES;
    const reportIntervalMs = positiveInt(env[IpcEnv.REPORT_INTERVAL_MS]) ?? DEFAULT_REPORT_MS;
    const { socket } = conn;
    conn.leave();
    socket.write(
      encodeLine({
        type: 'WELCOME',
        v: IPC_PROTOCOL_VERSION,
        workerId: record.workerId,
        maxMessageBytes,
        reportIntervalMs,
      }),
    );
    record.placement = { host: conn.hello.host, hostname: conn.hello.host, address: conn.peer };
    const io = new SocketIo(socket, {
      workerId: record.workerId,
      rest: conn.rest,
      maxLineLength: Math.max(maxMessageBytes, 65_536) * 4,
      onOverflow: (length) =>
        this.logger.warn(
          { workerId: record.workerId, length },
          'worker sent a line over the limit; disconnected',
        ),
      onClose: (error) => this.#onClosed(record, error),
    });
    record.io = io;
    this.#accepted++;
    const starter = this.#starter;
    const placement = record.placement;
    const handle = liveHandle(
      record,
      {
        get node(): RemotePlacement {
          const engine = (
            starter?.handle(record.workerId) as
              | { node?: { nodeId?: unknown; hostname?: unknown } }
              | undefined
          )?.node;
          const hostname = typeof engine?.hostname === 'string' ? engine.hostname : placement.hostname;
          const nodeId =
            typeof engine?.nodeId === 'string' ? engine.nodeId : (placement.host ?? placement.address);
          return { nodeId, hostname, address: placement.address };
        },
      },
      io,
    ) as RemoteWorkerHandle;
    this.#handles.set(record.workerId, handle);
    this.setStatus(
      record,
      WorkerStatus.READY,
      `connected from ${conn.peer}${conn.hello.host ? ` (${conn.hello.host})` : ''}`,
    );
    this.logger.info(
      { workerId: record.workerId, peer: conn.peer, host: conn.hello.host },
      'worker connected',
    );
    pending.resolve(handle);
  }

  #onClosed(record: RemoteRecord, error: Error | undefined): void {
    if (record.stopTimer !== undefined) this.clock.clearTimeout(record.stopTimer);
    const what = error
      ? `connection lost (${(error as NodeJS.ErrnoException).code ?? error.message})`
      : 'connection closed';
    if (record.stopRequested) this.setStatus(record, WorkerStatus.STOPPED, `terminated (${what})`);
    else {
      this.setStatus(record, WorkerStatus.CRASHED, `${what} by the worker`);
      // The process may still run (a half-open link): a worker the starter made is stopped.
      this.#starter?.terminate(record.workerId, { graceMs: 0 }).catch(() => {});
    }
    this.logger.info({ workerId: record.workerId, reason: record.reason }, 'worker disconnected');
  }

  /** The starter saw its worker end: its connection (if any) is closed, its pending spawn fails. */
  #starterStatus(change: WorkerStatusChange): void {
    if (!isTerminalWorkerStatus(change.to)) return;
    const record = this.records.get(change.workerId);
    if (record === undefined) return;
    if (record.pending !== undefined) {
      this.#failPending(
        record,
        new RemoteConnectTimeoutError(change.workerId, `it exited before it connected (${change.reason})`),
        false,
      );
    } else if (record.io?.open) {
      record.io.close().catch(() => {});
    }
  }

  // ---- connections ---------------------------------------------------------------------------------

  async #onConnection(socket: Socket): Promise<void> {
    const peer = peerOf(socket);
    socket.on('error', (error) => this.logger.debug({ err: error, peer }, 'endpoint connection error'));
    if (this.closed) return this.#refuse(socket, 'closing', peer);
    if (this.#limiter.blocked(peer)) return this.#refuse(socket, 'rate-limited', peer);
    if (this.#handshaking.size >= (this.#o.maxHandshakes ?? 256))
      return this.#refuse(socket, 'capacity', peer);
    if (typeof socket.setNoDelay === 'function') socket.setNoDelay(true);
    socket.setKeepAlive?.(true, 15_000);
    this.#handshaking.add(socket);
    let first: Awaited<ReturnType<typeof readFirstLine>>;
    try {
      first = await readFirstLine(socket, {
        maxBytes: this.#o.maxHelloBytes ?? 4096,
        timeoutMs: this.#handshakeMs,
        clock: this.clock,
      });
    } finally {
      this.#handshaking.delete(socket);
    }
    if (!first.ok) {
      return this.#refuse(
        socket,
        first.reason === 'oversized' || first.reason === 'timeout' ? first.reason : 'malformed',
        peer,
      );
    }
    const hello = parseHello(first.line);
    if (hello === undefined) return this.#refuse(socket, 'malformed', peer);
    if (hello.token === undefined || hello.token === '') return this.#refuse(socket, 'missing-token', peer);
    if (!timingSafeEqual(digest(hello.token), this.#tokenDigest))
      return this.#refuse(socket, 'bad-token', peer);
    if (hello.v !== IPC_PROTOCOL_VERSION) return this.#refuse(socket, 'version', peer);
    if (this.closed) return this.#refuse(socket, 'closing', peer);
    const conn: Waiting = { socket, hello, rest: first.rest, peer, leave: () => {} };
    if (this.#starter !== undefined) {
      const record = hello.workerId === undefined ? undefined : this.records.get(hello.workerId);
      if (record?.pending === undefined) return this.#refuse(socket, 'unassigned', peer);
      return this.#pair(record, conn);
    }
    const next = this.#queue.shift();
    if (next !== undefined) return this.#pair(this.record(next.workerId), conn);
    if (this.#waiting.length >= (this.#o.maxWaiting ?? 64)) return this.#refuse(socket, 'capacity', peer);
    this.#waiting.push(conn);
    const onClose = () => {
      const at = this.#waiting.indexOf(conn);
      if (at !== -1) this.#waiting.splice(at, 1);
    };
    // A waiting worker sends nothing until it is welcomed; anything it sends is kept for after.
    const onData = (chunk: Buffer) => {
      if (conn.rest.length + chunk.length > (this.#o.maxHelloBytes ?? 4096)) socket.destroy();
      else conn.rest = Buffer.concat([conn.rest, chunk]);
    };
    conn.leave = () => {
      socket.off('close', onClose).off('data', onData);
      socket.pause();
    };
    socket.once('close', onClose).on('data', onData);
    socket.resume();
  }

  /** Tells the peer why (a reason code, nothing more), closes the connection and counts it. */
  #refuse(socket: Socket, reason: RefusalReason, peer: string): void {
    this.#count(reason, peer);
    if (!NOT_FAILURES.has(reason)) this.#limiter.fail(peer);
    if (socket.writable) socket.end(encodeLine({ type: 'REFUSED', reason }));
    const timer = this.clock.setTimeout(() => socket.destroy(), 1000, { unref: true });
    socket.once('close', () => this.clock.clearTimeout(timer));
    socket.resume(); // read and drop whatever else it sends until it closes
  }

  #count(reason: RefusalReason, peer: string): void {
    this.#refused[reason]++;
    this.logger.warn({ reason, peer }, 'worker connection refused');
    this.events.emit('refused', { reason, peer });
  }

  // ---- the rest of the Launcher contract -----------------------------------------------------------

  handle(workerId: string): RemoteWorkerHandle | undefined {
    return this.#handles.get(workerId);
  }

  /** The worker's status: its connection's state (there is nothing to poll). */
  async monitor(workerId: string, signal?: AbortSignal): Promise<WorkerStatus> {
    signal?.throwIfAborted();
    const record = this.record(workerId);
    record.healthCheckAt = this.clock.now();
    return record.status;
  }

  /** Every worker's status; with a starter, its `syncState` runs first (placement, deaths). */
  async syncState(signal?: AbortSignal): Promise<ReadonlyMap<string, WorkerStatus>> {
    signal?.throwIfAborted();
    await this.#starter?.syncState(signal).catch((error: unknown) => {
      this.logger.debug({ err: error }, 'starter syncState failed');
    });
    const out = new Map<string, WorkerStatus>();
    for (const [id, record] of this.records) out.set(id, record.status);
    return out;
  }

  /**
   * Ends the worker's session: a spawn still waiting fails; a connected worker is sent SHUTDOWN and its
   * connection is closed when the worker closes it, or after `graceMs` (at least 1 s, so the SHUTDOWN is
   * read) at most; a worker the starter made is terminated through it.
   */
  async terminate(workerId: string, options: TerminateOptions = {}): Promise<void> {
    const record = this.record(workerId);
    const graceMs = options.graceMs ?? 5000;
    if (isTerminalWorkerStatus(record.status)) return;
    record.stopRequested = true;
    if (record.pending !== undefined) {
      this.#failPending(record, new LauncherClosedError());
      return;
    }
    this.setStatus(record, WorkerStatus.STOPPING, 'terminate requested');
    const io = record.io;
    const stopping = this.#starter?.terminate(workerId, options).catch(() => {});
    if (io !== undefined) {
      // The worker closes its side once it read the SHUTDOWN; destroying at once could reset the
      // connection before it did (it would then take the end for a lost link and keep reconnecting).
      io.end(SHUTDOWN_LINE);
      record.stopTimer = this.clock.setTimeout(() => void io.close(), Math.max(graceMs, SHUTDOWN_FLUSH_MS), {
        unref: true,
      });
      await io.closed;
    }
    await stopping;
  }

  async terminateAll(options: TerminateOptions = {}): Promise<void> {
    await Promise.all([...this.records.keys()].map((id) => this.terminate(id, options)));
  }

  /**
   * Stops accepting, tells waiting workers the runtime is closing, ends every session, closes the starter
   * (when given) and removes the socket and the credential file this launcher made.
   */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.closed = true;
      const serverClosed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
      for (const conn of this.#waiting.splice(0)) {
        conn.leave();
        this.#refuse(conn.socket, 'closing', conn.peer);
      }
      for (const socket of this.#handshaking) socket.destroy();
      await this.terminateAll({ graceMs: 1000 });
      this.#starter?.off('status', this.#onStarterStatus);
      await this.#starter?.close();
      await serverClosed;
      if (this.#address.kind === 'unix') await rm(this.#address.path, { force: true });
      await this.#dropToken();
    })();
    return this.#closing;
  }
}

function assertToken(token: unknown, what: string): asserts token is string {
  if (typeof token !== 'string' || token.length < 16 || token.length > 1024 || /\s/.test(token)) {
    throw new RemoteOptionsError(
      `${what} must be 16 to 1024 characters without whitespace. Leave it out to get a random one.`,
    );
  }
}

/** A fixed-length digest, so `timingSafeEqual` compares equal lengths whatever was sent. */
function digest(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest();
}

function peerOf(socket: Socket): string {
  return socket.remoteAddress ?? 'unix';
}

function positiveInt(text: string | undefined): number | undefined {
  const value = Number(text);
  return Number.isSafeInteger(value) && value > 0 ? value : undefined;
}
