import type { IncomingMessage, ServerResponse } from 'node:http';
import { type BreakerState, MEMORY_LEVELS, type MemoryLevel, type MemoryPressure } from '@ordo/contracts';
import type { FeatureFlags } from './featureFlags.js';

/** Options for {@link createHealthHandler}. Every part is optional; what is given is reported. */
export interface HealthHandlerOptions {
  /** The memory monitor: its level and latest reading. */
  monitor?: MemoryPressure | undefined;
  /** The task queue: its depth. */
  queue?: { readonly depth: number; readonly maxDepth: number } | undefined;
  /** Circuit breakers, reported by name with their state. */
  breakers?: Iterable<{ readonly name: string; readonly state: BreakerState }> | undefined;
  /** The worker pool: its worker counts and whether it is degraded. */
  pool?:
    | {
        stats(): {
          workers: number;
          active: number;
          idle: number;
          starting: number;
          degraded: boolean;
          restartsInLastHour: number;
        };
      }
    | undefined;
  /**
   * The feature flags in force (a function is read at each request), reported as `flags`. While
   * `memoryGovernance` is off, memory is reported but never makes the service unhealthy.
   * @default not reported
   */
  flags?: FeatureFlags | (() => FeatureFlags) | undefined;
  /**
   * The memory level from which the service answers 503.
   * @default 'critical'
   */
  unhealthyAt?: MemoryLevel | undefined;
}

/** The JSON a health handler answers with. */
export interface HealthReport {
  /** `ok` (200) or `unhealthy` (503). */
  status: 'ok' | 'unhealthy';
  /** Why it is unhealthy (empty when ok). */
  reasons: string[];
  memory?: { level: MemoryLevel; fractionOfLimit: number | undefined; rss: number | undefined };
  queue?: { depth: number; maxDepth: number };
  breakers?: Record<string, BreakerState>;
  /** The feature flags in force, by name. */
  flags?: Record<string, boolean>;
  workers?: {
    total: number;
    active: number;
    idle: number;
    starting: number;
    degraded: boolean;
    restartsInLastHour: number;
  };
}

/** A `(req, res)` health endpoint, with `report()` for the same data without HTTP. */
export interface HealthHandler {
  (req: IncomingMessage, res: ServerResponse): void;
  report(): HealthReport;
}

/**
 * Builds a health endpoint: 200 `{ status: 'ok', … }`, or 503 `{ status: 'unhealthy', reasons, … }` while
 * memory is at or above `unhealthyAt` (critical by default, and only while the `memoryGovernance` flag is
 * on) or the worker pool is degraded. The body reports the memory level, queue depth, each breaker's state,
 * the worker counts and the feature flags.
 *
 * Gotchas: an open breaker is reported but keeps the status `ok`: a dependency being down does not make
 * this process unhealthy, and restarting it would not help.
 *
 * @example
 * ```ts
 * const health = createHealthHandler({ monitor, queue: pool.queue, breakers: [apiBreaker], pool });
 * http.createServer((req, res) => (req.url === '/health' ? health(req, res) : route(req, res)));
 * ```
 */
export function createHealthHandler(options: HealthHandlerOptions): HealthHandler {
  const unhealthyAt = MEMORY_LEVELS.indexOf(options.unhealthyAt ?? 'critical');
  const report = (): HealthReport => {
    const reasons: string[] = [];
    const out: HealthReport = { status: 'ok', reasons };
    const { monitor, queue, breakers, pool } = options;
    const flags = typeof options.flags === 'function' ? options.flags() : options.flags;
    if (flags) out.flags = { ...flags };
    if (monitor) {
      const snapshot = monitor.lastSnapshot;
      out.memory = { level: monitor.level, fractionOfLimit: snapshot?.fractionOfLimit, rss: snapshot?.rss };
      const governed = flags?.memoryGovernance !== false;
      if (governed && MEMORY_LEVELS.indexOf(monitor.level) >= unhealthyAt) {
        reasons.push(`memory level ${monitor.level}`);
      }
    }
    if (queue) out.queue = { depth: queue.depth, maxDepth: queue.maxDepth };
    if (breakers) {
      out.breakers = {};
      for (const breaker of breakers) out.breakers[breaker.name] = breaker.state;
    }
    if (pool) {
      const s = pool.stats();
      out.workers = {
        total: s.workers,
        active: s.active,
        idle: s.idle,
        starting: s.starting,
        degraded: s.degraded,
        restartsInLastHour: s.restartsInLastHour,
      };
      if (s.degraded) reasons.push('worker pool degraded (restart budget spent)');
    }
    if (reasons.length > 0) out.status = 'unhealthy';
    return out;
  };
  const handler = (_req: IncomingMessage, res: ServerResponse) => {
    const body = report();
    const text = JSON.stringify(body);
    res.writeHead(body.status === 'ok' ? 200 : 503, {
      'content-type': 'application/json; charset=utf-8',
      'cache-control': 'no-store',
      'content-length': Buffer.byteLength(text),
    });
    res.end(text);
  };
  return Object.assign(handler, { report });
}
