import { MetricsInputError } from '../errors.js';

/**
 * How one field of a metrics object is kept in memory and in JSON:
 * - `string`: a string, the same in both;
 * - `count`: an integer >= 0;
 * - `ms`: a finite number >= 0 (a duration, may be fractional);
 * - `time`: integer epoch ms in memory, an ISO 8601 string in JSON;
 * - a list of strings: one of those literals.
 */
export type FieldKind = 'string' | 'count' | 'ms' | 'time' | readonly string[];

/** A field's kind, whether it may be `null`, and whether it may be left out (then it is not in the JSON). */
export interface Field {
  readonly kind: FieldKind;
  readonly nullable: boolean;
  readonly optional?: boolean | undefined;
}

export const field = (kind: FieldKind, nullable = false, optional = false): Field => ({
  kind,
  nullable,
  ...(optional && { optional }),
});

/** A record of field descriptors. */
export type Fields = Readonly<Record<string, Field>>;

/** Copies exactly the described fields of `data`, in the descriptor's order. */
export function pick<T>(fields: Fields, data: T): T {
  const out: Record<string, unknown> = {};
  for (const [key, f] of Object.entries(fields)) {
    const value = (data as Record<string, unknown>)[key];
    if (value !== undefined || f.optional !== true) out[key] = value;
  }
  return out as T;
}

/** The JSON form of the described fields of `data` (times become ISO strings). */
export function encodeFields(fields: Fields, data: object): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, f] of Object.entries(fields)) {
    const value = (data as Record<string, unknown>)[key];
    if (value === undefined && f.optional === true) continue;
    out[key] = f.kind === 'time' && value !== null ? new Date(value as number).toISOString() : value;
  }
  return out;
}

/**
 * Reads the described fields from a JSON value, checking each; `what` names the object in errors
 * (`FeatureMetrics.workers[2]`).
 * @throws MetricsInputError when a field is missing or has the wrong type.
 */
export function decodeFields(fields: Fields, json: unknown, what: string): Record<string, unknown> {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw invalid(what, 'is not an object');
  }
  const source = json as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const [key, f] of Object.entries(fields)) {
    const value = source[key];
    if (value === undefined && f.optional === true) continue;
    if (value === null && f.nullable) {
      out[key] = null;
      continue;
    }
    out[key] = decodeValue(f.kind, value, `${what}.${key}`);
  }
  return out;
}

/** Reads an array of objects with `decode`, naming each element in errors. */
export function decodeArray<T>(json: unknown, what: string, decode: (item: unknown, what: string) => T): T[] {
  if (!Array.isArray(json)) throw invalid(what, 'is not an array');
  return json.map((item, i) => decode(item, `${what}[${i}]`));
}

function decodeValue(kind: FieldKind, value: unknown, what: string): unknown {
  if (Array.isArray(kind)) {
    if (typeof value === 'string' && kind.includes(value)) return value;
    throw invalid(what, `must be one of ${kind.join(', ')}, got ${JSON.stringify(value)}`);
  }
  switch (kind) {
    case 'string':
      if (typeof value === 'string') return value;
      break;
    case 'count':
      if (Number.isSafeInteger(value) && (value as number) >= 0) return value;
      break;
    case 'ms':
      if (typeof value === 'number' && Number.isFinite(value) && value >= 0) return value;
      break;
    case 'time': {
      const ms = typeof value === 'string' ? Date.parse(value) : Number.NaN;
      if (Number.isFinite(ms)) return ms;
      break;
    }
  }
  const expected = { string: 'a string', count: 'an integer >= 0', ms: 'a number >= 0', time: 'an ISO time' };
  throw invalid(what, `must be ${expected[kind as keyof typeof expected]}, got ${JSON.stringify(value)}`);
}

function invalid(what: string, problem: string): MetricsInputError {
  return new MetricsInputError(`${what} ${problem}. Pass what toJSON() produced.`, { field: what });
}
