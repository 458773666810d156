/** The fields of `process.memoryUsage()` that ordo reads, in bytes. */
export interface MemoryUsage {
  rss: number;
  heapTotal: number;
  heapUsed: number;
  external: number;
  arrayBuffers: number;
}

/**
 * Where memory readings come from. The default is `process.memoryUsage`; tests pass a scripted source to
 * drive a monitor through its levels.
 */
export type MemorySource = () => MemoryUsage;

/** One memory reading against a limit. */
export interface MemorySnapshot extends MemoryUsage {
  /** The limit the reading is measured against, in bytes (cgroup limit or total memory by default). */
  limit: number;
  /** The watched figure (rss or heapUsed) divided by `limit`, from 0 to 1 (may exceed 1). */
  fractionOfLimit: number;
  /** When the reading was taken, in epoch ms on the monitor's clock. */
  at: number;
}

/** How close to its limit the process is: each level has a threshold (70/85/95 % by default). */
export type MemoryLevel = 'normal' | 'warning' | 'critical' | 'emergency';

/** The memory levels from calmest to most severe. */
export const MEMORY_LEVELS: readonly MemoryLevel[] = ['normal', 'warning', 'critical', 'emergency'];

/** Something that knows the current memory level (a memory monitor). */
export interface MemoryPressure {
  /** The current level. */
  readonly level: MemoryLevel;
  /** The most recent snapshot, if any reading was taken yet. */
  readonly lastSnapshot: MemorySnapshot | undefined;
}
