import { StateCorruptError } from '../errors.js';

/**
 * Migrations of the state document, one per schema version: `MIGRATIONS[v]` turns a version-`v` document
 * into a version-`v + 1` one. Each checks only what it reads; the result of the chain is validated against
 * `state.schema.json`.
 */
const MIGRATIONS: ReadonlyArray<(doc: Record<string, unknown>, path: string) => Record<string, unknown>> = [
  migrateV0,
];

/** Brings a document of schema version `version` up to the current one. */
export function migrateState(doc: object, version: number, path: string): unknown {
  let current = doc as Record<string, unknown>;
  for (let v = version; v < MIGRATIONS.length; v++) {
    current = (MIGRATIONS[v] as (typeof MIGRATIONS)[number])(current, path);
  }
  return current;
}

/**
 * Version 0 (before `schemaVersion` existed): epoch-ms numbers without the `At` suffix, workers and tasks as
 * objects keyed by id, levels as an array indexed by level number, the feature name as a string.
 *
 * ```json
 * { "feature": "checkout", "updated": 1735689600000,
 *   "workers": { "w1": { "started": 0, "ready": 0, "lastTaskCompleted": 0, "exited": null,
 *                        "exitCode": null, "completed": 1, "failed": 0, "taskMs": 900 } },
 *   "tasks": { "t1": { "level": 0, "created": 0, "claimed": 0, "worker": "w1", "started": 0,
 *                      "completed": 0, "failed": null, "duration": 900, "attempts": 1 } },
 *   "levels": [{ "started": 0, "completed": 0 }] }
 * ```
 */
function migrateV0(doc: Record<string, unknown>, path: string): Record<string, unknown> {
  const problems: string[] = [];
  const iso = (value: unknown, where: string): string | null => {
    if (value === null || value === undefined) return null;
    if (typeof value === 'number' && Number.isFinite(value)) return new Date(value).toISOString();
    problems.push(`version 0 ${where} must be epoch ms or null, got ${JSON.stringify(value)}`);
    return null;
  };
  const entries = (value: unknown, where: string): [string, Record<string, unknown>][] => {
    if (value === undefined) return [];
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      problems.push(`version 0 ${where} must be an object keyed by id`);
      return [];
    }
    return Object.entries(value as Record<string, Record<string, unknown>>).map(([id, v]) => [id, v ?? {}]);
  };
  const levels = doc.levels === undefined ? [] : doc.levels;
  if (!Array.isArray(levels)) problems.push('version 0 levels must be an array');

  const migrated = {
    schemaVersion: 1,
    revision: 0,
    updatedAt: iso(doc.updated, 'updated'),
    feature: {
      name: typeof doc.feature === 'string' ? doc.feature : 'feature',
      startedAt: iso(doc.started, 'started'),
      completedAt: iso(doc.completed, 'completed'),
    },
    workers: entries(doc.workers, 'workers').map(([workerId, w]) => ({
      workerId,
      startedAt: iso(w.started, `workers.${workerId}.started`),
      readyAt: iso(w.ready, `workers.${workerId}.ready`),
      lastTaskCompletedAt: iso(w.lastTaskCompleted, `workers.${workerId}.lastTaskCompleted`),
      exitedAt: iso(w.exited, `workers.${workerId}.exited`),
      exitCode: w.exitCode ?? null,
      tasksCompleted: w.completed ?? 0,
      tasksFailed: w.failed ?? 0,
      taskMs: w.taskMs ?? 0,
    })),
    tasks: entries(doc.tasks, 'tasks').map(([taskId, t]) => ({
      taskId,
      level: t.level,
      createdAt: iso(t.created, `tasks.${taskId}.created`),
      claimedAt: iso(t.claimed, `tasks.${taskId}.claimed`),
      workerId: t.worker ?? null,
      startedAt: iso(t.started, `tasks.${taskId}.started`),
      completedAt: iso(t.completed, `tasks.${taskId}.completed`),
      failedAt: iso(t.failed, `tasks.${taskId}.failed`),
      durationMs: t.duration ?? null,
      verificationMs: t.verification ?? null,
      attempts: t.attempts ?? (t.claimed == null ? 0 : 1),
      error: t.error ?? null,
    })),
    levels: (Array.isArray(levels) ? levels : []).map((l: Record<string, unknown> | null, level) => ({
      level,
      startedAt: iso(l?.started, `levels[${level}].started`),
      completedAt: iso(l?.completed, `levels[${level}].completed`),
    })),
    metrics: null,
  };
  if (problems.length > 0) throw new StateCorruptError(path, problems.slice(0, 5));
  return migrated;
}
