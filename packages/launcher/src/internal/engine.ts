import type { Duplex } from 'node:stream';
import type { Logger, Policy } from '@ordo/contracts';
import type { Dispatcher, Pool } from 'undici';
import type { DockerConnection } from '../docker.js';
import { EngineRequestError, EngineUnavailableError, InvalidOptionsError } from '../errors.js';
import { frameStream, HEADER_BYTES } from './frameDemuxer.js';
import { undici } from './undici.js';

/** A request to the Engine API. `endpoint` is the label it is counted under, e.g. `GET /containers/json`. */
export interface EngineRequest {
  method: 'GET' | 'POST' | 'DELETE';
  path: string;
  endpoint: string;
  query?: Record<string, string | number | boolean | undefined> | undefined;
  body?: unknown;
  signal?: AbortSignal | undefined;
  /** Statuses that are not errors (besides 2xx), e.g. 304 for a stop of a stopped container. */
  ok?: readonly number[] | undefined;
}

/** The engine's answer: status and, for a body, its bytes. */
export interface EngineResponse {
  status: number;
  body: Buffer;
  json<T>(): T;
}

/**
 * The Engine API over an undici Pool (keep-alive connections on the unix socket or TCP/TLS). Counts every
 * call by endpoint and turns transport failures into `LAUNCHER_ENGINE_UNAVAILABLE`. The Pool (and undici)
 * is loaded on the first call, so a launcher that never calls the engine does not pay for it.
 */
export class EngineClient {
  /** Where the engine is, for messages: `unix:///var/run/docker.sock` or the URL. */
  readonly where: string;
  readonly #origin: string;
  readonly #poolOptions: Pool.Options;
  #poolInstance: Pool | undefined;
  #destroyed = false;
  readonly #calls = new Map<string, number>();
  readonly #logger: Logger;
  readonly #policy: Policy | undefined;

