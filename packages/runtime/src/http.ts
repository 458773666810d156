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

/** Serves the hub as server-sent events: one `event: feature|memory` message each, JSON in `data`. */
function streamEvents(parts: HttpHandlerParts, req: IncomingMessage, res: ServerResponse): void {
  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache',
    connection: 'keep-alive',
    'x-content-type-options': 'nosniff',
  });
  const write = (event: LiveEvent) => {
    const data = JSON.stringify(event.kind === 'feature' ? event.event : event);
    res.write(`event: ${event.kind}\ndata: ${data}\n\n`);
  };
  res.write('retry: 2000\n\n');
  for (const event of parts.events.snapshot()) write(event);
  const unsubscribe = parts.events.subscribe(write);
  let timer = parts.clock.setTimeout(
    function keepAlive() {
      res.write(': keep-alive\n\n');
      timer = parts.clock.setTimeout(keepAlive, KEEP_ALIVE_MS, { unref: true });
    },
    KEEP_ALIVE_MS,
    { unref: true },
  );
  const stop = () => {
    unsubscribe();
    parts.clock.clearTimeout(timer);
  };
  req.on('close', stop);
  res.on('error', stop);
}
