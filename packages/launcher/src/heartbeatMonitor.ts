import { readFile, stat } from 'node:fs/promises';
import { type Clock, type Logger, noopLogger, systemClock } from '@ordo/contracts';
import { type Heartbeat, heartbeatPath } from './heartbeat.js';
import { assertNumber, assertWorkerId, parseHeartbeat } from './internal/validate.js';

/** Options for {@link HeartbeatMonitor}. */
export interface HeartbeatMonitorOptions {
  /** The directory the workers write `worker-<id>.json` into. */
  dir: string;
  /** The time source for staleness. @default systemClock */
  clock?: Clock | undefined;
  /** Where warnings about corrupt heartbeat files go. @default noopLogger */
  logger?: Logger | undefined;
}

/** What a {@link HeartbeatMonitor} has done, for metrics. */
export interface HeartbeatMonitorStats {
  /** `stat` calls made. */
  stats: number;
  /** Files read and parsed (a `stat` showing a new version). */
  reads: number;
  /** Reads answered from the cache because the file had not changed. */
  cacheHits: number;
  /** Versions found corrupt or half-written. */
  corrupt: number;
}

interface CacheEntry {
  /** inode, mtime and size: a new atomic write always changes at least the inode. */
  version: string;
  beat: Heartbeat | undefined;
}

/**
 * Reads the heartbeat files workers write (`worker-<id>.json` in `dir`), cheaply: one `stat` per read, and
 * the file is read and parsed only when its inode, mtime or size changed.
 *
 * When to use: to tell a live-but-stuck worker from a working one. The launchers create one for you from
 * their `heartbeatDir`; use it directly for workers you start some other way.
 *
 * Gotchas: a corrupt or half-written file counts as no heartbeat and logs one warning per file version;
 * `read` never throws for a bad file. Workers should write with `writeHeartbeat` / `HeartbeatWriter`,
 * which write atomically.
 *
 * @example
 * ```ts
 * const heartbeats = new HeartbeatMonitor({ dir: '/var/run/ordo' });
 * if (await heartbeats.isStale('w1', 120_000)) console.warn('w1 looks stuck');
 * ```
 */
export class HeartbeatMonitor {
  readonly dir: string;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #cache = new Map<string, CacheEntry>();
  readonly #stats: HeartbeatMonitorStats = { stats: 0, reads: 0, cacheHits: 0, corrupt: 0 };

  constructor(options: HeartbeatMonitorOptions) {
    this.dir = options.dir;
    this.#clock = options.clock ?? systemClock;
    this.#logger = options.logger ?? noopLogger;
  }

  /**
   * The worker's last heartbeat, or `undefined` when there is none: no file yet, or a corrupt or
   * half-written one (logged as a warning).
   */
  async read(workerId: string, signal?: AbortSignal): Promise<Heartbeat | undefined> {
    signal?.throwIfAborted();
    assertWorkerId(workerId);
    const path = heartbeatPath(this.dir, workerId);
    this.#stats.stats++;
    let version: string;
    try {
      const s = await stat(path);
      version = `${s.ino}:${s.mtimeMs}:${s.size}`;
    } catch (error) {
      if (isNotFound(error)) {
        this.#cache.delete(workerId);
        return undefined;
      }
      throw error;
    }
    const cached = this.#cache.get(workerId);
    if (cached?.version === version) {
      this.#stats.cacheHits++;
      return cached.beat;
    }
    let text: string;
    try {
      text = await readFile(path, { encoding: 'utf8', signal });
    } catch (error) {
      if (isNotFound(error)) return undefined; // replaced between stat and read: the next read sees it
      throw error;
    }
    this.#stats.reads++;
    const beat = parseHeartbeat(text, workerId);
    if (!beat) {
      this.#stats.corrupt++;
      this.#logger.warn(
        { workerId, path, bytes: text.length },
        'heartbeat file is corrupt or half-written; counting it as no heartbeat (write it with writeHeartbeat, which is atomic)',
      );
    }
    this.#cache.set(workerId, { version, beat });
    return beat;
  }

  /** How old the worker's heartbeat is in ms (`clock.now() - ts`), or `undefined` when there is none. */
  async age(workerId: string, signal?: AbortSignal): Promise<number | undefined> {
    const beat = await this.read(workerId, signal);
    return beat === undefined ? undefined : this.#clock.now() - beat.ts;
  }

  /** Whether the worker's heartbeat is older than `staleAfterMs`, or missing. */
  async isStale(workerId: string, staleAfterMs: number, signal?: AbortSignal): Promise<boolean> {
    assertNumber('staleAfterMs', staleAfterMs);
    const age = await this.age(workerId, signal);
    return age === undefined || age > staleAfterMs;
  }

  /** Drops what is cached about a worker (call it when the worker is gone). */
  forget(workerId: string): void {
    this.#cache.delete(workerId);
  }

  /** Counters of stats, reads, cache hits and corrupt versions since creation. */
  stats(): Readonly<HeartbeatMonitorStats> {
    return { ...this.#stats };
  }
}

function isNotFound(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}

/**
 * Makes a heartbeat monitor (the `createX` way every long-lived ordo component is made; the class is exported for its
 * type and `instanceof`, and `new HeartbeatMonitor(…)` keeps working).
 *
 * @example
 * ```ts
 * const monitor = createHeartbeatMonitor({ dir: heartbeatDir });
 * ```
 */
export function createHeartbeatMonitor(options: HeartbeatMonitorOptions): HeartbeatMonitor {
  return new HeartbeatMonitor(options);
}
