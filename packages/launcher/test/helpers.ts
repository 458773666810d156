import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Launcher, WorkerStatus, WorkerStatusChange } from '@ordo/contracts';

/** A temp dir removed on dispose. */
export async function tempDir(prefix = 'ordo-launcher-'): Promise<AsyncDisposable & { path: string }> {
  const path = await mkdtemp(join(tmpdir(), prefix));
  return { path, [Symbol.asyncDispose]: () => rm(path, { recursive: true, force: true }) };
}

/** Resolves with the first `status` event that moves `workerId` to `to` (rejects after `ms` of real time). */
export function nextStatus(
  launcher: Pick<Launcher, 'on' | 'off'>,
  workerId: string,
  to: WorkerStatus,
  ms = 15_000,
): Promise<WorkerStatusChange> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      launcher.off('status', listener);
      reject(new Error(`worker ${workerId} did not become ${to} within ${ms} ms`));
    }, ms);
    const listener = (change: WorkerStatusChange) => {
      if (change.workerId !== workerId || change.to !== to) return;
      clearTimeout(timer);
      launcher.off('status', listener);
      resolve(change);
    };
    launcher.on('status', listener);
  });
}

/** The first `n` lines of `lines` (the rest stay for the next reader); `[]` when there is no channel. */
export async function takeLines(lines: AsyncIterable<string> | undefined, n: number): Promise<string[]> {
  const got: string[] = [];
  if (n === 0) return got;
  for await (const line of lines ?? []) {
    got.push(line);
    if (got.length === n) break;
  }
  return got;
}
