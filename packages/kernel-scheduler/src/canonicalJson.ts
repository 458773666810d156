import { SchedulerError, SchedulerErrorCode } from './errors.js';

/** Why {@link canonicalJson} refused a value. */
export type UnserializableReason =
  | 'bigint'
  | 'non-finite-number'
  | 'cycle'
  | 'lone-surrogate'
  | 'threw'
  | 'too-deep';

const isWellFormed = (text: string): boolean =>
  (text as unknown as { isWellFormed(): boolean }).isWellFormed();

/** Nesting deeper than this is refused (`too-deep`) rather than overflowing the stack. */
const MAX_DEPTH = 1000;

/**
 * The RFC 8785 (JSON Canonicalization Scheme) text of `value`, with JSON.stringify's data model: `toJSON`
 * is called (with its key), functions, symbols and `undefined` are dropped from objects and become `null` in
 * arrays, `Number`/`String`/`Boolean` wrappers are unwrapped, only own enumerable string keys are seen (a
 * `Map` or a `Set` is `{}`). On top of that, RFC 8785: object keys sorted by UTF-16 code units, numbers as
 * ECMAScript `Number.prototype.toString` (`-0` is `0`), strings escaped as JSON.stringify does. A top-level
 * value that JSON drops (`undefined`, a function) is `null`.
 *
 * Throws `SCHEDULER_UNSERIALIZABLE` (with `details.path`, e.g. `$.items[2]`, and `details.reason`) for what
 * RFC 8785 cannot express: a BigInt, NaN or ±Infinity, a cycle, a string or key with a lone surrogate,
 * nesting deeper than 1000, or a `toJSON` or getter that throws (its error is the `cause`). JSON.stringify
 * would write `null` for NaN; RFC 8785 forbids it, so it is refused rather than silently changed.
 *
 * When to use: to reproduce a trace's `resultDigest` elsewhere: `sha256(utf8(canonicalJson(value)))` in hex.
 *
 * @example
 * ```ts
 * canonicalJson({ b: [1, undefined, () => 0], a: 1e21, c: -0 }); // '{"a":1e+21,"b":[1,null,null],"c":0}'
 * ```
 */
export function canonicalJson(value: unknown): string {
  // Primitives first: the common task result needs no bookkeeping.
  switch (typeof value) {
    case 'number':
      if (Number.isFinite(value)) return String(value);
      break;
    case 'string':
      if (isWellFormed(value)) return JSON.stringify(value);
      break;
    case 'boolean':
      return value ? 'true' : 'false';
    case 'undefined':
    case 'function':
    case 'symbol':
      return 'null';
    default:
      if (value === null) return 'null';
  }
  // The shared list is free unless a toJSON or getter calls canonicalJson again while it is in use.
  const reuse = !sharedBusy;
  const ancestors: object[] = reuse ? sharedAncestors : [];
  if (reuse) sharedBusy = true;
  try {
    return write(value, '', ancestors) ?? 'null';
  } catch (error) {
    if (error instanceof Refusal) throw refusalError(error);
    // A stack overflow despite MAX_DEPTH (deep toJSON chains), or a string too long to build.
    const deep = error instanceof RangeError && /call stack/i.test(error.message);
    throw refusalError(
      deep
        ? new Refusal('too-deep', 'is nested too deeply')
        : new Refusal('threw', 'could not be written', error),
    );
  } finally {
    if (reuse) {
      sharedAncestors.length = 0;
      sharedBusy = false;
    }
  }
}

const sharedAncestors: object[] = [];
let sharedBusy = false;

/** JSON text of (well-formed) object keys seen before: result objects of one run tend to share their keys. */
const keyTexts = new Map<string, string>();

function keyText(name: string): string {
  let text = keyTexts.get(name);
  if (text === undefined) {
    if (!isWellFormed(name)) throw new Refusal('lone-surrogate', 'has a key with a lone surrogate');
    text = JSON.stringify(name);
    if (keyTexts.size >= 4096) keyTexts.clear();
    keyTexts.set(name, text);
  }
  return text;
}

/**
 * Thrown inside the writer and turned into a {@link SchedulerError} once, at the top. `path` collects the
 * keys and indexes from the refused value up to the root while it travels out (nothing is tracked on the
 * way in).
 */
class Refusal {
  readonly path: (string | number)[] = [];
  constructor(
    readonly reason: UnserializableReason,
    readonly what: string,
    readonly cause?: unknown,
  ) {}
}

