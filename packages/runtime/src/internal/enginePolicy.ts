import { type Clock, isOrdoError, type Logger } from '@ordo/contracts';
import {
  type CircuitBreaker,
  createCircuitBreaker,
  type RetryPolicy,
  retry,
  type WrappedPolicy,
  wrap,
} from '@ordo/governance';

/** The policy the runtime's container launcher runs its Engine API calls through, and its breaker. */
export interface EnginePolicy {
  /** `wrap(retry, breaker)`: pass it as the launcher's `policy`. */
  readonly policy: WrappedPolicy;
  /** The `docker-engine` breaker, for the metrics and /health. */
  readonly breaker: CircuitBreaker;
  readonly retry: RetryPolicy;
}

/** Transport failures that happen before a request is sent: repeating it cannot do anything twice. */
const NOT_SENT = new Set(['ECONNREFUSED', 'ENOENT', 'EAI_AGAIN', 'ENOTFOUND', 'UND_ERR_CONNECT_TIMEOUT']);

const endpointOf = (error: unknown): string =>
  String((error as { details?: { endpoint?: unknown } }).details?.endpoint ?? '');
const statusOf = (error: unknown): number =>
  Number((error as { details?: { status?: unknown } }).details?.status ?? 0);

/** The engine is down or failing: it did not answer, or answered 5xx. A 404 or 409 is an answer. */
export function isEngineFailure(error: unknown): boolean {
  if (isOrdoError(error, 'LAUNCHER_ENGINE_UNAVAILABLE')) return true;
  return isOrdoError(error, 'LAUNCHER_ENGINE_ERROR') && statusOf(error) >= 500;
}

/**
 * Whether an Engine API failure is safe to retry: any failure of a read (`GET`), and for a write only a
 * transport failure before the request went out (a refused connection, a missing socket). A write that
 * reached the engine is never repeated: a `POST /containers/create` may have created the container.
 */
export function isRetryableEngineError(error: unknown): boolean {
  if (!isEngineFailure(error)) return false;
  if (endpointOf(error).startsWith('GET ')) return true;
  const cause = (error as { cause?: { code?: unknown } }).cause;
  return isOrdoError(error, 'LAUNCHER_ENGINE_UNAVAILABLE') && NOT_SENT.has(String(cause?.code ?? ''));
}

/**
 * The facade's Engine API policy: a retry (3 attempts, full jitter from 200 ms, capped at 2 s, safe
 * failures only) around a `docker-engine` circuit breaker that counts only engine failures. While the
 * breaker is open calls fail at once with `BREAKER_OPEN` (not an engine failure, so not retried).
 */
export function createEnginePolicy(context: { clock?: Clock | undefined; logger: Logger }): EnginePolicy {
  const breaker = createCircuitBreaker({
    name: 'docker-engine',
    isFailure: isEngineFailure,
    clock: context.clock,
    logger: context.logger,
  });
  const retrying = retry({
    name: 'docker-engine',
    maxAttempts: 3,
    retryOn: isRetryableEngineError,
    backoff: { initialMs: 200, maxMs: 2_000 },
    clock: context.clock,
  });
  return { policy: wrap(retrying, breaker), breaker, retry: retrying };
}
