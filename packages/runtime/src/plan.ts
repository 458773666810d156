import { createHash } from 'node:crypto';
import path from 'node:path';
import { lazyModule } from '@ordo/contracts';
import { findUnsafeKey, parseBoundedYaml, readBoundedText } from '@ordo/governance/yaml';
import { planLevels } from '@ordo/kernel-scheduler/plan';
import type * as Yaml from 'yaml';
import type { Document, LineCounter } from 'yaml';
import { PlanInvalidError, type PlanIssue, PlanUnreadableError } from './errors.js';
import { planSchema } from './internal/planSchema.js';
import type { Plan, PlanInput, PlanSource, PlanTask } from './types.js';

/** yaml, for the line of an issue; the bounded reader has loaded it by then. */
const yaml = lazyModule<typeof Yaml>(import.meta.url, 'yaml');

const PRIORITY_NAMES = { CRITICAL: 0, HIGH: 1, NORMAL: 2, LOW: 3 } as const;

/** The largest plan text or file accepted, in bytes (8 MiB). */
export const PLAN_MAX_BYTES = 8 * 1024 * 1024;

/** The deepest nesting a plan may have, `run.input` included. */
export const PLAN_MAX_DEPTH = 64;

/** Options for {@link parsePlan}. */
export interface ParsePlanOptions {
  /** Names the plan in error messages. @default 'object' */
  source?: string | undefined;
  /** Relative module paths resolve against it. @default process.cwd() */
  baseDir?: string | undefined;
  /** Test hook: maps an issue path to its line in the text the plan came from. @internal */
  lineOf?: ((path: readonly PropertyKey[]) => number | undefined) | undefined;
}

/**
 * Validates a plan object and fills in its defaults: `seed` 0, `deps` [], `priority` NORMAL, module
 * `export` 'default', module paths made absolute. Checks ids are unique, dependencies exist and form no
 * cycle.
 *
 * @throws PlanInvalidError (`PLAN_INVALID`) listing every bad field with its path.
 * @example
 * ```ts
 * const plan = parsePlan({ feature: 'docs', tasks: [{ id: 'a', files: ['a.md'], run: { shell: 'echo a > a.md' } }] });
 * plan.tasks[0].priority; // 2 (NORMAL)
 * ```
 */
export function parsePlan(input: unknown, options: ParsePlanOptions = {}): Plan {
  const source = options.source ?? 'object';
  const baseDir = options.baseDir ?? process.cwd();
  const lineOf = options.lineOf ?? (() => undefined);
  const unsafe = findUnsafeKey(input, PLAN_MAX_DEPTH);
  if (unsafe) {
    const where = unsafe.path.map((key) => (/^\d+$/.test(key) ? Number(key) : key));
    throw new PlanInvalidError(source, [toIssue(where, unsafe.reason, lineOf)]);
  }
  const parsed = planSchema().safeParse(input);
  // Every bad field in one pass: the id and dependency checks run on the raw tasks too, so an unknown
  // dependency is named beside a schema error instead of only after it is fixed.
  const issues: PlanIssue[] = parsed.success
    ? []
    : parsed.error.issues.map((issue) => toIssue(issue.path, issue.message, lineOf));
  const rawTasks = parsed.success ? parsed.data.tasks : tasksOf(input);
  issues.push(...graphIssues(rawTasks, lineOf));
  if (issues.length === 0 && parsed.success) {
    try {
      planLevels(parsed.data.tasks.map((t) => ({ id: t.id, deps: t.deps ?? [] })));
    } catch (error) {
      const cycle = (error as { details?: { cycle?: string[] } }).details?.cycle ?? [];
      issues.push(
        toIssue(['tasks'], `the dependencies form a cycle: ${[...cycle, cycle[0]].join(' -> ')}`, lineOf),
      );
    }
  }
  if (issues.length > 0 || !parsed.success) throw new PlanInvalidError(source, inTaskOrder(issues));
  const plan = parsed.data;

  const tasks: PlanTask[] = plan.tasks.map((task) => ({
    id: task.id,
    deps: [...new Set(task.deps ?? [])],
    priority: typeof task.priority === 'string' ? PRIORITY_NAMES[task.priority] : (task.priority ?? 2),
    files: [...task.files],
    timeoutMs: task.timeoutMs,
    // Only when set, so the digest of a plan without it does not change.
    ...(task.preemptable === true ? { preemptable: true } : {}),
    run:
      'shell' in task.run
        ? { kind: 'shell', shell: task.run.shell }
        : {
            kind: 'module',
            module: path.resolve(baseDir, task.run.module),
            export: task.run.export ?? 'default',
            input: task.run.input ?? null,
          },
  }));
  const body = { feature: plan.feature, seed: plan.seed ?? 0, tasks };
  return { ...body, digest: createHash('sha256').update(JSON.stringify(body)).digest('hex') };
}