  constructor(connection: DockerConnection, logger: Logger, connections = 8, policy?: Policy) {
    this.#logger = logger;
    this.#policy = policy;
    if ('socketPath' in connection) {
      this.where = `unix://${connection.socketPath}`;
      this.#origin = 'http://docker';
      this.#poolOptions = { socketPath: connection.socketPath, connections, keepAliveTimeout: 30_000 };
    } else {
      const url = connection.url.replace(/^tcp:/, connection.tls ? 'https:' : 'http:');
      this.where = url;
      this.#origin = checkedOrigin(url, connection.url);
      const tls = connection.tls;
      this.#poolOptions = {
        connections,
        keepAliveTimeout: 30_000,
        ...(tls
          ? {
              connect: {
                ...(tls.ca !== undefined && { ca: tls.ca }),
                ...(tls.cert !== undefined && { cert: tls.cert }),
                ...(tls.key !== undefined && { key: tls.key }),
                ...(tls.servername !== undefined && { servername: tls.servername }),
                rejectUnauthorized: tls.rejectUnauthorized ?? true,
              },
            }
          : {}),
      };
    }
  }

  get #pool(): Pool {
    if (!this.#poolInstance) {
      this.#poolInstance = new (undici().Pool)(this.#origin, this.#poolOptions);
      // Closed before its first call: refuse calls as the closed Pool always did.
      if (this.#destroyed) void this.#poolInstance.destroy();
    }
    return this.#poolInstance;
  }

  /** Calls made so far, by endpoint. */
  apiCalls(): Record<string, number> {
    return Object.fromEntries(this.#calls);
  }

  /**
   * Sends a request and reads the whole answer; a status outside 2xx and `ok` is an EngineRequestError.
   * With a policy, the request runs through it (each attempt is counted in `apiCalls`).
   */
  request(req: EngineRequest): Promise<EngineResponse> {
    if (!this.#policy) return this.#requestOnce(req);
    return this.#policy.execute(({ signal }) => this.#requestOnce({ ...req, signal }), req.signal);
  }

  async #requestOnce(req: EngineRequest): Promise<EngineResponse> {
    const { statusCode, body } = await this.#send(req);
    let bytes: Buffer;
    try {
      bytes = Buffer.from(await body.arrayBuffer());
    } catch (error) {
      throw this.#transportError(req, error);
    }
    if ((statusCode < 200 || statusCode >= 300) && !req.ok?.includes(statusCode)) {
      throw requestError(req, statusCode, bytes, this.where);
    }
    return { status: statusCode, body: bytes, json: <T>() => JSON.parse(bytes.toString('utf8')) as T };
  }

  /** Opens a streaming request (the events stream); the caller reads and ends `body`. */
  async stream(
    req: EngineRequest,
  ): Promise<{ headers: Record<string, unknown>; body: AsyncIterable<Buffer> }> {
    const res = await this.#send(req);
    if (res.statusCode !== 200) {
      const bytes = Buffer.from(await res.body.arrayBuffer().catch(() => new ArrayBuffer(0)));
      throw requestError(req, res.statusCode, bytes, this.where);
    }
    return { headers: res.headers, body: res.body };
  }

  /**
   * Sends a request that asks the engine to hijack the connection (`Connection: Upgrade`, `Upgrade: tcp`,
   * as `POST /containers/{id}/attach` does) and resolves with the raw duplex socket once it answered
   * `101 Switching Protocols`. The socket leaves the pool: the caller owns it and must destroy it. Any other
   * answer is an EngineRequestError (with the engine's message), a transport failure
   * `LAUNCHER_ENGINE_UNAVAILABLE`.
   */
  upgrade(req: EngineRequest): Promise<Duplex> {
    return new Promise<Duplex>((resolve, reject) => {
      req.signal?.throwIfAborted();
      this.#count(req);
      let status = 0;
      const body: Buffer[] = [];
      const fail = (error: unknown) => reject(this.#transportError(req, error));
      const onAbort = () => controller?.abort(req.signal?.reason as Error);
      let controller: Dispatcher.DispatchController | undefined;
      const done = () => req.signal?.removeEventListener('abort', onAbort);
      const handler: Dispatcher.DispatchHandler = {
        onRequestStart: (c) => {
          controller = c;
          if (req.signal?.aborted) c.abort(req.signal.reason as Error);
        },
        onRequestUpgrade: (_c, _status, _headers, socket) => {
          done();
          resolve(socket);
        },
        onResponseStart: (c, statusCode) => {
          status = statusCode;
          if (statusCode >= 200 && statusCode < 300) {
            // An engine that answers 2xx without upgrading would stream forever: refuse it at once.
            done();
            reject(
              new EngineRequestError(
                `The Docker engine at ${this.where} answered ${req.endpoint} with ${statusCode} but did not upgrade the connection. Use Docker Engine API 1.24 or newer.`,
                { details: { status: statusCode, endpoint: req.endpoint, engineMessage: '' } },
              ),
            );
            c.abort(new Error('no connection upgrade'));
          }
        },
        onResponseData: (_c, chunk) => {
          body.push(chunk);
        },
        onResponseEnd: () => {
          done();
          reject(requestError(req, status, Buffer.concat(body), this.where));
        },
        onResponseError: (_c, error) => {
          done();
          fail(error);
        },
      };
      req.signal?.addEventListener('abort', onAbort, { once: true });
      try {
        this.#pool.dispatch(
          {
            method: req.method,
            path: `${req.path}${queryString(req.query)}`,
            upgrade: 'tcp',
            headers: {},
            headersTimeout: 60_000,
          },
          handler,
        );
      } catch (error) {
        done();
        fail(error);
      }
    });
  }

  async close(): Promise<void> {
    this.#destroyed = true;
    await this.#poolInstance?.destroy();
  }

  #count(req: EngineRequest): void {
    this.#calls.set(req.endpoint, (this.#calls.get(req.endpoint) ?? 0) + 1);
  }

  async #send(req: EngineRequest) {
    req.signal?.throwIfAborted();
    this.#count(req);
    try {
      return await this.#pool.request({
        method: req.method,
        path: `${req.path}${queryString(req.query)}`,
        headers: req.body === undefined ? {} : { 'content-type': 'application/json' },
        body: req.body === undefined ? null : JSON.stringify(req.body),
        signal: req.signal ?? null,
        headersTimeout: 60_000,
        bodyTimeout: 0, // the events stream is quiet for as long as nothing happens
      });
    } catch (error) {
      throw this.#transportError(req, error);
    }
  }

  #transportError(req: EngineRequest, error: unknown): unknown {
    if (req.signal?.aborted) return req.signal.reason;
    const code = (error as { code?: string }).code ?? '';
    if (code === 'UND_ERR_ABORTED' || (error as Error).name === 'AbortError') return error;
    this.#logger.debug({ err: error, endpoint: req.endpoint }, 'engine unreachable');
    const detail = [code, (error as Error).message].filter(Boolean).join(': ');
    const hint = this.where.startsWith('unix:')
      ? 'Start an engine (in this repository: scripts/docker-engine.sh start; elsewhere: systemctl start docker), then point the launcher at its socket with { docker: { socketPath } } or DOCKER_HOST=unix://….'
      : 'Check that the engine listens there and, with TLS, that the CA, client certificate and key (DOCKER_CERT_PATH) are the ones it expects; point the launcher at it with { docker: { url, tls } } or DOCKER_HOST=tcp://….';
    return new EngineUnavailableError(
      `Cannot reach the Docker engine at ${this.where} (${detail}). ${hint}`,
      { cause: error, details: { engine: this.where, endpoint: req.endpoint } },
    );
  }
}

