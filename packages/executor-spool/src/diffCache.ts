import { LRUCache } from 'lru-cache';
import type { SpoolIssue } from './errors.js';

/** Sizes of a {@link DiffCache}. */
export interface DiffCacheOptions {
  /**
   * Most bytes of diff (plus a small charge per validator result) the cache holds; the least recently used
   * entries go first.
   * @default 67108864 (64 MiB)
   */
  maxBytes?: number | undefined;
  /**
   * Most entries the cache holds.
   * @default 10000
   */
  maxEntries?: number | undefined;
}

/** How often the memo of diffs and validator results was used. */
export interface DiffCacheStats {
  /** Diffs computed (cache misses). */
  diffsComputed: number;
  /** Diffs served from the cache. */
  diffHits: number;
  /** Validator calls made (cache misses). */
  validationsRun: number;
  /** Validator results served from the cache. */
  validationHits: number;
}

const validatorIds = new WeakMap<object, number>();
let nextValidatorId = 0;

/**
 * The memo of a spool's diffs and validator results, keyed by (path, base blob id, staged blob id) and the
 * validator: a file whose content did not change is never diffed or validated twice. Pass one instance to
 * several spools (`createSpool({ diffCache })`) to share it.
 *
 * Gotchas: a validator must be a pure function of the change it is given; its results are reused for
 * the same content. Give a new function (not the same one) when its rules change.
 *
 * @example
 * ```ts
 * const diffCache = new DiffCache({ maxBytes: 16 * 1024 * 1024 });
 * const a = createSpool({ root, diffCache });
 * const b = createSpool({ root, diffCache });
 * ```
 */
export class DiffCache {
  readonly #cache: LRUCache<string, string | Buffer | readonly SpoolIssue[]>;
  readonly #stats: DiffCacheStats = { diffsComputed: 0, diffHits: 0, validationsRun: 0, validationHits: 0 };

  constructor(options: DiffCacheOptions = {}) {
    this.#cache = new LRUCache({
      max: options.maxEntries ?? 10_000,
      maxSize: options.maxBytes ?? 64 * 1024 * 1024,
      sizeCalculation: (value) =>
        typeof value === 'string' || Buffer.isBuffer(value)
          ? Math.max(1, value.length)
          : 64 + value.length * 64,
    });
  }

  /** Counters since this cache was made. */
  get stats(): Readonly<DiffCacheStats> {
    return { ...this.#stats };
  }

  /** Drops every entry (the counters stay). */
  clear(): void {
    this.#cache.clear();
  }

  /** @internal */
  getDiff(key: string): string | Buffer | undefined {
    const hit = this.#cache.get(`d\0${key}`);
    if (typeof hit !== 'string' && !Buffer.isBuffer(hit)) return undefined;
    this.#stats.diffHits++;
    return hit;
  }

  /** @internal */
  setDiff(key: string, diff: string | Buffer): void {
    this.#stats.diffsComputed++;
    if (diff.length <= (this.#cache.maxSize || Number.POSITIVE_INFINITY)) this.#cache.set(`d\0${key}`, diff);
  }

  /** @internal */
  async validation(
    validator: object,
    key: string,
    run: () => Promise<readonly SpoolIssue[]>,
  ): Promise<readonly SpoolIssue[]> {
    let id = validatorIds.get(validator);
    if (id === undefined) {
      id = nextValidatorId++;
      validatorIds.set(validator, id);
    }
    const cacheKey = `v${id}\0${key}`;
    const hit = this.#cache.get(cacheKey);
    if (hit !== undefined && typeof hit !== 'string' && !Buffer.isBuffer(hit)) {
      this.#stats.validationHits++;
      return hit;
    }
    this.#stats.validationsRun++;
    const issues = await run();
    this.#cache.set(cacheKey, issues);
    return issues;
  }
}
