import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Clock } from '@ordo/contracts';
import type { Admission, HealthHandler } from '@ordo/governance';
import type { FeatureMetricsJson } from '@ordo/launcher';
import type { EventHub, LiveEvent } from './internal/eventHub.js';
import { STATUS_PAGE_HTML } from './internal/statusPage.js';

/** How often an open event stream gets a comment line, so proxies and browsers keep it open. */
const KEEP_ALIVE_MS = 15_000;

/** What the runtime's HTTP handler serves. */
export interface HttpHandlerParts {
  /** The Prometheus text exposition. */
  metrics(): Promise<string>;
  metricsContentType: string;
  health: HealthHandler;
  status(): FeatureMetricsJson | undefined;
  /** The status recorded in the state file, for when this runtime has run nothing yet. */
  storedStatus(): Promise<FeatureMetricsJson | undefined>;
  admission: Admission;
  /** The runtime's events, for `/events` and the page. */
  events: EventHub;
  clock: Clock;
  next: ((req: IncomingMessage, res: ServerResponse) => void) | undefined;
}

/**
 * A `node:http` request listener: `GET /` (the live status page), `/events` (the runtime's events as
 * server-sent events: the latest feature's so far, then each as it happens), `/metrics` (Prometheus text),
 * `/health` (governance's health report, 503 under memory pressure), `/status` (the current or last
 * feature's metrics as JSON, 404 before any); every other request passes admission (503/429 with
 * `Retry-After`) and then reaches `next`, or gets a 404.
 */
export function createHttpHandler(
  parts: HttpHandlerParts,
): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    const route = new URL(req.url ?? '/', 'http://localhost').pathname;
    if (route === '/' && (req.method === 'GET' || req.method === 'HEAD')) {
      res.writeHead(200, {
        'content-type': 'text/html; charset=utf-8',
        'content-length': Buffer.byteLength(STATUS_PAGE_HTML),
        // The page's script and style are inline and it talks only to this origin.
        'content-security-policy':
          "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src 'self' data:",
        'x-content-type-options': 'nosniff',
        'cache-control': 'no-cache',
      });
      res.end(req.method === 'HEAD' ? undefined : STATUS_PAGE_HTML);
    } else if (route === '/events' && req.method === 'GET') {
      streamEvents(parts, req, res);
    } else if (route === '/metrics') {
      parts.metrics().then(
        (text) => send(res, 200, parts.metricsContentType, text),
        (error: unknown) => json(res, 500, { error: `metrics failed: ${(error as Error).message}` }),
      );
    } else if (route === '/health') {
      parts.health(req, res);
    } else if (route === '/status') {
      const status = parts.status();
      if (status !== undefined) json(res, 200, status);
      else {
        parts.storedStatus().then(
          (stored) => {
            if (stored === undefined) json(res, 404, { error: 'No feature has run yet in this workspace.' });
            else json(res, 200, stored);
          },
          (error: unknown) =>
            json(res, 500, { error: `reading the state file failed: ${(error as Error).message}` }),
        );
      }
    } else if (parts.admission.handle(req, res)) {
      if (parts.next) parts.next(req, res);
      else json(res, 404, { error: `No route for ${route}.` });
    }
  };
}

function json(res: ServerResponse, status: number, body: unknown): void {
  send(res, status, 'application/json; charset=utf-8', JSON.stringify(body));
}

function send(res: ServerResponse, status: number, type: string, body: string): void {
  res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

/** Past this many bytes waiting in a stream's buffer, the client is too slow: the stream is ended. */
const MAX_BUFFERED_BYTES = 4 * 1024 * 1024;
/** While the snapshot is sent, writing pauses for `drain` above this many buffered bytes. */
const SNAPSHOT_HIGH_WATER = 256 * 1024;

/**
 * Serves the hub as server-sent events: one `event: feature|memory` message each, JSON in `data`. The
 * latest run's events go first, paced by the socket (`drain`), then each new one; a client that stops
 * reading (more than 4 MiB of live events waiting) is cut off; past 64 open streams a new one gets 503.
 */
function streamEvents(parts: HttpHandlerParts, req: IncomingMessage, res: ServerResponse): void {
  let timer: unknown;
  let ended = false;
  let live = false;
  const queued: LiveEvent[] = [];
  const stop = () => {
    if (ended) return;
    ended = true;
    unsubscribe?.();
    if (timer !== undefined) parts.clock.clearTimeout(timer);
  };
  const format = (event: LiveEvent) =>
    `event: ${event.kind}\ndata: ${JSON.stringify(event.kind === 'feature' ? event.event : event)}\n\n`;
  const writeLive = (text: string) => {
    if (ended) return;
    res.write(text);
    if (res.writableLength > MAX_BUFFERED_BYTES) {
      stop();
      res.destroy();
    }
  };
  const unsubscribe = parts.events.subscribe(
    (event) => {
      if (live) writeLive(format(event));
      else queued.push(event);
    },
    () => {
      stop();
      res.end();
    },
  );
  if (unsubscribe === undefined) {
    json(res, 503, { error: 'Too many open event streams; close one and try again.' });
    return;
  }
  // Taken in the same tick as the subscription: no event is missed or sent twice.
  const snapshot = parts.events.snapshot();
  req.on('close', stop);
  res.on('close', stop);
  res.on('error', stop);
  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache',
    connection: 'keep-alive',
    'x-content-type-options': 'nosniff',
  });
  res.write('retry: 2000\n\n');
  void (async () => {
    for (const event of snapshot) {
      if (ended) return;
      res.write(format(event));
      if (res.writableLength > SNAPSHOT_HIGH_WATER) await drained(res);
    }
    if (ended) return;
    for (const event of queued.splice(0)) writeLive(format(event));
    live = true;
    const keepAlive = () => {
      writeLive(': keep-alive\n\n');
      if (!ended) timer = parts.clock.setTimeout(keepAlive, KEEP_ALIVE_MS, { unref: true });
    };
    timer = parts.clock.setTimeout(keepAlive, KEEP_ALIVE_MS, { unref: true });
  })();
}

/** Resolves when `res` can take more, or is closed. */
function drained(res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}
