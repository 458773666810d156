import { TaskPriority } from '@ordo/contracts';

/** What ordering needs of a task. */
export interface Orderable {
  /** Unique within one run. */
  readonly id: string;
  /**
   * Lower runs and commits first (a {@link TaskPriority}: CRITICAL 0 … HEARTBEAT 4).
   * @default TaskPriority.NORMAL
   */
  readonly priority?: number | undefined;
}

/**
 * A seeded 32-bit FNV-1a hash of `id`: the same on every machine and every run for the same seed.
 *
 * @example
 * ```ts
 * seededHash('build', 'seed-1') === seededHash('build', 'seed-1'); // true
 * ```
 */
export function seededHash(id: string, seed: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < seed.length; i++) h = Math.imul(h ^ seed.charCodeAt(i), 0x01000193);
  h = Math.imul(h ^ 0xff, 0x01000193);
  for (let i = 0; i < id.length; i++) h = Math.imul(h ^ id.charCodeAt(i), 0x01000193);
  // Final avalanche (murmur3 fmix32), so ids that differ only in their last character spread out.
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * Sorts tasks into the scheduler's deterministic order: priority ascending, then {@link seededHash} of the
 * id, then the id itself (UTF-16 code-unit order, never locale order). Returns a new array.
 *
 * When to use: to know before running in which order `schedule` will commit results.
 *
 * @example
 * ```ts
 * planOrder([{ id: 'b' }, { id: 'a', priority: TaskPriority.HIGH }], 'seed').map((t) => t.id); // ['a', 'b']
 * ```
 */
export function planOrder<T extends Orderable>(tasks: readonly T[], seed: string | number = '0'): T[] {
  const seedText = String(seed);
  const n = tasks.length;
  const priorities = new Float64Array(n);
  const hashes = new Uint32Array(n);
  const indexes = new Uint32Array(n);
  for (let i = 0; i < n; i++) {
    const task = tasks[i] as T;
    priorities[i] = task.priority ?? TaskPriority.NORMAL;
    hashes[i] = seededHash(task.id, seedText);
    indexes[i] = i;
  }
  indexes.sort((a, b) => {
    const byPriority = (priorities[a] as number) - (priorities[b] as number);
    if (byPriority !== 0) return byPriority;
    const byHash = (hashes[a] as number) - (hashes[b] as number);
    if (byHash !== 0) return byHash;
    const idA = (tasks[a] as T).id;
    const idB = (tasks[b] as T).id;
    return idA < idB ? -1 : idA > idB ? 1 : 0;
  });
  const ordered = new Array<T>(n);
  for (let i = 0; i < n; i++) ordered[i] = tasks[indexes[i] as number] as T;
  return ordered;
}
