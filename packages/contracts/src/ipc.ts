/**
 * The worker IPC protocol, version 1: line-delimited JSON over a worker's stdin (parent → worker) and
 * stdout (worker → parent), framed by {@link LineSplitter}. `PROTOCOL.md` in `@ordo/governance` is the
 * normative description; this module is its TypeScript form, shared by the pool, `serveWorker` and any
 * other worker or host that speaks it.
 */
import type { RemoteError } from './taskErrors.js';

/** The protocol version this package speaks. A child announcing another one fails its handshake. */
export const IPC_PROTOCOL_VERSION = 1;

/** The environment variables a pool sets for its children, read by `serveWorker`. */
export const IpcEnv = {
  /** The protocol version the parent speaks. */
  VERSION: 'ORDO_IPC_VERSION',
  /** The largest line a child may print; larger results are sent as CHUNK messages. */
  MAX_MESSAGE_BYTES: 'ORDO_IPC_MAX_MESSAGE_BYTES',
  /** How often the child reports its memory and a heartbeat, in ms. */
  REPORT_INTERVAL_MS: 'ORDO_IPC_REPORT_INTERVAL_MS',
} as const;

/** A failure as it crosses the wire in a FAILED message. */
export type WireError = RemoteError;

/** The log levels a LOG message may carry. */
export type WireLogLevel = 'debug' | 'info' | 'warn' | 'error';

/** Every message a child sends on its stdout. */
export type ChildMessage =
  /**
   * `v` is whatever the child announced: any value other than {@link IPC_PROTOCOL_VERSION} (the string
   * `"1"`, a missing field) is a version mismatch, not a malformed line, so the handshake can say so.
   */
  | { type: 'READY'; v: unknown; pid: number }
  | { type: 'PROGRESS'; taskId: string; percent: number; message?: string | undefined }
  | { type: 'COMPLETE'; taskId: string; result: unknown }
  | { type: 'FAILED'; taskId: string; error: WireError }
  | { type: 'HEARTBEAT' }
  | { type: 'MEMORY'; rss: number; heapUsed: number }
  | { type: 'LOG'; level: WireLogLevel; msg: string }
  | { type: 'CHUNK'; taskId: string; seq: number; data: string; last: boolean };

/** Every message a parent sends on a child's stdin. */
export type ParentMessage =
  | { type: 'RUN'; taskId: string; payload: unknown }
  | { type: 'CANCEL'; taskId: string }
  | { type: 'SHUTDOWN' };

/** The result of {@link parseChildMessage} / {@link parseParentMessage}. */
export type ParseResult<M> =
  | { ok: true; message: M }
  /** `text`: not JSON at all (plain output); `invalid`: JSON, but not a message of this protocol. */
  | { ok: false; kind: 'text' | 'invalid'; reason: string };

const LOG_LEVELS: ReadonlySet<string> = new Set(['debug', 'info', 'warn', 'error']);

type Fields = Record<string, unknown>;
const isString = (v: unknown): v is string => typeof v === 'string';
const isNumber = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const taskIdOk = (m: Fields) => isString(m.taskId) && m.taskId !== '';

/** Field checks per child message type; a message passing its check has the shape of {@link ChildMessage}. */
const CHILD_CHECKS: Readonly<Record<ChildMessage['type'], (m: Fields) => boolean>> = {
  READY: (m) => isNumber(m.pid),
  PROGRESS: (m) => taskIdOk(m) && isNumber(m.percent) && (m.message === undefined || isString(m.message)),
  COMPLETE: (m) => taskIdOk(m) && 'result' in m,
  FAILED: (m) => {
    const e = m.error as Fields | null;
    return taskIdOk(m) && typeof e === 'object' && e !== null && isString(e.name) && isString(e.message);
  },
  HEARTBEAT: () => true,
  MEMORY: (m) => isNumber(m.rss) && isNumber(m.heapUsed),
  LOG: (m) => isString(m.level) && LOG_LEVELS.has(m.level) && isString(m.msg),
  CHUNK: (m) =>
    taskIdOk(m) &&
    Number.isInteger(m.seq) &&
    (m.seq as number) >= 0 &&
    isString(m.data) &&
    typeof m.last === 'boolean',
};

const PARENT_CHECKS: Readonly<Record<ParentMessage['type'], (m: Fields) => boolean>> = {
  RUN: (m) => taskIdOk(m) && 'payload' in m,
  CANCEL: taskIdOk,
  SHUTDOWN: () => true,
};

