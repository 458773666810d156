/**
 * The worker's side of trace propagation: a task whose payload carries a `traceparent` runs inside that
 * remote span context when this process can import `@opentelemetry/api`, so the spans the task makes (with
 * the process's own tracer provider and a context manager, e.g. set up by `--import` in `workerEnv`'s
 * `NODE_OPTIONS`) are children of the runtime's task span. Without a `traceparent` nothing is imported;
 * without the package, or with a malformed `traceparent`, the task runs untraced.
 */
import { parseTraceparent } from './telemetryContext.js';

type OtelApi = typeof import('@opentelemetry/api');

let api: Promise<OtelApi | undefined> | undefined;

/** `@opentelemetry/api` if this process can import it, loaded once. */
function loadApi(): Promise<OtelApi | undefined> {
  api ??= import('@opentelemetry/api').then(
    (module) => module,
    () => undefined,
  );
  return api;
}

/** Runs `fn` as a child of the span `traceparent` names, when there is one and OpenTelemetry is there. */
export async function withTraceparent<T>(traceparent: unknown, fn: () => Promise<T>): Promise<T> {
  if (traceparent === undefined) return fn();
  const parent = parseTraceparent(traceparent);
  if (parent === undefined) return fn();
  const otel = await loadApi();
  if (otel === undefined) return fn();
  const remote = otel.trace.setSpanContext(otel.ROOT_CONTEXT, { ...parent, isRemote: true });
  return otel.context.with(remote, fn);
}

/** `TRACEPARENT` for a shell task's environment (the convention of OTel-aware CLIs), when it is valid. */
export function traceparentEnv(traceparent: unknown): { TRACEPARENT?: string } {
  return parseTraceparent(traceparent) === undefined ? {} : { TRACEPARENT: traceparent as string };
}
