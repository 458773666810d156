import { hash } from 'node:crypto';
import canonicalize from 'canonicalize';

/** The outcome of a task: `ok`, `failed` (threw), `timed_out` (ran past its timeout) or `cancelled` (never finished). */
export type TaskStatus = 'ok' | 'failed' | 'timed_out' | 'cancelled';

/** One link of a trace's hash chain. */
export interface TraceEntry {
  /** Position in commit order, from 0. */
  readonly seq: number;
  readonly id: string;
  readonly status: TaskStatus;
  /** sha256 (hex) of the RFC 8785 canonical JSON of the result (see {@link resultDigest}). */
  readonly resultDigest: string;
  /** sha256 (hex) of the previous entry's digest followed by this entry's canonical JSON. */
  readonly digest: string;
}

/**
 * The evidence of one run: the planned order and one chained entry per task, in commit order. The final
 * `digest` is the same for the same seed, tasks and results, whatever the concurrency or timing.
 */
export interface Trace {
  /** The trace format version. */
  readonly version: typeof TRACE_VERSION;
  /** The seed the order was planned with. */
  readonly seed: string;
  /** Task ids in commit order. */
  readonly order: readonly string[];
  readonly entries: readonly TraceEntry[];
  /** The last entry's digest (the genesis digest of an empty run). */
  readonly digest: string;
}

/** The current trace format. */
export const TRACE_VERSION = 1;

const sha256 = (text: string): string => hash('sha256', text, 'hex');

/**
 * The digest that the first entry chains from: it binds the version, the seed and the whole order.
 *
 * @example
 * ```ts
 * genesisDigest(trace.seed, trace.order); // what trace.entries[0] chains from
 * ```
 */
export function genesisDigest(seed: string, order: readonly string[]): string {
  // Keys in RFC 8785 order; JSON.stringify of well-formed strings is their canonical form.
  const json = JSON.stringify({ order, seed, version: TRACE_VERSION });
  return sha256(json);
}

/**
 * The canonical JSON of an entry's content; key order and escaping follow RFC 8785 for well-formed
 * strings (the scheduler refuses ids with lone surrogates, which RFC 8785 cannot express).
 */
function entryJson(seq: number, id: string, status: TaskStatus, result: string): string {
  // Hand-built for speed; the tests check it equals canonicalize({ id, resultDigest, seq, status }).
  return `{"id":${JSON.stringify(id)},"resultDigest":"${result}","seq":${seq},"status":"${status}"}`;
}

/**
 * Computes `digest_i = sha256(digest_{i-1} + canonicalJSON({ seq, id, status, resultDigest }))`.
 *
 * @example
 * ```ts
 * const [first] = trace.entries;
 * chainDigest(genesisDigest(trace.seed, trace.order), first) === first.digest; // true for an untouched trace
 * ```
 */
export function chainDigest(
  previous: string,
  entry: Pick<TraceEntry, 'seq' | 'id' | 'status' | 'resultDigest'>,
): string {
  return sha256(previous + entryJson(entry.seq, entry.id, entry.status, entry.resultDigest));
}

const NULL_DIGEST = sha256('null');

/**
 * The digest of a task's result: for `ok` the canonical JSON of its value (`undefined` counts as `null`),
 * for `failed` of `{ error: { name, code, message } }`, and the digest of `null` for `timed_out` and
 * `cancelled`.
 *
 * Gotchas: values are digested as JSON, so a `Map`, a class instance's private state or a function are not
 * seen; a value that JSON cannot express (a cycle, a BigInt, NaN) is digested as `{ unserializable: String(value) }`.
 *
 * @example
 * ```ts
 * resultDigest('ok', { files: 3 }, undefined); // sha256 of '{"files":3}'
 * ```
 */
export function resultDigest(status: TaskStatus, value: unknown, error: unknown): string {
  if (status === 'ok') return value === undefined || value === null ? NULL_DIGEST : digestJson(value);
  if (status === 'failed') return digestJson({ error: describeError(error) });
  return NULL_DIGEST;
}

