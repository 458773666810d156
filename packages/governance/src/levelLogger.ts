import type { Logger } from '@ordo/contracts';
import type { ConfigLogLevel } from './config.js';

const RANK: Readonly<Record<ConfigLogLevel, number>> = { debug: 0, info: 1, warn: 2, error: 3, silent: 4 };
const METHODS = ['debug', 'info', 'warn', 'error'] as const;

/** A {@link Logger} that drops lines below a level that can change while running (`log.level`). */
export interface LevelLogger {
  /** The filtered logger; its children follow the same level. */
  readonly logger: Logger;
  /** The level in force. */
  readonly level: ConfigLogLevel;
  /** Changes the level for this logger and every child made from it (a config hot reload). */
  setLevel(level: ConfigLogLevel): void;
}

/**
 * Wraps a host's logger so lines below `level` are dropped before they reach it: the runtime's `log.level`.
 * The host's own logger may filter more; this never lets more through than it would.
 *
 * @example
 * ```ts
 * const levels = createLevelLogger(pino(), config.log.level);
 * levels.logger.debug('dropped at info');
 * levels.setLevel('debug'); // after a reload
 * ```
 */
export function createLevelLogger(base: Logger, level: ConfigLogLevel): LevelLogger {
  if (!Object.hasOwn(RANK, level)) {
    throw new TypeError(
      `createLevelLogger: unknown level ${String(level)}; use debug, info, warn, error or silent.`,
    );
  }
  let min = RANK[level];
  let current = level;
  const wrap = (inner: Logger): Logger => {
    const out = {
      child: (bindings: Parameters<Logger['child']>[0]) => wrap(inner.child(bindings)),
    } as Logger;
    for (const method of METHODS) {
      const rank = RANK[method];
      out[method] = ((...args: Parameters<Logger['info']>) => {
        if (rank >= min) inner[method](...args);
      }) as Logger['info'];
    }
    return out;
  };
  return {
    logger: wrap(base),
    get level() {
      return current;
    },
    setLevel(next) {
      if (!Object.hasOwn(RANK, next)) throw new TypeError(`setLevel: unknown level ${String(next)}.`);
      current = next;
      min = RANK[next];
    },
  };
}
