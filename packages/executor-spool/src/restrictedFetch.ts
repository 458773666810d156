import { lookup as dnsLookup } from 'node:dns/promises';
import { isIP, type LookupFunction } from 'node:net';
import {
  type Clock,
  childAbortController,
  isOrdoError,
  type Logger,
  noopLogger,
  type Policy,
  type RateLimiter,
  systemClock,
} from '@ordo/contracts';
import type { Agent, buildConnector, Dispatcher, RequestInit, Response } from 'undici';
import {
  FetchBodyTooLargeError,
  FetchDnsError,
  FetchOptionError,
  FetchRateLimitedError,
  FetchTimeoutError,
  FetchTooManyRedirectsError,
  FetchUrlNotAllowedError,
} from './errors.js';
import {
  createHostPolicy,
  type HostPolicy,
  type HostPolicyOptions,
  isLocalhostName,
  LOCALHOST_ADDRESSES,
} from './hostPolicy.js';
import { type FetchSpanHandle, type FetchTracer, startFetchSpan } from './internal/fetchSpan.js';

export type { FetchSpan, FetchTracer } from './internal/fetchSpan.js';

import { createResponseTap, REDIRECTS, type ResponseTap } from './internal/responseTap.js';
import { parseRetryAfter } from './internal/retryAfter.js';
import { undici } from './internal/undici.js';
import { createTokenBucket } from './tokenBucket.js';

/** One address a host name resolves to. */
export interface ResolvedAddress {
  address: string;
  family: 4 | 6;
}

/** Options of {@link createRestrictedFetch}. */
export interface RestrictedFetchOptions extends HostPolicyOptions {
  /**
   * A token bucket per host. Each request (and each redirect hop) takes a token; with `wait: false` a
   * request that finds none fails at once with `FETCH_RATE_LIMITED` and `retryAfterMs`.
   * @default undefined (no rate limit)
   */
  rate?:
    | {
        /** Tokens per second per host. */
        perSecond: number;
        /** Bucket size. @default Math.max(1, Math.ceil(perSecond)) */
        burst?: number | undefined;
        /** Wait for a token (`true`) or fail fast (`false`). @default true */
        wait?: boolean | undefined;
      }
    | undefined;
  /**
   * The most bytes of a response body that may be read (decoded bytes for a content-encoded body); past
   * it the body stream errors with `FETCH_BODY_TOO_LARGE` and the connection is dropped. A plain body is
   * counted as it arrives, so the error can come before the caller has read that far.
   * @default 10485760 (10 MiB)
   */
  maxBodyBytes?: number | undefined;
  /**
   * How long a request may take, from the call until its body has been received whole (for a
   * content-encoded body: read and decoded) (`FETCH_TIMEOUT`). `Infinity` disables it.
   * @default 30000
   */
  timeoutMs?: number | undefined;
  /**
   * How many redirects are followed (each hop checked again) before `FETCH_TOO_MANY_REDIRECTS`.
   * @default 5
   */
  maxRedirects?: number | undefined;
  /**
   * A circuit breaker per host (e.g. governance's `CircuitBreaker`), or any contracts `Policy` such as
   * governance's `wrap(retry(...), breaker)`, asked for on every request. 5xx responses and network errors
   * count as failures: a 5xx reaches the policy as an error with `status` and `retryAfterMs` (its
   * `Retry-After`), so a retry can retry it; the last 5xx response is still returned, and the bodies of
   * the ones a retry dropped are cancelled.
   * @default undefined (no breaker)
   */
  breakerFor?: ((host: string) => Policy | undefined) | undefined;
  /**
   * The most connections open at once to one origin (scheme, host and port) through the owned Agent;
   * further requests wait for a free connection instead of opening more sockets, so a host that never
   * answers cannot make the fetch open one socket per request.
   * @default 16
   */
  maxConnectionsPerHost?: number | undefined;
  /**
   * The undici dispatcher to send requests through. By default the fetch owns one keep-alive `Agent`
   * whose connector checks every address at connect time.
   *
   * Gotchas: a dispatcher you pass gets none of the connect-time checks (only the URL checks run), and
   * `close()` leaves it open. Use {@link createCheckedAgent} to build a checked one with other settings.
   * @default a checked keep-alive Agent
   */
  dispatcher?: Dispatcher | undefined;
  /**
   * Resolves a host name to its addresses at connect time. Every address is checked before connecting.
   * `localhost` and `*.localhost` names are never sent to it: they are 127.0.0.1 and ::1 (RFC 6761). A
   * rejection or an empty answer fails the request with `FETCH_DNS_FAILED`.
   * @default dns.lookup(host, { all: true })
   */
  resolve?: ((hostname: string) => Promise<readonly ResolvedAddress[]>) | undefined;
  /** A rate limiter to use instead of the built-in token bucket (`rate` then only sets `wait`). */
  limiter?: RateLimiter | undefined;
  /** The time source for timeouts and the token bucket. @default systemClock */
  clock?: Clock | undefined;
  /** Where refusals are logged. @default noopLogger */
  logger?: Logger | undefined;
  /**
   * An OpenTelemetry tracer (`trace.getTracer(name)` of `@opentelemetry/api`; any object with the same
   * `startSpan` fits, nothing of OpenTelemetry is imported here). Each fetch is then one client span in
   * the active context, named by its method, with OpenTelemetry's HTTP attributes (`http.request.method`,
   * `url.full` without credentials, `server.address`, `server.port`, `http.response.status_code`,
   * `error.type`: the ordo code of a refusal, or the status of a 4xx/5xx) and `ordo.fetch.redirects`.
   * It ends when the body has been received whole (or the request failed); a tracer that throws loses spans,
   * never a request.
   * @default undefined (no spans)
   */
  tracer?: FetchTracer | undefined;
}