function digestJson(value: unknown): string {
  let json: string | undefined;
  try {
    json = canonicalize(value);
  } catch {
    // JSON.stringify, unlike canonicalize, accepts lone surrogates, so this fallback cannot throw.
    json = JSON.stringify({ unserializable: safeString(value) });
  }
  return json === undefined ? NULL_DIGEST : sha256(json);
}

function safeString(value: unknown): string {
  try {
    return String(value);
  } catch {
    return `[${typeof value}]`;
  }
}

function describeError(error: unknown): Record<string, unknown> {
  if (typeof error !== 'object' || error === null) return { message: safeString(error) };
  const { name, message, code } = error as { name?: unknown; message?: unknown; code?: unknown };
  const out: Record<string, unknown> = { message: typeof message === 'string' ? message : safeString(error) };
  if (typeof name === 'string') out.name = name;
  if (typeof code === 'string' || typeof code === 'number') out.code = code;
  return out;
}

/** The answer of {@link verifyTrace}: `ok`, or the first entry that does not match and why. */
export type TraceVerification =
  | { readonly ok: true; readonly digest: string }
  | {
      readonly ok: false;
      /** The seq of the first entry that fails, or `-1` when the trace's shape or final digest is wrong. */
      readonly seq: number;
      /** The id of that entry, if any. */
      readonly id: string | undefined;
      /** What does not match: the entry's `digest`, its `seq`, its `id` against `order`, the entry count, or the final `digest`. */
      readonly reason: 'digest' | 'seq' | 'order' | 'length' | 'final-digest' | 'shape';
      readonly message: string;
    };

/**
 * Recomputes a trace's hash chain and names the first entry that was changed. The chain starts from a
 * digest of the version, seed and order, so a change to any of those shows up at entry 0.
 *
 * When to use: before trusting a stored trace, e.g. one read back from an audit log.
 *
 * @example
 * ```ts
 * const check = verifyTrace(JSON.parse(stored));
 * if (!check.ok) throw new Error(`trace tampered at #${check.seq} (${check.id}): ${check.message}`);
 * ```
 */
export function verifyTrace(trace: Trace): TraceVerification {
  const fail = (
    seq: number,
    id: string | undefined,
    reason: Exclude<TraceVerification, { ok: true }>['reason'],
    message: string,
  ): TraceVerification => ({ ok: false, seq, id, reason, message });
  if (
    typeof trace !== 'object' ||
    trace === null ||
    trace.version !== TRACE_VERSION ||
    typeof trace.seed !== 'string' ||
    !Array.isArray(trace.order) ||
    !Array.isArray(trace.entries)
  ) {
    return fail(-1, undefined, 'shape', `Not a version ${TRACE_VERSION} trace: check what was passed in.`);
  }
  if (trace.entries.length !== trace.order.length) {
    return fail(
      -1,
      undefined,
      'length',
      `The trace has ${trace.entries.length} entries for ${trace.order.length} ordered tasks.`,
    );
  }
  let previous = genesisDigest(trace.seed, trace.order);
  for (let i = 0; i < trace.entries.length; i++) {
    const entry = trace.entries[i] as TraceEntry;
    if (entry.seq !== i) return fail(i, entry.id, 'seq', `Entry ${i} has seq ${entry.seq}.`);
    if (entry.id !== trace.order[i]) {
      return fail(
        i,
        entry.id,
        'order',
        `Entry ${i} is "${entry.id}" but the order says "${trace.order[i]}".`,
      );
    }
    const expected = chainDigest(previous, entry);
    if (expected !== entry.digest) {
      return fail(i, entry.id, 'digest', `Entry ${i} ("${entry.id}") does not match its digest.`);
    }
    previous = expected;
  }
  if (trace.digest !== previous) {
    return fail(-1, undefined, 'final-digest', 'The final digest does not match the last entry.');
  }
  return { ok: true, digest: previous };
}
