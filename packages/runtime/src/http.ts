import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Admission, HealthHandler } from '@ordo/governance';
import type { FeatureMetricsJson } from '@ordo/launcher';

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
  next: ((req: IncomingMessage, res: ServerResponse) => void) | undefined;
}

/**
 * A `node:http` request listener: `GET /metrics` (Prometheus text), `/health` (governance's health
 * report, 503 under memory pressure), `/status` (the current or last feature's metrics as JSON, 404
 * before any); every other request passes admission (503/429 with `Retry-After`) and then reaches `next`,
 * or gets a 404.
 */
export function createHttpHandler(
  parts: HttpHandlerParts,
): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    const route = new URL(req.url ?? '/', 'http://localhost').pathname;
    if (route === '/metrics') {
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
