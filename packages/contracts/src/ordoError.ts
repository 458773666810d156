/** The brand that marks ordo errors, shared across duplicate installs through the global symbol registry. */
const BRAND: unique symbol = Symbol.for('@ordo/error') as never;

/** Options for {@link OrdoError}. */
export interface OrdoErrorOptions {
  /** The stable code; subclasses set their own and ignore this. @default 'ORDO_ERROR' */
  code?: string | undefined;
  /** The error that led to this one. */
  cause?: unknown;
  /** Facts about the failure a caller can act on (a path, a retry delay); must be JSON-serializable. */
  details?: Readonly<Record<string, unknown>> | undefined;
}

/** The JSON form of an {@link OrdoError}, as `toJSON()` returns it. */
export interface SerializedError {
  name: string;
  message: string;
  code?: string;
  details?: Readonly<Record<string, unknown>>;
  cause?: SerializedError | unknown;
}

const MAX_CAUSE_DEPTH = 8;

/**
 * The base of every error ordo throws. Each has a stable `code` (a literal type on subclasses, e.g.
 * `SPOOL_CONFLICT`) to branch on, a message that says what happened and what to do, an optional `cause`
 * and `details`.
 *
 * When to use: branch on `code` (or {@link isOrdoError} with a code), never on the message text.
 *
 * @example
 * ```ts
 * class QueueFullError extends OrdoError {
 *   override readonly code = 'QUEUE_FULL' as const;
 * }
 * try { … } catch (e) {
 *   if (isOrdoError(e, 'QUEUE_FULL')) retryLater(e.details?.retryAfterMs);
 * }
 * ```
 */
export class OrdoError extends Error {
  /** The stable, machine-readable code. */
  readonly code: string;
  /** Facts about the failure a caller can act on. */
  readonly details: Readonly<Record<string, unknown>> | undefined;
  readonly [BRAND] = true;

  constructor(message: string, options: OrdoErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = options.code ?? 'ORDO_ERROR';
    this.details = options.details;
  }

  /** A plain object with name, code, message, details and the serialized `cause` chain (no stack). */
  toJSON(): SerializedError {
    return serializeError(this, 0, new Set());
  }
}

type ErrorLike = Error & { code?: unknown; details?: Readonly<Record<string, unknown>> | undefined };

function serializeError(error: ErrorLike, depth: number, seen: Set<unknown>): SerializedError {
  seen.add(error);
  const out: SerializedError = { name: error.name, message: error.message };
  if (typeof error.code === 'string') out.code = error.code;
  if (error.details !== undefined) out.details = error.details;
  if (error.cause !== undefined) out.cause = serializeCause(error.cause, depth + 1, seen);
  return out;
}

function serializeCause(cause: unknown, depth: number, seen: Set<unknown>): unknown {
  if (!(cause instanceof Error) && !isOrdoError(cause)) return jsonSafe(cause);
  if (seen.has(cause) || depth > MAX_CAUSE_DEPTH)
    return { name: 'Error', message: '[cause chain truncated]' };
  return serializeError(cause as ErrorLike, depth, seen);
}

function jsonSafe(value: unknown): unknown {
  if (value === null || ['string', 'number', 'boolean'].includes(typeof value)) return value;
  try {
    return JSON.parse(JSON.stringify(value)) as unknown;
  } catch {
    return String(value);
  }
}

/**
 * Whether `value` is an ordo error (from any installed copy of `@ordo/contracts`), optionally with the
 * given `code`.
 */
export function isOrdoError<C extends string>(value: unknown, code?: C): value is OrdoError & { code: C } {
  if (typeof value !== 'object' || value === null || (value as Record<symbol, unknown>)[BRAND] !== true) {
    return false;
  }
  return code === undefined || (value as OrdoError).code === code;
}