/** A `fetch` restricted by a policy, which owns a connection pool. */
export interface RestrictedFetch {
  /**
   * Fetches like the global `fetch`, after the URL, host and address checks, the rate limit and the
   * breaker. Redirects are followed by hand (`redirect: 'manual'` returns them; `'error'` rejects).
   */
  (input: string | URL | RequestLike, init?: RequestInit): Promise<Response>;
  /** Closes the owned Agent (its keep-alive sockets). A dispatcher passed in is left open. */
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

/** What is read from a `Request` passed as input: its URL, method, headers, body and signal. */
export interface RequestLike {
  readonly url: string;
  readonly method?: string | undefined;
  readonly headers?: Iterable<[string, string]> | undefined;
  readonly body?: ReadableStream<Uint8Array> | null | undefined;
  readonly signal?: AbortSignal | undefined;
}

/** Options of {@link createCheckedAgent}. */
export interface CheckedAgentOptions {
  /** The checks run on every address. */
  policy: HostPolicy;
  /** @see RestrictedFetchOptions.resolve */
  resolve?: RestrictedFetchOptions['resolve'];
  /** Other undici Agent options (`keepAliveTimeout`, `connections`, …). */
  agent?: Omit<Agent.Options, 'connect'> | undefined;
}

const defaultResolve = async (hostname: string): Promise<readonly ResolvedAddress[]> =>
  (await dnsLookup(hostname, { all: true })) as ResolvedAddress[];

/**
 * Builds an undici `Agent` with keep-alive whose connector checks the address of every new connection:
 * a host name through a checking `lookup` (so DNS rebinding cannot reach a private address), an IP literal
 * directly (it never reaches a lookup).
 *
 * @example
 * ```ts
 * const agent = createCheckedAgent({ policy: createHostPolicy({ allow: ['*.example.com'] }) });
 * ```
 */
export function createCheckedAgent(options: CheckedAgentOptions): Agent {
  const lib = undici();
  const { policy } = options;
  const resolve = options.resolve ?? defaultResolve;
  const lookup: LookupFunction = (hostname, lookupOptions, callback) => {
    const family =
      lookupOptions.family === 'IPv4' ? 4 : lookupOptions.family === 'IPv6' ? 6 : lookupOptions.family;
    const answer = (resolved: readonly ResolvedAddress[], localhost: boolean) => {
      const addresses = (Array.isArray(resolved) ? resolved : []).filter(
        (a) => !family || a.family === family,
      );
      let allowed: ResolvedAddress[] = [];
      try {
        if (localhost) {
          // RFC 6761 names: reach whichever loopback address the policy lets through.
          allowed = addresses.filter(({ address }) => passes(policy, hostname, address));
          if (allowed.length === 0 && addresses[0]) policy.checkAddress(hostname, addresses[0].address);
        } else {
          for (const { address } of addresses) policy.checkAddress(hostname, address);
          allowed = addresses;
        }
      } catch (error) {
        callback(error as Error, '', 0);
        return;
      }
      const first = allowed[0];
      if (!first) {
        callback(new FetchDnsError(hostname, 'ENOTFOUND'), '', 0);
        return;
      }
      if (lookupOptions.all)
        (callback as unknown as (e: null, a: ResolvedAddress[]) => void)(null, [...allowed]);
      else callback(null, first.address, first.family);
    };
    if (isLocalhostName(hostname)) {
      answer(LOCALHOST_ADDRESSES, true);
      return;
    }
    let pending: Promise<readonly ResolvedAddress[]>;
    try {
      pending = Promise.resolve(resolve(hostname));
    } catch (error) {
      pending = Promise.reject(error);
    }
    pending.then(
      (resolved) => answer(resolved, false),
      (error: unknown) => {
        const code = (error as { code?: unknown } | undefined)?.code;
        callback(new FetchDnsError(hostname, typeof code === 'string' ? code : 'ERESOLVER', error), '', 0);
      },
    );
  };
  const base = lib.buildConnector({ lookup });
  const connect: buildConnector.connector = (connectOptions, callback) => {
    if (isIP(connectOptions.hostname) !== 0) {
      try {
        policy.checkAddress(connectOptions.hostname, connectOptions.hostname);
      } catch (error) {
        callback(error as Error, null);
        return;
      }
    }
    base(connectOptions, callback);
  };
  return new lib.Agent({ keepAliveTimeout: 10_000, ...options.agent, connect });
}

/**
 * Creates a `fetch` that reaches only allowed hosts on public addresses (unless listed in `allowPrivate`),
 * over one shared keep-alive Agent, with a per-host token bucket, an optional per-host breaker, a body cap
 * and a timeout.
 *
 * When to use: every request whose URL an agent or a user can influence (SSRF).
 *
 * Gotchas: the returned `Response` is undici's; its body is a stream that errors with
 * `FETCH_BODY_TOO_LARGE` past `maxBodyBytes`, and the timeout runs until the body is in, so a body left
 * unread past the stream's buffer holds its connection until then: read or cancel every body.
 *
 * @example
 * ```ts
 * import { createRestrictedFetch } from '@ordo/executor-spool';
 * await using fetch = createRestrictedFetch({
 *   allow: ['api.github.com', '*.example.com'],
 *   rate: { perSecond: 5, burst: 10 },
 *   maxBodyBytes: 1_000_000,
 * });
 * const response = await fetch('https://api.github.com/zen');
 * console.log(await response.text());
 * ```
 */
export function createRestrictedFetch(options: RestrictedFetchOptions = {}): RestrictedFetch {
  const policy = createHostPolicy(options);
  const maxBodyBytes = options.maxBodyBytes ?? 10 * 1024 * 1024;
  if (!Number.isInteger(maxBodyBytes) || maxBodyBytes < 0) {
    throw new FetchOptionError('maxBodyBytes', `needs an integer >= 0, got ${maxBodyBytes}`);
  }
  const timeoutMs = options.timeoutMs ?? 30_000;
  if (!(timeoutMs > 0))
    throw new FetchOptionError('timeoutMs', `needs a number > 0 (or Infinity), got ${timeoutMs}`);
  const maxRedirects = options.maxRedirects ?? 5;
  if (!Number.isInteger(maxRedirects) || maxRedirects < 0) {
    throw new FetchOptionError('maxRedirects', `needs an integer >= 0, got ${maxRedirects}`);
  }
  const maxConnectionsPerHost = options.maxConnectionsPerHost ?? 16;
  if (!Number.isInteger(maxConnectionsPerHost) || maxConnectionsPerHost < 1) {
    throw new FetchOptionError(
      'maxConnectionsPerHost',
      `needs an integer >= 1, got ${maxConnectionsPerHost}`,
    );
  }
  const clock = options.clock ?? systemClock;
  const logger = options.logger ?? noopLogger;
  const limiter =
    options.limiter ?? (options.rate && createTokenBucket({ ...options.rate, clock: options.clock }));
  const waitForToken = options.rate?.wait ?? true;
  // The owned Agent is built on the first request, so that creating a fetch does not load undici.
  let ownedAgent: Agent | undefined;
  let closed = false;
  function dispatcher(): Dispatcher {
    if (options.dispatcher) return options.dispatcher;
    if (!ownedAgent) {
      ownedAgent = createCheckedAgent({
        policy,
        resolve: options.resolve,
        agent: { connections: maxConnectionsPerHost },
      });
      // Closed before its first request: refuse it as a closed Agent does (closed Agents end destroyed).
      if (closed) void ownedAgent.destroy();
    }
    return ownedAgent;
  }
  async function close(): Promise<void> {
    closed = true;
    await ownedAgent?.close();
  }

  function takeToken(limiter: RateLimiter, host: string, signal: AbortSignal): Promise<void> | undefined {
    if (waitForToken) return limiter.acquire(host, signal);
    const decision = limiter.tryAcquire(host);
    if (!decision.acquired) throw new FetchRateLimitedError(host, decision.retryAfterMs);
    return undefined;
  }

  // undici hands a finished response's socket back to its pool one loop turn later (setImmediate); a
  // request sent before that finds the socket busy and opens a second one. So a request that starts in
  // the turn a response ended waits that turn first, and sequential requests keep one socket.
  let socketReturning: ReturnType<typeof setImmediate> | undefined;
  const onResponseComplete = () => {
    socketReturning ??= setImmediate(() => {
      socketReturning = undefined;
    });
  };

  function send(host: string, url: URL, init: RequestInit, signal: AbortSignal): Promise<Response> {
    const breaker = options.breakerFor?.(host);
    if (!breaker) return undici().fetch(url, init);
    return sendThroughBreaker(breaker, url, init, signal);
  }

  async function sendThroughBreaker(
    breaker: Policy,
    url: URL,
    init: RequestInit,
    signal: AbortSignal,
  ): Promise<Response> {
    let dropped: Response | undefined; // a 5xx of an earlier attempt (the policy retries): cancel its body
    try {
      return await breaker.execute(async (context) => {
        await dropped?.body?.cancel().catch(() => {});
        // The breaker's own signal (its timeout) may cancel the request until the headers are in.
        const linked = childAbortController(signal);
        const onBreakerAbort = () => linked.controller.abort(context.signal.reason);
        context.signal.addEventListener('abort', onBreakerAbort, { once: true });
        try {
          const response = await undici().fetch(url, { ...init, signal: linked.signal });
          if (response.status >= 500) {
            dropped = response;
            throw new ServerErrorResponse(response, clock.now());
          }
          return response;
        } finally {
          context.signal.removeEventListener('abort', onBreakerAbort);
        }
      }, signal);
    } catch (error) {
      if (error instanceof ServerErrorResponse) return error.response;
      await dropped?.body?.cancel().catch(() => {});
      throw error;
    }
  }

  async function restrictedFetch(
    input: string | URL | RequestLike,
    init: RequestInit = {},
  ): Promise<Response> {
    const merged = mergeInput(input, init);
    let url = parseUrl(merged.url);
    const span = startFetchSpan(options.tracer, (merged.init.method ?? 'GET').toUpperCase(), url);
    const child = childAbortController(merged.init.signal ?? undefined);
    if (child.signal.aborted) {
      span.fail(child.signal.reason);
      span.end();
      child.dispose();
      child.signal.throwIfAborted();
    }
    let timer: unknown;
    const done = () => {
      if (timer !== undefined) clock.clearTimeout(timer);
      child.dispose();
      span.end();
    };
    if (timeoutMs !== Number.POSITIVE_INFINITY) {
      const href = url.href;
      timer = clock.setTimeout(() => {
        const error = new FetchTimeoutError(timeoutMs, href);
        span.fail(error);
        child.controller.abort(error);
      }, timeoutMs);
    }
    const requestInit: RequestInit = { ...merged.init, redirect: 'manual', signal: child.signal };
    let redirected = false;
    try {
      for (let hop = 0; ; hop++) {
        const host = policy.checkUrl(url);
        if (limiter) await takeToken(limiter, host, child.signal);
        if (socketReturning) await new Promise((resolve) => setImmediate(resolve));
        const href = url.href;
        const tap = createResponseTap(dispatcher(), maxBodyBytes, {
          // Aborting drops the connection instead of reading the rest.
          onTooLarge: () => {
            const error = new FetchBodyTooLargeError(maxBodyBytes, href);
            span.fail(error);
            child.controller.abort(error);
          },
          onComplete: onResponseComplete,
        });
        requestInit.dispatcher = tap;
        const response = await send(host, url, requestInit, child.signal);
        const location = response.headers.get('location');
        if (!REDIRECTS.has(response.status) || location === null || merged.init.redirect === 'manual') {
          span.response(response.status, hop);
          return finish(response, tap, url, redirected, child.controller, done, span);
        }
        await response.body?.cancel();
        if (merged.init.redirect === 'error')
          throw new TypeError(`fetch: ${url.href} redirects, and redirect is 'error'`);
        const next = parseUrl(location, url);
        if (hop >= maxRedirects) throw new FetchTooManyRedirectsError(maxRedirects, next.href);
        followRedirect(requestInit, response.status, url, next);
        logger.debug({ from: url.href, to: next.href, status: response.status }, 'following redirect');
        url = next;
        redirected = true;
      }
    } catch (error) {
      const reason = unwrap(error, child.signal);
      span.fail(reason);
      done();
      if (isOrdoError(reason)) logger.warn({ url: url.href, code: reason.code }, 'fetch refused');
      throw reason;
    }
  }

  /**
   * Hands the final response to the caller. When the tap counted its body against the cap (the usual
   * case), it is undici's own response and the request is done when the tap says the body is in;
   * otherwise (a content-encoded body, counted after decoding, or a redirect returned as is) the body is
   * wrapped in a counting stream.
   */
  function finish(
    response: Response,
    tap: ResponseTap,
    url: URL,
    redirected: boolean,
    controller: AbortController,
    done: () => void,
    span: FetchSpanHandle,
  ): Response {
    if (!tap.counted) return limitBody(response, url, redirected, controller, done, span);
    tap.whenSettled(done);
    // The hops were followed by hand: say so as a followed fetch would (its url is already the last hop).
    if (redirected) Object.defineProperty(response, 'redirected', { value: true });
    return response;
  }

  /** Wraps a body whose size the tap could not count in a stream that counts it as it is read. */
  function limitBody(
    response: Response,
    url: URL,
    redirected: boolean,
    controller: AbortController,
    done: () => void,
    span: FetchSpanHandle,
  ): Response {
    const source = response.body;
    let body: ReadableStream<Uint8Array> | null = null;
    if (source === null) done();
    else {
      const reader = source.getReader();
      let received = 0;
      body = new ReadableStream<Uint8Array>({
        async pull(stream) {
          try {
            const { done: finished, value } = await reader.read();
            if (finished) {
              done();
              stream.close();
              return;
            }
            received += value.byteLength;
            if (received > maxBodyBytes) {
              const error = new FetchBodyTooLargeError(maxBodyBytes, url.href);
              controller.abort(error); // drops the connection instead of reading the rest
              span.fail(error);
              done();
              stream.error(error);
              return;
            }
            stream.enqueue(value);
          } catch (error) {
            const reason = unwrap(error, controller.signal);
            span.fail(reason);
            done();
            stream.error(reason);
          }
        },
        cancel(reason) {
          done();
          return reader.cancel(reason);
        },
      });
    }
    const init = { status: response.status, statusText: response.statusText, headers: response.headers };
    const limited = new (undici().Response)(body, init);
    Object.defineProperties(limited, { url: { value: response.url }, redirected: { value: redirected } });
    return limited;
  }

  return Object.assign(restrictedFetch, { close, [Symbol.asyncDispose]: close });
}

/** Whether the policy lets `hostname` reach `address`. */
function passes(policy: HostPolicy, hostname: string, address: string): boolean {
  try {
    policy.checkAddress(hostname, address);
    return true;
  } catch {
    return false;
  }
}

/**
 * Carries a 5xx response through a breaker as a failure, to be returned to the caller afterwards. A retry
 * policy reads its `status` and its `retryAfterMs` (the answer's `Retry-After`).
 */
class ServerErrorResponse extends Error {
  readonly response: Response;
  readonly status: number;
  readonly retryAfterMs: number | undefined;
  constructor(response: Response, nowMs: number) {
    super(`HTTP ${response.status}`);
    this.response = response;
    this.status = response.status;
    this.retryAfterMs = parseRetryAfter(response.headers.get('retry-after'), nowMs);
  }
}

function mergeInput(
  input: string | URL | RequestLike,
  init: RequestInit,
): { url: string; init: RequestInit } {
  if (typeof input === 'string' || input instanceof URL) return { url: String(input), init };
  const fromRequest: RequestInit = {};
  if (input.method !== undefined) fromRequest.method = input.method;
  if (input.headers !== undefined) fromRequest.headers = [...input.headers];
  if (input.signal !== undefined) fromRequest.signal = input.signal;
  if (input.body) Object.assign(fromRequest, { body: input.body, duplex: 'half' });
  return { url: input.url, init: { ...fromRequest, ...init } };
}

function parseUrl(text: string, base?: URL): URL {
  try {
    return new URL(text, base);
  } catch {
    throw new FetchUrlNotAllowedError(text, 'it is not a valid URL');
  }
}

/** Rewrites the request for the next hop as fetch does: 303 (and POST on 301/302) becomes a bodiless GET. */
function followRedirect(init: RequestInit, status: number, from: URL, to: URL): void {
  const method = (init.method ?? 'GET').toUpperCase();
  const headers = new (undici().Headers)(init.headers);
  init.headers = headers;
  if (status === 303 ? method !== 'HEAD' : (status === 301 || status === 302) && method === 'POST') {
    init.method = 'GET';
    init.body = null;
    for (const name of [
      'content-type',
      'content-length',
      'content-encoding',
      'content-language',
      'content-location',
    ]) {
      headers.delete(name);
    }
  }
  if (from.origin !== to.origin) {
    for (const name of ['authorization', 'cookie', 'proxy-authorization']) headers.delete(name);
  }
}

/** The error to surface: our abort reason if we aborted, the ordo error undici wrapped, or the error itself. */
function unwrap(error: unknown, signal: AbortSignal): unknown {
  if (signal.aborted && isOrdoError(signal.reason)) return signal.reason;
  if (error instanceof TypeError && isOrdoError(error.cause)) return error.cause;
  return error;
}
