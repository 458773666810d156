import { isGlob, mayOverlap } from './levelView.js';

/** A task as the overlap index sees it: its id, its level and its declared files. */
export interface OverlapTask {
  readonly id: string;
  readonly level: number;
  readonly files: readonly string[];
}

/**
 * For each task of a level-ordered list, the earlier-level tasks whose declared files may overlap its own
 * (by {@link mayOverlap}), in list order. Literal paths are looked up in a map, so a plan of literal paths
 * costs about one lookup per declared file instead of a comparison of every pair of tasks; only tasks that
 * declare globs are compared one by one.
 */
export function earlierOverlaps(tasks: readonly OverlapTask[]): string[][] {
  /** Literal path → positions of the earlier-level tasks that declare it. */
  const byPath = new Map<string, number[]>();
  /** Positions of the earlier-level tasks that declare at least one glob. */
  const globbed: number[] = [];
  const result: string[][] = [];
  let indexed = 0; // tasks before this position are in the index (all of them of earlier levels)
  tasks.forEach((task, seq) => {
    // Tasks of earlier levels enter the index once this task's level begins.
    while (indexed < seq && (tasks[indexed] as OverlapTask).level < task.level) {
      const other = tasks[indexed] as OverlapTask;
      if (other.files.some(isGlob)) globbed.push(indexed);
      else
        for (const file of other.files) {
          const list = byPath.get(file);
          if (list) list.push(indexed);
          else byPath.set(file, [indexed]);
        }
      indexed++;
    }
    const found = new Set<number>();
    if (task.files.some(isGlob)) {
      for (let i = 0; i < indexed; i++)
        if (mayOverlap(task.files, (tasks[i] as OverlapTask).files)) found.add(i);
    } else {
      for (const file of task.files) for (const i of byPath.get(file) ?? []) found.add(i);
      for (const i of globbed) if (mayOverlap(task.files, (tasks[i] as OverlapTask).files)) found.add(i);
    }
    result.push([...found].sort((a, b) => a - b).map((i) => (tasks[i] as OverlapTask).id));
  });
  return result;
}
