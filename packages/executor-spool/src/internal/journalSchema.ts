import { SpoolError, SpoolErrorCode } from '../errors.js';
import { normalizeSpoolPath } from './paths.js';

/*
 * Strict checks of what recovery reads from a journal, after its MAC: exact keys, exact types, and every
 * path a plain relative path inside the root (no `..`, no absolute path, not under `.ordo-spool/`).
 */

/** A journal recovery refuses to replay, and why. */
export interface UntrustedJournal {
  path: string;
  why: string;
}

/** Thrown inside a journal check: the journal is left in place and reported. */
export class JournalRefused extends Error {}

/** Refuses the journal being checked. */
export function refuse(why: string): never {
  throw new JournalRefused(why);
}

/** `value` as an object with exactly the `required` keys and any of the `optional` ones. */
export function record(
  value: unknown,
  what: string,
  required: readonly string[],
  optional: readonly string[] = [],
): Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value))
    return refuse(`${what} is not an object`);
  const keys = Object.keys(value);
  for (const key of required) if (!Object.hasOwn(value, key)) refuse(`${what} lacks ${key}`);
  for (const key of keys)
    if (!required.includes(key) && !optional.includes(key))
      refuse(`${what} has an unknown key ${JSON.stringify(key)}`);
  return value as Record<string, unknown>;
}

/** `value` as a whole number in [min, max]. */
export function int(value: unknown, what: string, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max)
    return refuse(`${what} is not a whole number in [${min}, ${max}]`);
  return value;
}

/** `value` as a string. */
export function str(value: unknown, what: string): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > 4096)
    return refuse(`${what} is not a string`);
  return value;
}

/** `value` as a normalized spool path: relative, inside the root, not under the journal directory. */
export function relPath(value: unknown, what: string): string {
  const text = str(value, what);
  let normal: string;
  try {
    normal = normalizeSpoolPath(text);
  } catch {
    return refuse(`${what} ${JSON.stringify(text)} is not a path inside the root`);
  }
  if (normal !== text) refuse(`${what} ${JSON.stringify(text)} is not in normal form`);
  return normal;
}

/** `SPOOL_JOURNAL_UNTRUSTED` naming every journal recovery left in place. */
export function untrustedError(root: string, journals: readonly UntrustedJournal[]): SpoolError {
  const list = journals.map((j) => `${j.path} (${j.why})`).join('; ');
  return new SpoolError(
    SpoolErrorCode.JOURNAL_UNTRUSTED,
    `Recovery under ${root} found ${journals.length === 1 ? 'a journal' : 'journals'} it did not write and left ${journals.length === 1 ? 'it' : 'them'} in place, replaying nothing: ${list}. A spool of this user signs its journals with the key in its key directory; if you trust the tree, inspect and remove ${journals.length === 1 ? 'that file' : 'those files'} (and any backups beside them), then create the spool again.`,
    { details: { root, journals: journals.map((j) => ({ ...j })) } },
  );
}
