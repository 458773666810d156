/**
 * The wait a `Retry-After` header asks for, in ms: delay-seconds (`120`) or an HTTP date, counted from
 * `nowMs`. `undefined` when the header is missing or unreadable; never negative.
 */
export function parseRetryAfter(header: string | null, nowMs: number): number | undefined {
  if (header === null) return undefined;
  const text = header.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  if (!/^[A-Za-z]{3}, /.test(text)) return undefined; // an HTTP date starts with its day: `Wed, 21 Oct …`
  const at = Date.parse(text);
  return Number.isNaN(at) ? undefined : Math.max(0, at - nowMs);
}