/**
 * `url` (`given` with tcp: made http(s):) as the Pool's origin. Checked here, as undici checks it, so that a
 * bad URL still fails when the launcher is created although the Pool is made on the first call.
 */
function checkedOrigin(url: string, given: string): string {
  let parsed: URL | undefined;
  try {
    parsed = new URL(url);
  } catch {
    // reported below
  }
  const isOrigin =
    parsed !== undefined &&
    (parsed.protocol === 'http:' || parsed.protocol === 'https:') &&
    parsed.pathname === '/' &&
    parsed.search === '' &&
    parsed.hash === '';
  if (!isOrigin) {
    throw new InvalidOptionsError(
      `Option "docker.url" must be tcp://host:port, http://host:port or https://host:port without a path, got ${JSON.stringify(given)}.`,
      { details: { url: given } },
    );
  }
  return url;
}

function queryString(query: EngineRequest['query']): string {
  if (!query) return '';
  const entries = Object.entries(query)
    .filter((e): e is [string, string | number | boolean] => e[1] !== undefined)
    .map(([k, v]): [string, string] => [k, String(v)]);
  return `?${new URLSearchParams(entries)}`;
}

function requestError(req: EngineRequest, status: number, body: Buffer, where: string): EngineRequestError {
  let message = body.toString('utf8').trim();
  try {
    message = (JSON.parse(message) as { message?: string }).message ?? message;
  } catch {
    // not JSON: keep the text
  }
  return new EngineRequestError(
    `The Docker engine at ${where} answered ${req.endpoint} with ${status}: ${message || '(no message)'}.`,
    { details: { status, endpoint: req.endpoint, engineMessage: message } },
  );
}

/**
 * The last `lines` log lines (stdout and stderr) at `path` (`/containers/{id}/logs` or
 * `/services/{id}/logs`), read with `send` (the caller's way to call the engine).
 */
export async function logTail(
  send: (req: EngineRequest) => Promise<EngineResponse>,
  path: string,
  endpoint: string,
  lines: number,
): Promise<string[]> {
  const res = await send({ method: 'GET', path, endpoint, query: { stdout: 1, stderr: 1, tail: lines } });
  return demux(res.body)
    .split('\n')
    .filter((l) => l !== '')
    .slice(-lines);
}

/**
 * Splits the engine's multiplexed stdout/stderr stream (8-byte frame headers: stream, 0, 0, 0, size) into
 * text. A body without frame headers (a TTY container) is returned as it is.
 */
export function demux(buffer: Buffer): string {
  const parts: Buffer[] = [];
  let offset = 0;
  while (offset + HEADER_BYTES <= buffer.length) {
    if (frameStream(buffer, offset) === undefined) return buffer.toString('utf8');
    const size = buffer.readUInt32BE(offset + 4);
    parts.push(buffer.subarray(offset + HEADER_BYTES, offset + HEADER_BYTES + size));
    offset += HEADER_BYTES + size;
  }
  return offset === buffer.length ? Buffer.concat(parts).toString('utf8') : buffer.toString('utf8');
}
