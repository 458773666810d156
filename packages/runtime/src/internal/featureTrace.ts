import { createHash } from 'node:crypto';

/** The trace format the runtime's digest follows. */
export const FEATURE_TRACE_VERSION = 1;

/** One task's link in the feature's hash chain. */
export interface FeatureTraceEntry {
  level: number;
  taskId: string;
  status: 'committed' | 'failed' | 'skipped' | 'cancelled';
  /** For `committed`: the digest of its edits; for `failed`: its error code; else `''`. */
  fact: string;
}

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

/**
 * The feature's trace digest: a sha256 chain from `{ feature, seed, version }` over each task in plan
 * order (levels, then the scheduler's order inside a level) of `{ seq, level, taskId, status, fact }`.
 * Only deterministic facts go in, never times or worker ids, so the digest is equal at any concurrency
 * and for a resumed run whose skipped tasks bring their journaled edit digests.
 */
export function featureTraceDigest(
  feature: string,
  seed: number,
  entries: readonly FeatureTraceEntry[],
): string {
  let digest = sha256(JSON.stringify({ feature, seed, version: FEATURE_TRACE_VERSION }));
  entries.forEach((e, seq) => {
    digest = sha256(
      digest + JSON.stringify({ seq, level: e.level, taskId: e.taskId, status: e.status, fact: e.fact }),
    );
  });
  return digest;
}

/** The digest of a commit's edits: each path with the sha256 of its new content (`null`: deleted), by path. */
export function editsDigest(files: Readonly<Record<string, string | null>>): string {
  const sorted = Object.keys(files)
    .sort()
    .map((p) => [p, files[p] ?? null]);
  return sha256(JSON.stringify(sorted));
}
