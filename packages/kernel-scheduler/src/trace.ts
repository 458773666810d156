import { createHash, type Hash, hash } from 'node:crypto';
import { TASK_RUN_STATUSES, type TaskRunStatus } from '@ordo/contracts';
import { canonicalJson } from './canonicalJson.js';

/**
 * How one run of a task ended: the contracts {@link TaskRunStatus}.
 * @deprecated Use `TaskRunStatus` from `@ordo/contracts` (the same type under its one name).
 */
export type TaskStatus = TaskRunStatus;

/** One link of a trace's hash chain. */
export interface TraceEntry {
  /** Position in commit order, from 0. */
  readonly seq: number;
  readonly id: string;
  readonly status: TaskRunStatus;
  /** sha256 (hex) of the UTF-8 of the RFC 8785 canonical JSON of the result (see {@link resultDigest}). */
  readonly resultDigest: string;
  /**
   * The chain up to and including this entry: in version 3, sha256 (hex) of the genesis digest and every
   * entry's canonical JSON so far, each followed by a newline; in versions 1 and 2, sha256 of the previous
   * entry's digest followed by this entry's canonical JSON.
   */
  readonly digest: string;
}

/**
 * The options of a run that change its records, bound into the trace's genesis digest, so `replay` runs
 * with them unless told otherwise and `verifyTrace` catches an edit.
 */
export interface TraceOptions {
  /** The scheduler's `failFast`. */
  readonly failFast: boolean;
  /** The scheduler's default task timeout, `null` for none. */
  readonly taskTimeoutMs: number | null;
  /**
   * `flat` for `schedule`, `graph` for `scheduleGraph`. A graph's `levels` and `eager` modes give the same
   * records and the same trace, so which one ran is not recorded.
   */
  readonly mode: 'flat' | 'graph';
}

/**
 * The evidence of one run: the options that shape its records, the planned order and one chained entry per
 * task, in commit order. The final `digest` is the same for the same seed, options, tasks and results,
 * whatever the concurrency or timing.
 */
export interface Trace {
  /**
   * The trace format version: 3. {@link verifyTrace} and {@link replay} still read version 2 (each entry
   * chained from the one before) and version 1 (no `options`).
   */
  readonly version: typeof TRACE_VERSION;
  /** The seed the order was planned with. */
  readonly seed: string;
  /** The options that change a run's records. */
  readonly options: TraceOptions;
  /** Task ids in commit order. */
  readonly order: readonly string[];
  readonly entries: readonly TraceEntry[];
  /** The last entry's digest (the genesis digest of an empty run). */
  readonly digest: string;
}

/**
 * A version 2 trace (2026-12-01 to 2026-12-03): each entry's digest is sha256 of the previous digest followed
 * by the entry's JSON. {@link verifyTrace} and {@link replay} still accept it.
 */
export interface TraceV2 extends Omit<Trace, 'version'> {
  readonly version: 2;
}

/**
 * A version 1 trace (before 2026-12): no `options`, and its result digests came from the `canonicalize`
 * package. {@link verifyTrace} and {@link replay} still accept it.
 */
export interface TraceV1 extends Omit<Trace, 'version' | 'options'> {
  readonly version: 1;
}

/** The current trace format. */
export const TRACE_VERSION = 3;

const sha256 = (text: string): string => hash('sha256', text, 'hex');

/**
 * The digest that the first entry chains from: sha256 of the RFC 8785 JSON of `{ version, seed, options,
 * order }`, so it binds the options, the seed and the whole order. Without `options`, the version 1 genesis
 * (`{ version: 1, seed, order }`); `version` 2 gives a version 2 trace's genesis.
 *
 * @example
 * ```ts
 * genesisDigest(trace.seed, trace.order, trace.options); // what trace.entries[0] chains from
 * ```
 */
export function genesisDigest(
  seed: string,
  order: readonly string[],
  options?: TraceOptions | undefined,
  version: 2 | 3 = TRACE_VERSION,
): string {
  if (options === undefined) return sha256(canonicalJson({ order, seed, version: 1 }));
  // The JSON is hand-built for speed (a test checks it equals canonicalJson): the keys are in RFC 8785
  // order, the ids and the seed are well-formed (the scheduler checks), so JSON.stringify writes each as
  // RFC 8785 does, and the options hold only a boolean, null or an integer and a fixed string.
  const { failFast, mode, taskTimeoutMs } = options;
  return sha256(
    `{"options":{"failFast":${failFast},"mode":${JSON.stringify(mode)},"taskTimeoutMs":${canonicalJson(taskTimeoutMs)}},"order":${JSON.stringify(order)},"seed":${JSON.stringify(seed)},"version":${version}}`,
  );
}