/** Adds the key or index a refusal passed through; other errors go up as they are. */
function via(error: unknown, key: string | number): unknown {
  if (error instanceof Refusal) error.path.push(key);
  return error;
}

function pathText(path: readonly (string | number)[]): string {
  let out = '$';
  for (const part of path) {
    out +=
      typeof part === 'number'
        ? `[${part}]`
        : /^[A-Za-z_$][\w$]*$/.test(part)
          ? `.${part}`
          : `[${JSON.stringify(part)}]`;
  }
  return out;
}

function refusalError(refusal: Refusal): SchedulerError {
  const at = pathText([...refusal.path].reverse());
  const details = { path: at, reason: refusal.reason };
  return new SchedulerError(
    SchedulerErrorCode.UNSERIALIZABLE,
    `The value at ${at} ${refusal.what}, which RFC 8785 JSON cannot express. Return plain JSON data (e.g. a BigInt as a string, no cycles).`,
    refusal.cause === undefined ? { details } : { details, cause: refusal.cause },
  );
}

function callToJSON(holder: unknown, key: string | number): unknown {
  const toJSON = (holder as { toJSON?: unknown }).toJSON;
  if (typeof toJSON !== 'function') return holder;
  try {
    return toJSON.call(holder, String(key));
  } catch (error) {
    throw new Refusal('threw', 'has a toJSON() that threw', error);
  }
}

/** Up to this many keys are sorted by insertion; more go to Array.prototype.sort. */
const SMALL = 16;

/** Sorts keys by UTF-16 code units (RFC 8785 section 3.2.3): what `<` on strings and the default sort compare. */
function sortKeys(keys: string[]): void {
  if (keys.length > SMALL) {
    keys.sort();
    return;
  }
  for (let i = 1; i < keys.length; i++) {
    const key = keys[i] as string;
    let j = i - 1;
    while (j >= 0 && (keys[j] as string) > key) {
      keys[j + 1] = keys[j] as string;
      j--;
    }
    keys[j + 1] = key;
  }
}

/** Writes one value; `undefined` means "dropped" (`null` in an array, no key in an object). */
function write(input: unknown, key: string | number, ancestors: object[]): string | undefined {
  let value = input;
  if ((typeof value === 'object' && value !== null) || typeof value === 'bigint') {
    value = callToJSON(value, key);
  }
  switch (typeof value) {
    case 'string':
      if (!isWellFormed(value)) throw new Refusal('lone-surrogate', 'is a string with a lone surrogate');
      return JSON.stringify(value);
    case 'number':
      if (!Number.isFinite(value)) throw new Refusal('non-finite-number', `is ${String(value)}`);
      // ECMAScript Number::toString, which RFC 8785 section 3.2.2.3 adopts; -0 prints as 0.
      return String(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'bigint':
      throw new Refusal('bigint', 'is a BigInt');
    case 'object':
      break;
    default:
      return undefined; // undefined, a function, a symbol
  }
  if (value === null) return 'null';
  const isArray = Array.isArray(value);
  if (!isArray) {
    const proto: unknown = Object.getPrototypeOf(value);
    if (
      proto !== Object.prototype &&
      proto !== null &&
      (value instanceof Number || value instanceof String || value instanceof Boolean)
    ) {
      return write(value.valueOf(), key, ancestors);
    }
  }
  if (ancestors.includes(value)) throw new Refusal('cycle', 'refers back to an enclosing value (a cycle)');
  if (ancestors.length >= MAX_DEPTH) throw new Refusal('too-deep', `is nested deeper than ${MAX_DEPTH}`);
  ancestors.push(value);
  let out: string;
  if (isArray) {
    const array = value as unknown[];
    out = '[';
    for (let i = 0; i < array.length; i++) {
      let text: string | undefined;
      try {
        text = write(array[i], i, ancestors);
      } catch (error) {
        throw via(error, i);
      }
      out += i > 0 ? `,${text ?? 'null'}` : (text ?? 'null');
    }
    out += ']';
  } else {
    const object = value as Record<string, unknown>;
    const keys = Object.keys(object);
    sortKeys(keys);
    out = '{';
    for (let k = 0; k < keys.length; k++) {
      const name = keys[k] as string;
      try {
        let child: unknown;
        try {
          child = object[name];
        } catch (error) {
          throw new Refusal('threw', 'has a getter that threw', error);
        }
        const text = write(child, name, ancestors);
        if (text !== undefined) out += `${out.length > 1 ? ',' : ''}${keyText(name)}:${text}`;
      } catch (error) {
        throw via(error, name);
      }
    }
    out += '}';
  }
  ancestors.pop();
  return out;
}
