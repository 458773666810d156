/**
 * The delay an error asks for before the next try, in ms: its own `retryAfterMs` (a `BREAKER_OPEN`, a
 * `FETCH_RATE_LIMITED`, a 429/503 answer with `Retry-After` surfaced by the restricted fetch) or the one in
 * its `details`. `undefined` when it names none or the value is not a finite number >= 0.
 */
export function retryAfterOf(error: unknown): number | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const own = (error as { retryAfterMs?: unknown }).retryAfterMs;
  const value = own ?? (error as { details?: { retryAfterMs?: unknown } }).details?.retryAfterMs;
  return typeof value === 'number' && Number.isFinite(value) && value >= 0 ? value : undefined;
}
