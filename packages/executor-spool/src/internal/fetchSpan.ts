/**
 * The span of one restricted fetch, on a host's OpenTelemetry tracer (structurally typed: this package
 * imports nothing of OpenTelemetry). Attribute names follow OpenTelemetry's HTTP client conventions. A
 * tracer that throws loses its span, never the request.
 */
import { isOrdoError } from '@ordo/contracts';

/** Attribute values a span takes. */
export type FetchSpanAttributes = Record<string, string | number | boolean>;

/**
 * What the fetch uses of a span: an OpenTelemetry `Span` fits.
 */
export interface FetchSpan {
  setAttribute(key: string, value: string | number | boolean): unknown;
  setStatus(status: { code: number; message?: string }): unknown;
  end(): void;
}

/**
 * What the fetch uses of a tracer: an OpenTelemetry `Tracer` (`trace.getTracer(name)`) fits. Spans start
 * in the active context, so a fetch made inside a span (an ordo task's, for one) is its child.
 */
export interface FetchTracer {
  startSpan(name: string, options?: { kind?: number; attributes?: FetchSpanAttributes }): FetchSpan;
}

/** The calls the fetch makes on the span of one request; each does nothing without a tracer. */
export interface FetchSpanHandle {
  /** The final response's status (a 4xx or 5xx marks the span an error, as the conventions say). */
  response(status: number, redirects: number): void;
  /** The request failed: the error's code (or name) goes in `error.type`. */
  fail(error: unknown): void;
  /** Ends the span once, when the request is done (its body read, or it failed). */
  end(): void;
}

const SPAN_KIND_CLIENT = 2; // SpanKind.CLIENT
const STATUS_ERROR = 2; // SpanStatusCode.ERROR

const noSpan: FetchSpanHandle = { response() {}, fail() {}, end() {} };

/** The URL as the span shows it: without credentials (`user:password@` becomes `REDACTED:REDACTED@`). */
export function spanUrl(url: URL): string {
  if (url.username === '' && url.password === '') return url.href;
  const shown = new URL(url.href);
  shown.username = 'REDACTED';
  if (url.password !== '') shown.password = 'REDACTED';
  return shown.href;
}

/** Starts the span of a `method` request to `url`, or does nothing when `tracer` is undefined. */
export function startFetchSpan(tracer: FetchTracer | undefined, method: string, url: URL): FetchSpanHandle {
  if (tracer === undefined) return noSpan;
  let span: FetchSpan;
  try {
    const port = url.port !== '' ? Number(url.port) : url.protocol === 'https:' ? 443 : 80;
    span = tracer.startSpan(method, {
      kind: SPAN_KIND_CLIENT,
      attributes: {
        'http.request.method': method,
        'url.full': spanUrl(url),
        'server.address': url.hostname,
        'server.port': port,
      },
    });
  } catch {
    return noSpan;
  }
  let ended = false;
  const guard = (fn: () => void) => {
    if (ended) return;
    try {
      fn();
    } catch {
      // A span that throws loses its attributes, not the request.
    }
  };
  return {
    response(status, redirects) {
      guard(() => {
        span.setAttribute('http.response.status_code', status);
        if (redirects > 0) span.setAttribute('ordo.fetch.redirects', redirects);
        if (status >= 400) {
          span.setAttribute('error.type', String(status));
          span.setStatus({ code: STATUS_ERROR });
        }
      });
    },
    fail(error) {
      guard(() => {
        const type = isOrdoError(error) ? error.code : error instanceof Error ? error.name : 'Error';
        span.setAttribute('error.type', type);
        const message = error instanceof Error ? error.message : String(error);
        span.setStatus({ code: STATUS_ERROR, message });
      });
    },
    end() {
      guard(() => span.end());
      ended = true;
    },
  };
}