/**
 * Parses plan text (YAML, or JSON, which is YAML too) and validates it with {@link parsePlan}; issues
 * carry the line they are on.
 *
 * @throws PlanInvalidError (`PLAN_INVALID`) for a syntax error (with its line) or bad fields.
 */
export function parsePlanText(text: string, options: ParsePlanOptions = {}): Plan {
  const source = options.source ?? 'text';
  const parsed = parseBoundedYaml(text, { maxBytes: PLAN_MAX_BYTES, maxDepth: PLAN_MAX_DEPTH });
  if (!parsed.ok) {
    const where = (parsed.path ?? []).map((key) => (/^\d+$/.test(key) ? Number(key) : key));
    const message = parsed.kind === 'syntax' ? `not valid YAML/JSON: ${parsed.reason}` : parsed.reason;
    throw new PlanInvalidError(source, [{ path: formatPath(where), message, line: parsed.line }]);
  }
  const { doc, lineCounter } = parsed;
  return parsePlan(parsed.value, { ...options, source, lineOf: (p) => lineIn(doc, lineCounter, p) });
}

/**
 * Reads and validates a plan file (`.yaml`, `.yml` or `.json`); module paths resolve against its
 * directory.
 *
 * @throws PlanUnreadableError (`PLAN_UNREADABLE`) when it cannot be read; PlanInvalidError otherwise.
 */
export async function loadPlan(file: string, signal?: AbortSignal): Promise<Plan> {
  signal?.throwIfAborted();
  const ext = path.extname(file).toLowerCase();
  if (!['.yaml', '.yml', '.json'].includes(ext)) {
    throw new PlanUnreadableError(
      `Cannot read the plan ${file}: expected a .yaml, .yml or .json file. Rename it, or pass the plan as an object.`,
      { details: { file } },
    );
  }
  const read = await readBoundedText(file, PLAN_MAX_BYTES, signal);
  if (!read.ok && read.code === 'EFBIG') {
    throw new PlanInvalidError(file, [
      { path: '', message: `the plan is larger than ${PLAN_MAX_BYTES} bytes; split the feature` },
    ]);
  }
  if (!read.ok) {
    const why = read.code === 'ENOTREG' ? read.message : read.code;
    throw new PlanUnreadableError(
      `Cannot read the plan ${file} (${why}). Check the path and its permissions; a plan must be a regular file.`,
      { cause: read.cause, details: { file } },
    );
  }
  return parsePlanText(read.text, { source: file, baseDir: path.dirname(path.resolve(file)) });
}

/**
 * Turns anything `runFeature` accepts into a {@link Plan}: a file path is loaded, an object validated
 * (its relative module paths resolve against `baseDir`), an already parsed plan validated again and its
 * `digest` recomputed, so a plan changed after parsing, or an object that only looks like a parsed plan,
 * is refused instead of trusted.
 *
 * @throws PlanInvalidError (`PLAN_INVALID`) for bad fields or a `digest` that does not match the plan.
 */
export async function resolvePlan(
  source: PlanSource | Plan,
  baseDir: string,
  signal?: AbortSignal,
): Promise<Plan> {
  if (typeof source === 'string') return loadPlan(path.resolve(baseDir, source), signal);
  if (!hasDigest(source)) return parsePlan(source satisfies PlanInput, { baseDir });
  const plan = parsePlan(planInputOf(source), { baseDir, source: 'object (a parsed plan)' });
  if (plan.digest !== source.digest) {
    throw new PlanInvalidError('object (a parsed plan)', [
      {
        path: 'digest',
        message:
          'does not match the plan: it was changed after parsePlan/loadPlan made it. Parse the changed plan again (or pass it without `digest`)',
      },
    ]);
  }
  return plan;
}

