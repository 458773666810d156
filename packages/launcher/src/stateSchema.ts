import { lazyModule } from '@ordo/contracts';
import type * as AjvModule from 'ajv';
import type { Ajv, ErrorObject } from 'ajv';
import schema from '../state.schema.json' with { type: 'json' };
import { StateCorruptError, StateVersionError } from './errors.js';
import { migrateState } from './internal/migrations.js';
import type { FeatureMetricsJson } from './metrics.js';

/** The schema version this package writes; files of older versions are migrated on load. */
export const STATE_SCHEMA_VERSION = 1;

/** A point in time in the state file: an ISO 8601 UTC string with milliseconds, or `null` if not yet. */
export type IsoTime = string | null;

/** A worker in the state file. */
export interface WorkerState {
  workerId: string;
  startedAt: IsoTime;
  readyAt: IsoTime;
  lastTaskCompletedAt: IsoTime;
  exitedAt: IsoTime;
  /** The exit code, once it exited with one. */
  exitCode: number | null;
  /** Task attempts it completed. */
  tasksCompleted: number;
  /** Task attempts that failed on it. */
  tasksFailed: number;
  /** The summed execution time of the tasks it completed. */
  taskMs: number;
  /** Where it runs (a node or host name), when its launcher says; absent for local workers. */
  node?: string | undefined;
}

/** A task in the state file. Claim, start and end times are those of its latest attempt. */
export interface TaskState {
  taskId: string;
  level: number;
  createdAt: IsoTime;
  claimedAt: IsoTime;
  /** The worker that claimed the latest attempt. */
  workerId: string | null;
  startedAt: IsoTime;
  completedAt: IsoTime;
  failedAt: IsoTime;
  /** The execution time of the latest attempt, once it ended. */
  durationMs: number | null;
  /** The verification time (validators, commit gate), when recorded. */
  verificationMs: number | null;
  /** How many times it was claimed. */
  attempts: number;
  /** The message of the latest failure. */
  error: string | null;
}

/** A level in the state file. */
export interface LevelState {
  level: number;
  startedAt: IsoTime;
  completedAt: IsoTime;
  /** `true` when the level ended because its feature was cancelled (`recordLevelCancelled`). */
  cancelled?: boolean | undefined;
}

/**
 * The state file's document (schema version {@link STATE_SCHEMA_VERSION}), as `state.schema.json`
 * describes it. Workers in start order, tasks in creation order, levels ascending.
 */
export interface LauncherState {
  schemaVersion: typeof STATE_SCHEMA_VERSION;
  /** How many changes were recorded. */
  revision: number;
  /** When the last change was recorded. */
  updatedAt: IsoTime;
  feature: { name: string; startedAt: IsoTime; completedAt: IsoTime };
  workers: WorkerState[];
  tasks: TaskState[];
  levels: LevelState[];
  /** The latest stored feature metrics. */
  metrics: FeatureMetricsJson | null;
}

/** The most problems a `STATE_CORRUPT` error lists. */
const MAX_PROBLEMS = 5;

/** ajv, loaded on the first state file checked: most processes that import the launcher never read one. */
const ajv = lazyModule<typeof AjvModule>(import.meta.url, 'ajv');

let compiled: ReturnType<Ajv['compile']> | undefined;

function validator(): ReturnType<Ajv['compile']> {
  compiled ??= new (ajv().Ajv)({
    allErrors: true,
    strict: true,
    allowUnionTypes: true,
    logger: false,
  }).compile(schema);
  return compiled;
}

/**
 * Parses and checks the text of a state file: JSON, a known schema version (older ones are migrated),
 * `state.schema.json`, and unique worker ids, task ids and level numbers.
 *
 * @param path the file's path, for error messages
 * @throws StateCorruptError (`STATE_CORRUPT`) listing what is wrong.
 * @throws StateVersionError (`STATE_VERSION_UNSUPPORTED`) for a newer schema version.
 * @example
 * ```ts
 * const state = parseState(await readFile('.ordo/state.json', 'utf8'), '.ordo/state.json');
 * ```
 */
export function parseState(text: string, path: string): LauncherState {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (error) {
    const problem = text.trim() === '' ? 'the file is empty' : `not valid JSON (${(error as Error).message})`;
    throw new StateCorruptError(path, [problem], { cause: error });
  }
  return checkState(doc, path);
}

/**
 * Checks (and migrates, if older) a state document already parsed from JSON. See {@link parseState}.
 * @throws StateCorruptError | StateVersionError
 */
export function checkState(doc: unknown, path: string): LauncherState {
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) {
    throw new StateCorruptError(path, ['the document is not a JSON object']);
  }
  const version = (doc as { schemaVersion?: unknown }).schemaVersion ?? 0;
  if (!Number.isSafeInteger(version) || (version as number) < 0) {
    throw new StateCorruptError(path, [
      `schemaVersion must be an integer >= 0, got ${JSON.stringify(version)}`,
    ]);
  }
  if ((version as number) > STATE_SCHEMA_VERSION) {
    throw new StateVersionError(path, version as number, STATE_SCHEMA_VERSION);
  }
  const current = migrateState(doc, version as number, path);
  const validate = validator();
  if (!validate(current)) {
    throw new StateCorruptError(path, (validate.errors ?? []).slice(0, MAX_PROBLEMS).map(describeError));
  }
  const state = current as LauncherState;
  const problems = [
    ...duplicates(
      state.workers.map((w) => w.workerId),
      'workerId',
    ),
    ...duplicates(
      state.tasks.map((t) => t.taskId),
      'taskId',
    ),
    ...duplicates(
      state.levels.map((l) => String(l.level)),
      'level',
    ),
  ];
  if (problems.length > 0) throw new StateCorruptError(path, problems.slice(0, MAX_PROBLEMS));
  return state;
}

function describeError(error: ErrorObject): string {
  return `${error.instancePath || '/'} ${error.message ?? 'is invalid'}`;
}

function duplicates(ids: readonly string[], name: string): string[] {
  const seen = new Set<string>();
  const out: string[] = [];
  for (const id of ids) {
    if (seen.has(id)) out.push(`duplicate ${name} ${JSON.stringify(id)}`);
    seen.add(id);
  }
  return out;
}
