import { TaskPriority } from '@ordo/contracts';
import { SchedulerError, SchedulerErrorCode } from './errors.js';
import { type Orderable, planOrder } from './planOrder.js';

/** What level planning needs of a task: an id, a priority, and the ids it depends on. */
export interface GraphNode extends Orderable {
  /** Ids of tasks that must commit successfully before this one starts. @default [] */
  readonly deps?: readonly string[] | undefined;
}

/**
 * Splits a task graph into levels with Kahn's algorithm: level 0 holds the tasks without dependencies,
 * level k the tasks whose dependencies all sit in earlier levels and at least one in level k − 1. Level 0 is
 * in {@link planOrder}'s order (priority, seeded hash, id). In a later level, a task comes by priority, then
 * by when it becomes ready (the position of its last dependency in the order so far), then as
 * {@link planOrder} puts it: a task's turn to commit then follows when its inputs committed, so in eager
 * mode no task waits to commit behind one that could only start later. The plan is the same on every run.
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
  /** Each placed task's position in the whole commit order. */
  const position = new Map<string, number>();
  while (current.length > 0) {
    const level = planOrder(current, seed);
    if (placed > 0) {
      // A task is ready once its last dependency committed: commit it in that order (priority first; the
      // seeded order breaks ties, as the sort is stable), so no task waits behind one that became ready later.
      const ready = new Map(level.map((t) => [t.id, readyAt(t, position)]));
      level.sort(
        (a, b) =>
          (a.priority ?? TaskPriority.NORMAL) - (b.priority ?? TaskPriority.NORMAL) ||
          (ready.get(a.id) as number) - (ready.get(b.id) as number),
      );
    }
    for (const [i, task] of level.entries()) position.set(task.id, placed + i);
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

/** The commit position of `task`'s last dependency (all of them are placed in earlier levels). */
function readyAt(task: GraphNode, position: ReadonlyMap<string, number>): number {
  let last = -1;
  for (const dep of task.deps ?? []) last = Math.max(last, position.get(dep) as number);
  return last;
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