function hasDigest(value: unknown): value is Record<string, unknown> & { digest: unknown } {
  return isRecord(value) && Object.hasOwn(value, 'digest');
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * A parsed plan's fields in the shape `parsePlan` takes (`run.kind` dropped, no `digest`); anything that
 * does not have a parsed plan's shape is passed on as it is, for `parsePlan` to name.
 */
function planInputOf(plan: Record<string, unknown>): unknown {
  const { digest: _digest, ...rest } = plan;
  if (!Array.isArray(rest.tasks)) return rest;
  const tasks = rest.tasks.map((task: unknown) => {
    if (!isRecord(task) || !isRecord(task.run)) return task;
    const { run, timeoutMs, ...fields } = task;
    const { kind, ...runFields } = run;
    const input = kind === 'shell' || kind === 'module' ? runFields : run;
    return { ...fields, ...(timeoutMs === undefined ? {} : { timeoutMs }), run: input };
  });
  return { ...rest, tasks };
}

/** The raw `tasks` entries of an input that failed the schema, as far as they have a string `id`. */
function tasksOf(input: unknown): readonly { id: string; deps?: readonly unknown[] | undefined }[] {
  if (!isRecord(input) || !Array.isArray(input.tasks)) return [];
  return input.tasks.map((task: unknown) => {
    const id = isRecord(task) && typeof task.id === 'string' ? task.id : '';
    const deps = isRecord(task) && Array.isArray(task.deps) ? task.deps : undefined;
    return { id, deps };
  });
}

/** Duplicate ids, self-dependencies and dependencies on no task. Tasks without an id are skipped. */
function graphIssues(
  tasks: readonly { id: string; deps?: readonly unknown[] | undefined }[],
  lineOf: (path: readonly PropertyKey[]) => number | undefined,
): PlanIssue[] {
  const issues: PlanIssue[] = [];
  const seen = new Map<string, number>();
  tasks.forEach((task, index) => {
    if (task.id === '') return;
    const first = seen.get(task.id);
    if (first !== undefined) {
      issues.push(
        toIssue(['tasks', index, 'id'], `duplicate id "${task.id}" (also tasks[${first}])`, lineOf),
      );
    } else seen.set(task.id, index);
  });
  tasks.forEach((task, index) => {
    (task.deps ?? []).forEach((dep, d) => {
      if (typeof dep !== 'string') return;
      const where = ['tasks', index, 'deps', d];
      if (dep === task.id) issues.push(toIssue(where, `task "${task.id}" depends on itself`, lineOf));
      else if (!seen.has(dep)) issues.push(toIssue(where, `no task has the id "${dep}"`, lineOf));
    });
  });
  return issues;
}

/** Issues sorted by the task they are in (plan-level ones first), keeping their order within a task. */
function inTaskOrder(issues: readonly PlanIssue[]): PlanIssue[] {
  const taskIndex = (issue: PlanIssue) => {
    const match = /^tasks\[(\d+)\]/.exec(issue.path);
    return match ? Number(match[1]) : -1;
  };
  return issues
    .map((issue, order) => ({ issue, order, task: taskIndex(issue) }))
    .sort((a, b) => a.task - b.task || a.order - b.order)
    .map(({ issue }) => issue);
}

function toIssue(
  where: readonly PropertyKey[],
  message: string,
  lineOf: (path: readonly PropertyKey[]) => number | undefined,
): PlanIssue {
  const line = lineOf(where);
  return { path: formatPath(where), message, ...(line === undefined ? {} : { line }) };
}

/** `['tasks', 2, 'deps', 0]` → `tasks[2].deps[0]`. */
function formatPath(where: readonly PropertyKey[]): string {
  let out = '';
  for (const key of where) {
    if (typeof key === 'number') out += `[${key}]`;
    else out += out === '' ? String(key) : `.${String(key)}`;
  }
  return out;
}

/** The line of the deepest node of `where` present in the document. */
function lineIn(doc: Document, lineCounter: LineCounter, where: readonly PropertyKey[]): number | undefined {
  for (let depth = where.length; depth >= 0; depth--) {
    const node = doc.getIn(where.slice(0, depth) as unknown[], true);
    if (yaml().isNode(node) && node.range) return lineCounter.linePos(node.range[0]).line;
  }
  return undefined;
}