function parse<M>(line: string, checks: Readonly<Record<string, (m: Fields) => boolean>>): ParseResult<M> {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return { ok: false, kind: 'text', reason: 'not JSON' };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return { ok: false, kind: 'invalid', reason: 'not a JSON object' };
  }
  const type = (value as Fields).type;
  const check = typeof type === 'string' && Object.hasOwn(checks, type) ? checks[type] : undefined;
  if (check === undefined)
    return { ok: false, kind: 'invalid', reason: `unknown message type ${String(type)}` };
  if (!check(value as Fields)) return { ok: false, kind: 'invalid', reason: `malformed ${type} message` };
  return { ok: true, message: value as M };
}

/**
 * Parses one line a child printed. Never throws: plain text is `{ ok: false, kind: 'text' }`, JSON that is
 * not a protocol message (unknown type, missing fields) is `{ ok: false, kind: 'invalid' }`.
 *
 * @example
 * ```ts
 * const parsed = parseChildMessage('{"type":"HEARTBEAT"}');
 * if (parsed.ok && parsed.message.type === 'HEARTBEAT') lastSeen = Date.now();
 * ```
 */
export function parseChildMessage(line: string): ParseResult<ChildMessage> {
  return parse(line, CHILD_CHECKS);
}

/** Parses one line a parent wrote on a child's stdin; never throws (see {@link parseChildMessage}). */
export function parseParentMessage(line: string): ParseResult<ParentMessage> {
  return parse(line, PARENT_CHECKS);
}

/** Encodes a message as one protocol line, newline included. */
export function encodeMessage(message: ChildMessage | ParentMessage): string {
  return `${JSON.stringify(message)}\n`;
}

/**
 * Splits a COMPLETE into CHUNK messages when its line would exceed `maxMessageBytes`: the result's JSON
 * text is cut into slices of `maxMessageBytes / 3` UTF-16 units, so each CHUNK line stays under the limit
 * even for non-ASCII text (at most 3 UTF-8 bytes a unit) plus the small envelope.
 * Returns the lines to write, newlines included.
 */
export function encodeResult(taskId: string, result: unknown, maxMessageBytes: number): string[] {
  const json = JSON.stringify(result) ?? 'null';
  const line = `{"type":"COMPLETE","taskId":${JSON.stringify(taskId)},"result":${json}}\n`;
  if (line.length <= maxMessageBytes && utf8Length(line) <= maxMessageBytes) return [line];
  const slice = Math.max(1, Math.floor(maxMessageBytes / 3));
  const lines: string[] = [];
  for (let start = 0, seq = 0; start < json.length; start += slice, seq++) {
    const data = json.slice(start, start + slice);
    lines.push(encodeMessage({ type: 'CHUNK', taskId, seq, data, last: start + slice >= json.length }));
  }
  return lines;
}

/**
 * Reassembles one task's CHUNK messages into its result, refusing more than `maxBytes` characters of JSON
 * text in total. `add` returns `{ done: false }` until the `last` chunk, then the parsed result.
 */
export class ChunkAssembler {
  readonly #maxBytes: number;
  readonly #parts: string[] = [];
  #size = 0;

  constructor(maxBytes: number) {
    this.#maxBytes = maxBytes;
  }

  /**
   * Adds the next chunk. Throws a `RangeError` when a chunk is out of sequence or the total passes the
   * cap, and a `SyntaxError` when the reassembled text is not JSON.
   */
  add(chunk: {
    seq: number;
    data: string;
    last: boolean;
  }): { done: false } | { done: true; result: unknown } {
    if (chunk.seq !== this.#parts.length) {
      throw new RangeError(`chunk ${chunk.seq} arrived where chunk ${this.#parts.length} was expected`);
    }
    this.#size += chunk.data.length;
    if (this.#size > this.#maxBytes) {
      throw new RangeError(`the result passed the cap of ${this.#maxBytes} bytes`);
    }
    this.#parts.push(chunk.data);
    if (!chunk.last) return { done: false };
    return { done: true, result: JSON.parse(this.#parts.join('')) as unknown };
  }
}

/** The UTF-8 length of `text` in bytes, without allocating. */
function utf8Length(text: string): number {
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    if (unit < 0x80) bytes += 1;
    else if (unit < 0x800) bytes += 2;
    else if (unit >= 0xd800 && unit <= 0xdbff && i + 1 < text.length) {
      bytes += 4;
      i++;
    } else bytes += 3;
  }
  return bytes;
}
