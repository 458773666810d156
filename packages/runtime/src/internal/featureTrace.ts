import { mkdir, open, readdir, readFile, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import type { Trace } from '@ordo/kernel-scheduler';
import { sha256 } from './runJournal.js';
import { errorCode } from './taskErrors.js';

/**
 * The feature trace is the kernel-scheduler trace of the feature's graph run: one entry per task in commit
 * order, chained with sha256 (`verifyTrace` and `replay` read it). This module decides what of a task goes
 * in it (only deterministic facts, never times, worker ids or paths of a temp copy) and where it is stored.
 */

/** What a committed task's trace entry digests: the digest of its edits. */
export interface CommittedFact {
  edits: string;
}

/** The digest of a commit's edits: each path with the sha256 of its new content (`null`: deleted), by path. */
export function editsDigest(files: Readonly<Record<string, string | null>>): string {
  const sorted = Object.keys(files)
    .sort()
    .map((p) => [p, files[p] ?? null]);
  return sha256(JSON.stringify(sorted));
}

/**
 * What a failed task's trace entry digests: its code only (a message may name a worker, a duration or a
 * temp dir). The original error is the `cause`; {@link untraced} gets it back for the report.
 */
export class TracedFailure extends Error {
  override readonly name = 'TaskFailure';
  readonly code: string;

  constructor(cause: unknown) {
    const code = errorCode(cause);
    super(code, { cause });
    this.code = code;
  }
}

/** Wraps a task's error for the trace (an already wrapped one stays as it is). */
export function traced(error: unknown): TracedFailure {
  return error instanceof TracedFailure ? error : new TracedFailure(error);
}

/** The error a {@link TracedFailure} wraps; anything else as it is. */
export function untraced(error: unknown): unknown {
  return error instanceof TracedFailure ? error.cause : error;
}

/** The directory of the stored feature traces, in the state dir. */
export const TRACES_DIR = 'traces';

/** The stored trace of `feature`: `<stateDir>/traces/<feature>.json` (feature names are file-safe). */
export function traceFile(stateDir: string, feature: string): string {
  return path.join(stateDir, TRACES_DIR, `${feature}.json`);
}

/** Stores a feature's trace as JSON, atomically (temp file, fsync, rename): the last run of a feature wins. */
export async function storeTrace(stateDir: string, feature: string, trace: Trace): Promise<string> {
  const file = traceFile(stateDir, feature);
  await mkdir(path.dirname(file), { recursive: true });
  const temp = `${file}.${process.pid}.tmp`;
  const handle = await open(temp, 'w');
  try {
    await handle.writeFile(`${JSON.stringify(trace, null, 1)}\n`);
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    await rename(temp, file);
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
  return file;
}

/** One stored trace file: its feature, path and parsed content (`undefined` when it is not JSON). */
export interface StoredTrace {
  feature: string;
  file: string;
  trace: unknown;
}

/** The stored traces of a state dir, by feature name; `[]` when none was stored. */
export async function readStoredTraces(stateDir: string): Promise<StoredTrace[]> {
  const dir = path.join(stateDir, TRACES_DIR);
  const names = await readdir(dir).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return [] as string[];
    throw error;
  });
  const out: StoredTrace[] = [];
  for (const name of names.filter((n) => n.endsWith('.json')).sort()) {
    const file = path.join(dir, name);
    out.push({
      feature: name.slice(0, -'.json'.length),
      file,
      trace: parseOrUndefined(await readFile(file, 'utf8')),
    });
  }
  return out;
}

/** The stored trace of one feature, or `undefined` when there is none. */
export async function readStoredTrace(stateDir: string, feature: string): Promise<StoredTrace | undefined> {
  const file = traceFile(stateDir, feature);
  const text = await readFile(file, 'utf8').catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return undefined;
    throw error;
  });
  return text === undefined ? undefined : { feature, file, trace: parseOrUndefined(text) };
}

function parseOrUndefined(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}
