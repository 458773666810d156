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
  let small = n <= MAX_PACKED;
  for (let i = 0; i < n; i++) {
    const task = tasks[i] as T;
    const priority = task.priority ?? TaskPriority.NORMAL;
    priorities[i] = priority;
    hashes[i] = seededHash(task.id, seedText);
    if (small && !(Number.isInteger(priority) && priority >= 0 && priority < 16)) small = false;
  }
  const indexes = small ? packedOrder(priorities, hashes) : comparedOrder(priorities, hashes);
  // Equal priority and hash (a 32-bit collision, about 5 % of runs of 20,000 tasks) fall back to the id.
  for (let start = 0; start < n; ) {
    let end = start + 1;
    const first = indexes[start] as number;
    while (
      end < n &&
      priorities[indexes[end] as number] === priorities[first] &&
      hashes[indexes[end] as number] === hashes[first]
    ) {
      end++;
    }
    if (end - start > 1) {
      const run = Array.from(indexes.subarray(start, end)).sort((a, b) =>
        compareIds(tasks[a] as T, tasks[b] as T),
      );
      indexes.set(run, start);
    }
    start = end;
  }
  const ordered = new Array<T>(n);
  for (let i = 0; i < n; i++) ordered[i] = tasks[indexes[i] as number] as T;
  return ordered;
}

/** The most tasks whose index fits beside a 4-bit priority and a 32-bit hash in a double's 53 bits. */
const MAX_PACKED = 2 ** 17;

/**
 * Sorts by priority then hash with the engine's native numeric sort: each key is `priority · 2^49 + hash ·
 * 2^17 + index`, exact in a double, so no comparator runs. For integer priorities 0–15 and up to 2^17 tasks.
 */
function packedOrder(priorities: Float64Array, hashes: Uint32Array): Uint32Array {
  const n = priorities.length;
  const keys = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    keys[i] = (priorities[i] as number) * 2 ** 49 + (hashes[i] as number) * MAX_PACKED + i;
  }
  keys.sort();
  const indexes = new Uint32Array(n);
  for (let i = 0; i < n; i++) {
    const key = keys[i] as number;
    // key mod 2^17 without a floating-point `%` (slow): the division by a power of two is exact.
    indexes[i] = key - Math.floor(key / MAX_PACKED) * MAX_PACKED;
  }
  return indexes;
}

/** The same order for any priorities, with a comparator. */
function comparedOrder(priorities: Float64Array, hashes: Uint32Array): Uint32Array {
  const indexes = new Uint32Array(priorities.length);
  for (let i = 0; i < indexes.length; i++) indexes[i] = i;
  return indexes.sort((a, b) => {
    const byPriority = (priorities[a] as number) - (priorities[b] as number);
    if (byPriority !== 0) return byPriority;
    return (hashes[a] as number) - (hashes[b] as number);
  });
}

/** UTF-16 code-unit order, never locale order. */
function compareIds(a: Orderable, b: Orderable): number {
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}