/**
 * The RFC 8785 JSON of an entry's content, `{ id, resultDigest, seq, status }`: what each chain step hashes.
 * Hand-built for speed (the tests check it equals `canonicalJson` of the entry); ids are well-formed Unicode
 * (the scheduler checks).
 */
export function entryJson(entry: Pick<TraceEntry, 'seq' | 'id' | 'status' | 'resultDigest'>): string {
  return `{"id":${JSON.stringify(entry.id)},"resultDigest":"${entry.resultDigest}","seq":${entry.seq},"status":"${entry.status}"}`;
}

/**
 * A version 1 or 2 chain step: `digest_i = sha256(digest_{i-1} + canonicalJSON({ seq, id, status,
 * resultDigest }))`. Version 3 hashes the whole chain in one stream instead (see {@link verifyTrace}).
 *
 * @example
 * ```ts
 * const [first] = traceV2.entries;
 * chainDigest(genesisDigest(traceV2.seed, traceV2.order, traceV2.options, 2), first) === first.digest; // true if untouched
 * ```
 */
export function chainDigest(
  previous: string,
  entry: Pick<TraceEntry, 'seq' | 'id' | 'status' | 'resultDigest'>,
): string {
  return sha256(previous + entryJson(entry));
}

/**
 * The version 3 chain as a stream: `digest_i = sha256(genesis + '\n' + JSON_0 + '\n' + … + JSON_i + '\n')`,
 * so each digest binds the genesis and every entry up to it, and a run's final digest costs one pass of
 * sha256 over its entries instead of one hash call per entry. Text is handed to the hash in chunks.
 * @internal
 */
export class ChainStream {
  readonly #hash: Hash = createHash('sha256');
  #pending: string;

  constructor(genesis: string) {
    this.#pending = `${genesis}\n`;
  }

  /** Adds an entry's JSON. */
  push(json: string): void {
    this.#pending += `${json}\n`;
    if (this.#pending.length > 16384) this.#flush();
  }

  /** The digest of everything pushed so far (the hash goes on). */
  digest(): string {
    this.#flush();
    return this.#hash.copy().digest('hex');
  }

  #flush(): void {
    if (this.#pending === '') return;
    this.#hash.update(this.#pending);
    this.#pending = '';
  }
}

/**
 * Builds a version 3 trace as a run commits. Per entry it keeps the status and result digest and feeds the
 * entry's JSON to one {@link ChainStream}; the entries' own digests are worked out the first time
 * `trace.entries` is read, except for checkpoints (the first and last entry and every failure), which the
 * run history keeps and which are digested as they commit.
 * @internal
 */
export class TraceBuilder {
  readonly #seed: string;
  readonly #options: TraceOptions;
  readonly #order: readonly string[];
  readonly #genesis: string;
  readonly #chain: ChainStream;
  readonly #statuses: TaskRunStatus[] = [];
  readonly #resultDigests: string[] = [];
  readonly #checkpoints: TraceEntry[] = [];

  constructor(seed: string, options: TraceOptions, order: readonly string[]) {
    this.#seed = seed;
    this.#options = options;
    this.#order = order;
    this.#genesis = genesisDigest(seed, order, options);
    this.#chain = new ChainStream(this.#genesis);
  }

