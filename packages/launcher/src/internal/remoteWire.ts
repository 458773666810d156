import { IPC_PROTOCOL_VERSION } from '@ordo/contracts';
import type { RefusalReason } from '../remoteErrors.js';

/**
 * The worker endpoint's handshake, before IPC v1 starts on the connection. One JSON line each way:
 *
 * - worker → host: `{"type":"HELLO","v":1,"token":"…","workerId"?:"…","host"?:"…","pid"?:1}`
 * - host → worker: `{"type":"WELCOME","v":1,"workerId":"…","maxMessageBytes":…,"reportIntervalMs":…}`
 *   (then IPC v1: the worker sends READY, the host sends RUN, …), or `{"type":"REFUSED","reason":"…"}`
 *   and the host closes the connection.
 *
 * The host reads at most `maxHelloBytes` before the first newline and parses nothing larger.
 */
export interface HelloMessage {
  type: 'HELLO';
  v: unknown;
  token: string | undefined;
  workerId: string | undefined;
  host: string | undefined;
  pid: number | undefined;
}

/** The host's answer to a HELLO. */
export type HostReply =
  | { type: 'WELCOME'; v: number; workerId: string; maxMessageBytes: number; reportIntervalMs: number }
  | { type: 'REFUSED'; reason: RefusalReason };

const REASONS: ReadonlySet<string> = new Set<RefusalReason>([
  'missing-token',
  'bad-token',
  'version',
  'malformed',
  'oversized',
  'timeout',
  'rate-limited',
  'unassigned',
  'tls',
  'capacity',
  'closing',
]);

const optionalString = (v: unknown, max: number): v is string | undefined =>
  v === undefined || (typeof v === 'string' && v.length <= max);

/** Parses a HELLO line; `undefined` when it is not one (not JSON, other type, bad field types). */
export function parseHello(line: string): HelloMessage | undefined {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  const m = value as Record<string, unknown>;
  if (m.type !== 'HELLO') return undefined;
  if (!optionalString(m.token, 1024) || !optionalString(m.workerId, 256) || !optionalString(m.host, 256)) {
    return undefined;
  }
  if (m.pid !== undefined && !Number.isSafeInteger(m.pid)) return undefined;
  return {
    type: 'HELLO',
    v: m.v,
    token: m.token,
    workerId: m.workerId,
    host: m.host,
    pid: m.pid as number | undefined,
  };
}

/** Parses the host's answer; `undefined` when it is neither a WELCOME nor a REFUSED. */
export function parseHostReply(line: string): HostReply | undefined {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null) return undefined;
  const m = value as Record<string, unknown>;
  if (m.type === 'REFUSED' && typeof m.reason === 'string' && REASONS.has(m.reason)) {
    return { type: 'REFUSED', reason: m.reason as RefusalReason };
  }
  if (
    m.type === 'WELCOME' &&
    m.v === IPC_PROTOCOL_VERSION &&
    typeof m.workerId === 'string' &&
    m.workerId !== '' &&
    Number.isSafeInteger(m.maxMessageBytes) &&
    (m.maxMessageBytes as number) > 0 &&
    Number.isSafeInteger(m.reportIntervalMs) &&
    (m.reportIntervalMs as number) > 0
  ) {
    return {
      type: 'WELCOME',
      v: IPC_PROTOCOL_VERSION,
      workerId: m.workerId,
      maxMessageBytes: m.maxMessageBytes as number,
      reportIntervalMs: m.reportIntervalMs as number,
    };
  }
  return undefined;
}

/** One handshake line, newline included. */
export function encodeLine(message: object): string {
  return `${JSON.stringify(message)}\n`;
}
