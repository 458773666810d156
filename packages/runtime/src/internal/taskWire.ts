/**
 * What travels between the runtime and a worker inside protocol v1's RUN payload and COMPLETE result:
 * the task, a snapshot of the files it may read, and the edits it made. File contents travel as text
 * when they are valid UTF-8, else as base64, so binary files survive JSON.
 */
import type { PlanTask } from '../types.js';

/** A file's content on the wire. */
export interface WireContent {
  data: string;
  encoding: 'utf8' | 'base64';
}

/** A declared file that exists, as the task's snapshot holds it. */
export interface WireFile extends WireContent {
  path: string;
}

/** The RUN payload of a runtime task. */
export interface TaskPayload {
  feature: string;
  taskId: string;
  /** The host's workspace path (for `ORDO_WORKSPACE`; the worker must not write there). */
  workspace: string;
  /** The declared files that existed when the level started, with their content. */
  files: WireFile[];
  /** Declared literal paths (not globs) that did not exist: `read` answers `undefined` for them. */
  absent: string[];
  run: PlanTask['run'];
  /** The W3C trace context of the task's span when the runtime traces (`createRuntime({ telemetry })`). */
  traceparent?: string | undefined;
}

/** One edit a worker reports: new content, or `null` for a delete. */
export interface WireEdit {
  path: string;
  content: WireContent | null;
}

/** The COMPLETE result of a runtime task. */
export type TaskResult =
  | { status: 'ok'; edits: WireEdit[] }
  | { status: 'exit'; exitCode: number | null; signal: string | null; stderrTail: string };

/** Encodes bytes for the wire: UTF-8 text when they round-trip, else base64. */
export function toWire(bytes: Buffer): WireContent {
  const text = bytes.toString('utf8');
  return Buffer.byteLength(text) === bytes.length && Buffer.from(text, 'utf8').equals(bytes)
    ? { data: text, encoding: 'utf8' }
    : { data: bytes.toString('base64'), encoding: 'base64' };
}

/** Decodes wire content back to bytes. */
export function fromWire(content: WireContent): Buffer {
  return Buffer.from(content.data, content.encoding);
}

/** Whether `value` is a well-formed {@link TaskResult}; the runtime refuses anything else. */
export function isTaskResult(value: unknown): value is TaskResult {
  if (typeof value !== 'object' || value === null) return false;
  const r = value as Record<string, unknown>;
  if (r.status === 'exit') return typeof r.stderrTail === 'string';
  if (r.status !== 'ok' || !Array.isArray(r.edits)) return false;
  return r.edits.every((e: unknown) => {
    const edit = e as Record<string, unknown> | null;
    if (typeof edit !== 'object' || edit === null || typeof edit.path !== 'string') return false;
    const c = edit.content as Record<string, unknown> | null;
    return (
      c === null ||
      (typeof c === 'object' &&
        typeof c.data === 'string' &&
        (c.encoding === 'utf8' || c.encoding === 'base64'))
    );
  });
}
