/**
 * W3C Trace Context (`traceparent`, version 00) to and from an OpenTelemetry span context, without
 * `@opentelemetry/api`: the runtime puts a task span's context in the task payload, the worker reads it.
 */

/** The fields of a span context a `traceparent` carries. */
export interface TraceparentContext {
  /** 32 lowercase hex digits, not all zero. */
  traceId: string;
  /** 16 lowercase hex digits, not all zero. */
  spanId: string;
  /** The trace flags byte (bit 0: sampled). */
  traceFlags: number;
}

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;
const ZERO_TRACE = '0'.repeat(32);
const ZERO_SPAN = '0'.repeat(16);

/** `00-<trace id>-<span id>-<flags>` of a valid span context, else `undefined` (a no-op tracer's spans). */
export function formatTraceparent(spanContext: TraceparentContext): string | undefined {
  const { traceId, spanId, traceFlags } = spanContext;
  if (!/^[0-9a-f]{32}$/.test(traceId) || traceId === ZERO_TRACE) return undefined;
  if (!/^[0-9a-f]{16}$/.test(spanId) || spanId === ZERO_SPAN) return undefined;
  if (!(Number.isInteger(traceFlags) && traceFlags >= 0 && traceFlags <= 0xff)) return undefined;
  return `00-${traceId}-${spanId}-${traceFlags.toString(16).padStart(2, '0')}`;
}

/**
 * The span context of a version-00 `traceparent`, or `undefined` for anything else (wrong shape, upper
 * case, all-zero ids, a longer string): a worker given a bad one runs the task untraced.
 */
export function parseTraceparent(value: unknown): TraceparentContext | undefined {
  if (typeof value !== 'string' || value.length !== 55) return undefined;
  const match = TRACEPARENT.exec(value);
  if (match === null) return undefined;
  const [, traceId, spanId, flags] = match as unknown as [string, string, string, string];
  if (traceId === ZERO_TRACE || spanId === ZERO_SPAN) return undefined;
  return { traceId, spanId, traceFlags: Number.parseInt(flags, 16) };
}
