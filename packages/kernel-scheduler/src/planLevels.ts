import { SchedulerError, SchedulerErrorCode } from './errors.js';
import { type Orderable, planOrder } from './planOrder.js';

/** What level planning needs of a task: an id, a priority, and the ids it depends on. */
export interface GraphNode extends Orderable {
  /** Ids of tasks that must commit successfully before this one starts. @default [] */
  readonly deps?: readonly string[] | undefined;
}

/**
 * Splits a task graph into levels with Kahn's algorithm: level 0 holds the tasks without dependencies,
 * level k the tasks whose dependencies all sit in earlier levels and at least one in level k − 1. Inside a
 * level the order is {@link planOrder}'s (priority, seeded hash, id), so the plan is the same on every run.
 *
 * Throws `SCHEDULER_DUPLICATE_ID` for a repeated id, `SCHEDULER_UNKNOWN_DEP` for a dependency that is not in
 * the graph and `SCHEDULER_CYCLE` (with `details.cycle`) when the graph has a cycle, before anything runs.
 *
 * @example
 * ```ts
 * planLevels([{ id: 'test', deps: ['build'] }, { id: 'build' }], 'seed').map((l) => l.map((t) => t.id));
 * // [['build'], ['test']]
 * ```
 */
export function planLevels<T extends GraphNode>(tasks: readonly T[], seed: string | number = '0'): T[][] {
  const byId = indexById(tasks);
  const remaining = new Map<string, number>();
  const dependents = new Map<string, string[]>();
  for (const task of tasks) {
    const deps = new Set(task.deps ?? []);
    for (const dep of deps) {
      if (!byId.has(dep)) {
        throw new SchedulerError(
          SchedulerErrorCode.UNKNOWN_DEP,
          `Task "${task.id}" depends on "${dep}", which is not in the graph. Add a task with id "${dep}" or remove the dependency.`,
          { details: { id: task.id, dependency: dep } },
        );
      }
      const list = dependents.get(dep);
      if (list) list.push(task.id);
      else dependents.set(dep, [task.id]);
    }
    remaining.set(task.id, deps.size);
  }

  const levels: T[][] = [];
  let current = tasks.filter((t) => remaining.get(t.id) === 0);
  let placed = 0;
  while (current.length > 0) {
    const level = planOrder(current, seed);
    levels.push(level);
    placed += level.length;
    const next: T[] = [];
    for (const task of level) {
      for (const dependent of dependents.get(task.id) ?? []) {
        const left = (remaining.get(dependent) as number) - 1;
        remaining.set(dependent, left);
        if (left === 0) next.push(byId.get(dependent) as T);
      }
    }
    current = next;
  }
  if (placed < tasks.length) {
    const cycle = findCycle(tasks, remaining, byId);
    throw new SchedulerError(
      SchedulerErrorCode.CYCLE,
      `The task graph has a cycle: ${[...cycle, cycle[0]].join(' -> ')}. Remove one of these dependencies.`,
      { details: { cycle } },
    );
  }
  return levels;
}

/** Maps ids to tasks, throwing `SCHEDULER_DUPLICATE_ID` on the first repeated id. */
export function indexById<T extends Orderable>(tasks: readonly T[]): Map<string, T> {
  const byId = new Map<string, T>();
  for (const task of tasks) {
    if (byId.has(task.id)) throw duplicateIdError(task.id);
    byId.set(task.id, task);
  }
  return byId;
}

/** The `SCHEDULER_DUPLICATE_ID` error for `id`. */
export function duplicateIdError(id: string): SchedulerError {
  return new SchedulerError(
    SchedulerErrorCode.DUPLICATE_ID,
    `Two tasks have the id "${id}". Give every task of a run a unique id.`,
    { details: { id } },
  );
}

/** Walks dependencies among the unplaced tasks (each has one left) until an id repeats: that loop is a cycle. */
function findCycle<T extends GraphNode>(
  tasks: readonly T[],
  remaining: ReadonlyMap<string, number>,
  byId: ReadonlyMap<string, T>,
): string[] {
  const stuck = (id: string) => (remaining.get(id) ?? 0) > 0;
  const start = tasks.find((t) => stuck(t.id)) as T;
  const path: string[] = [];
  const seen = new Map<string, number>();
  let id = start.id;
  while (!seen.has(id)) {
    seen.set(id, path.length);
    path.push(id);
    const deps = byId.get(id)?.deps ?? [];
    id = deps.find(stuck) as string;
  }
  // path runs task → its dependency → …; reverse it so the cycle reads in dependency order.
  return path.slice(seen.get(id)).reverse();
}
