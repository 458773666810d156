import { InvalidOptionsError } from '../errors.js';
import type { Heartbeat } from '../heartbeat.js';

/** What a worker id may look like: usable in a file name and a container name. */
export const WORKER_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;

/** Throws unless `workerId` is usable in a file name and a container name. */
export function assertWorkerId(workerId: unknown): asserts workerId is string {
  if (typeof workerId !== 'string' || !WORKER_ID.test(workerId)) {
    throw new InvalidOptionsError(
      `Invalid worker id ${JSON.stringify(workerId)}: use 1 to 128 letters, digits, "_", "." or "-", starting with a letter or digit.`,
      { details: { workerId } },
    );
  }
}

/** Returns `runId` when it is usable in a label, a container or service name and a secret name; else throws. */
export function assertRunId(runId: unknown): string {
  if (typeof runId !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/.test(runId)) {
    throw new InvalidOptionsError(
      `Invalid runId ${JSON.stringify(runId)}: use 1 to 64 letters, digits, "_", "." or "-".`,
    );
  }
  return runId;
}

/** Throws unless `value` is a finite number >= `min`. */
export function assertNumber(name: string, value: number, min = 0): void {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min) {
    throw new InvalidOptionsError(
      `Option "${name}" must be a finite number >= ${min}, got ${String(value)}.`,
      {
        details: { option: name, value },
      },
    );
  }
}

/**
 * Parses a heartbeat file's text; `undefined` when it is not a valid heartbeat of `workerId` (corrupt,
 * half-written, or another worker's).
 */
export function parseHeartbeat(text: string, workerId: string): Heartbeat | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null) return undefined;
  const v = value as Record<string, unknown>;
  if (v.workerId !== workerId || typeof v.ts !== 'number' || !Number.isFinite(v.ts)) return undefined;
  if (v.taskId !== undefined && typeof v.taskId !== 'string') return undefined;
  if (v.progress !== undefined && (typeof v.progress !== 'number' || !Number.isFinite(v.progress))) {
    return undefined;
  }
  const beat: Heartbeat = { workerId, ts: v.ts };
  if (v.taskId !== undefined) beat.taskId = v.taskId as string;
  if (v.progress !== undefined) beat.progress = v.progress as number;
  return beat;
}