  /** Appends the next entry in commit order. */
  append(id: string, status: TaskRunStatus, resultDigest: string): void {
    const seq = this.#statuses.length;
    this.#statuses.push(status);
    this.#resultDigests.push(resultDigest);
    this.#chain.push(entryJson({ seq, id, status, resultDigest }));
    if (isCheckpoint(seq, this.#order.length, status)) {
      this.#checkpoints.push({ seq, id, status, resultDigest, digest: this.#chain.digest() });
    }
  }

  /** The trace of what was appended; call once, after the last entry. */
  finish(): Trace {
    const count = this.#statuses.length;
    const last = this.#checkpoints[this.#checkpoints.length - 1];
    const digest = count === 0 ? this.#genesis : last?.seq === count - 1 ? last.digest : this.#chain.digest();
    const order = this.#order;
    const statuses = this.#statuses;
    const resultDigests = this.#resultDigests;
    const genesis = this.#genesis;
    const trace = {
      version: TRACE_VERSION,
      seed: this.#seed,
      options: this.#options,
      order,
      digest,
    } as Trace & { entries: readonly TraceEntry[] };
    Object.defineProperty(trace, 'entries', {
      enumerable: true,
      configurable: true,
      get: () => {
        const entries = materializeEntries(genesis, order, statuses, resultDigests);
        // From now on a plain property: the builder's arrays can go.
        Object.defineProperty(trace, 'entries', { value: entries, enumerable: true, writable: false });
        return entries;
      },
    });
    checkpointsOf.set(trace, this.#checkpoints);
    return trace;
  }
}

/** The checkpoints of traces made by a {@link TraceBuilder}, so the run history need not digest every entry. */
const checkpointsOf = new WeakMap<Trace, readonly TraceEntry[]>();

/**
 * The entries the run history keeps of a trace: the first, the last and every `failed` or `timed_out` one.
 * @internal
 */
export function traceCheckpoints(trace: Trace): readonly TraceEntry[] {
  const known = checkpointsOf.get(trace);
  if (known) return known;
  const { entries } = trace;
  return entries.filter((entry, i) => isCheckpoint(i, entries.length, entry.status));
}

/** Which entries the run history keeps: the first, the last and every `failed` or `timed_out` one. */
function isCheckpoint(seq: number, count: number, status: TaskRunStatus): boolean {
  return seq === 0 || seq === count - 1 || status === 'failed' || status === 'timed_out';
}

function materializeEntries(
  genesis: string,
  order: readonly string[],
  statuses: readonly TaskRunStatus[],
  resultDigests: readonly string[],
): TraceEntry[] {
  const chain = new ChainStream(genesis);
  const entries: TraceEntry[] = new Array(statuses.length);
  for (let seq = 0; seq < statuses.length; seq++) {
    const id = order[seq] as string;
    const status = statuses[seq] as TaskRunStatus;
    const resultDigest = resultDigests[seq] as string;
    chain.push(entryJson({ seq, id, status, resultDigest }));
    entries[seq] = { seq, id, status, resultDigest, digest: chain.digest() };
  }
  return entries;
}

/** sha256 of `null`: the result digest of `timed_out`, `cancelled` and of an `ok` task that returned nothing. */
export const NULL_DIGEST = sha256('null');

/**
 * The digest of a task's result: sha256 (hex, over UTF-8) of the RFC 8785 canonical JSON
 * ({@link canonicalJson}) of its value for `ok` (`undefined` counts as `null`), of
 * `{ error: { name, code, message } }` for `failed`, and of `null` for `timed_out` and `cancelled`.
 *
 * Gotchas: values are digested as JSON.stringify sees them, so a `Map`, a class's private state or a function
 * property is not seen. For `ok` it throws `SCHEDULER_UNSERIALIZABLE` on what JSON cannot express (a BigInt,
 * NaN, a cycle); the scheduler records such a task `failed` with that error.
 *
 * @example
 * ```ts
 * resultDigest('ok', { files: 3 }, undefined); // sha256 of '{"files":3}'
 * ```
 */
export function resultDigest(status: TaskRunStatus, value: unknown, error: unknown): string {
  if (status === 'ok') return valueDigest(value);
  if (status === 'failed') return errorDigest(error);
  return NULL_DIGEST;
}

/** @internal The digest of an `ok` value; throws `SCHEDULER_UNSERIALIZABLE`. */
export function valueDigest(value: unknown): string {
  if (value === undefined || value === null) return NULL_DIGEST;
  return sha256(canonicalJson(value));
}

/** @internal The digest of a `failed` task's error; never throws. */
export function errorDigest(error: unknown): string {
  return sha256(canonicalJson({ error: describeError(error) }));
}

const toWellFormed = (text: string): string => (text as unknown as { toWellFormed(): string }).toWellFormed();

function safeString(value: unknown): string {
  try {
    return toWellFormed(String(value));
  } catch {
    return `[${typeof value}]`;
  }
}

/** What of an error the trace digests: its name, code and message, as well-formed strings. */
function describeError(error: unknown): Record<string, unknown> {
  if (typeof error !== 'object' || error === null) return { message: safeString(error) };
  let name: unknown;
  let message: unknown;
  let code: unknown;
  try {
    ({ name, message, code } = error as { name?: unknown; message?: unknown; code?: unknown });
  } catch {
    return { message: safeString(error) };
  }
  const out: Record<string, unknown> = {
    message: typeof message === 'string' ? toWellFormed(message) : safeString(error),
  };
  if (typeof name === 'string') out.name = toWellFormed(name);
  if (typeof code === 'string') out.code = toWellFormed(code);
  else if (typeof code === 'number' && Number.isFinite(code)) out.code = code;
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
 * digest of the version, seed, options and order, so a change to any of those shows up at entry 0. Reads
 * version 2 traces and the older version 1 (no `options`).
 *
 * When to use: before trusting a stored trace, e.g. one read back from an audit log.
 *
 * @example
 * ```ts
 * const check = verifyTrace(JSON.parse(stored));
 * if (!check.ok) throw new Error(`trace tampered at #${check.seq} (${check.id}): ${check.message}`);
 * ```
 */
export function verifyTrace(trace: Trace | TraceV2 | TraceV1): TraceVerification {
  const fail = (
    seq: number,
    id: string | undefined,
    reason: Exclude<TraceVerification, { ok: true }>['reason'],
    message: string,
  ): TraceVerification => ({ ok: false, seq, id, reason, message });
  if (
    typeof trace !== 'object' ||
    trace === null ||
    (trace.version !== TRACE_VERSION && trace.version !== 2 && trace.version !== 1) ||
    typeof trace.seed !== 'string' ||
    (trace.version !== 1 && !isTraceOptions(trace.options)) ||
    !Array.isArray(trace.order) ||
    !Array.isArray(trace.entries)
  ) {
    return fail(
      -1,
      undefined,
      'shape',
      `Not a version 1, 2 or ${TRACE_VERSION} trace: check what was passed in.`,
    );
  }
  if (trace.entries.length !== trace.order.length) {
    return fail(
      -1,
      undefined,
      'length',
      `The trace has ${trace.entries.length} entries for ${trace.order.length} ordered tasks.`,
    );
  }
  const genesis =
    trace.version === 1
      ? genesisDigest(trace.seed, trace.order)
      : genesisDigest(trace.seed, trace.order, trace.options, trace.version);
  const stream = trace.version === TRACE_VERSION ? new ChainStream(genesis) : undefined;
  let previous = genesis;
  for (let i = 0; i < trace.entries.length; i++) {
    const entry = trace.entries[i] as TraceEntry;
    if (
      typeof entry !== 'object' ||
      entry === null ||
      typeof entry.resultDigest !== 'string' ||
      !HEX_DIGEST.test(entry.resultDigest) ||
      typeof entry.id !== 'string' ||
      !STATUSES.has(entry.status)
    ) {
      return fail(i, undefined, 'shape', `Entry ${i} is not a trace entry: check what was passed in.`);
    }
    if (entry.seq !== i) return fail(i, entry.id, 'seq', `Entry ${i} has seq ${entry.seq}.`);
    if (entry.id !== trace.order[i]) {
      return fail(
        i,
        entry.id,
        'order',
        `Entry ${i} is "${entry.id}" but the order says "${trace.order[i]}".`,
      );
    }
    let expected: string;
    if (stream) {
      stream.push(entryJson(entry));
      expected = stream.digest();
    } else expected = chainDigest(previous, entry);
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

const HEX_DIGEST = /^[0-9a-f]{64}$/;
const STATUSES: ReadonlySet<unknown> = new Set<TaskRunStatus>(TASK_RUN_STATUSES);

function isTraceOptions(options: unknown): options is TraceOptions {
  if (typeof options !== 'object' || options === null) return false;
  const { failFast, taskTimeoutMs, mode, ...rest } = options as Record<string, unknown>;
  return (
    Object.keys(rest).length === 0 &&
    typeof failFast === 'boolean' &&
    (taskTimeoutMs === null || (typeof taskTimeoutMs === 'number' && Number.isFinite(taskTimeoutMs))) &&
    (mode === 'flat' || mode === 'graph')
  );
}
