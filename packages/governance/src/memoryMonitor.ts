import {
  type Clock,
  type Logger,
  MEMORY_LEVELS,
  type MemoryLevel,
  type MemoryPressure,
  type MemorySnapshot,
  type MemorySource,
  noopLogger,
  systemClock,
  type TimerHandle,
} from '@ordo/contracts';
import { EventEmitter } from 'eventemitter3';
import { GovernanceOptionsError } from './errors.js';
import { positive } from './internal/validate.js';
import { detectMemoryLimit } from './memoryLimit.js';

/** The fraction of the limit at which each level starts. */
export interface MemoryThresholds {
  /** @default 0.70 */
  warning: number;
  /** @default 0.85 */
  critical: number;
  /** @default 0.95 */
  emergency: number;
}

/** The settings of a {@link MemoryMonitor} that can change while it runs (see `configure`). */
export interface MemoryMonitorSettings {
  /**
   * How often `start()` takes a reading, in ms.
   * @default 5000
   */
  intervalMs?: number | undefined;
  /**
   * Where each level starts, as fractions of the limit; must rise strictly.
   * @default { warning: 0.70, critical: 0.85, emergency: 0.95 }
   */
  thresholds?: Partial<MemoryThresholds> | undefined;
  /**
   * How far (as a fraction of the limit) usage must fall below a level's threshold before that level
   * clears, so a reading hovering at a threshold never flaps.
   * @default 0.10
   */
  hysteresis?: number | undefined;
}

/** Options for {@link MemoryMonitor}. */
export interface MemoryMonitorOptions extends MemoryMonitorSettings {
  /**
   * The limit readings are measured against, in bytes; `'auto'` (as in the config) is the default.
   * @default 'auto': the cgroup memory limit if one is set, else total memory ({@link detectMemoryLimit})
   */
  limitBytes?: number | 'auto' | undefined;
  /**
   * Which figure is compared with the limit.
   * @default 'rss'
   */
  basis?: 'rss' | 'heapUsed' | undefined;
  /**
   * Where readings come from: anything shaped like `process.memoryUsage()`. Tests pass a scripted source.
   * @default process.memoryUsage
   */
  source?: MemorySource | undefined;
  /** @default systemClock */
  clock?: Clock | undefined;
  /** Each snapshot is logged at debug, each level change at info (falling) or warn (rising). @default noopLogger */
  logger?: Logger | undefined;
}

/** A change of memory level, as the `level` event reports it. */
export interface MemoryLevelChange {
  from: MemoryLevel;
  to: MemoryLevel;
  /** `up` when pressure rose, `down` when it eased. */
  direction: 'up' | 'down';
  /** The reading that caused the change. */
  snapshot: MemorySnapshot;
}

/** The events of a {@link MemoryMonitor}. */
export interface MemoryMonitorEvents {
  /** A reading was taken. */
  snapshot: [snapshot: MemorySnapshot];
  /** The level changed (one event even when a reading jumps several levels). */
  level: [change: MemoryLevelChange];
}

const DEFAULT_THRESHOLDS: MemoryThresholds = { warning: 0.7, critical: 0.85, emergency: 0.95 };

/**
 * Watches this process's memory against a limit and reports a level: `normal`, `warning`, `critical`,
 * `emergency`. A level rises as soon as a reading reaches its threshold and clears only once usage falls
 * `hysteresis` below it (10 points by default), so it never flaps.
 *
 * When to use: one per process; pass it to a `MemoryGovernor`, a queue's `isMemoryHigh`, and the metrics'
 * `bind`.
 *
 * Gotchas: readings happen only after `start()` (every `intervalMs`, on an unref'd timer) or on `sample()`.
 * A reading that throws is logged and skipped.
 *
 * @example
 * ```ts
 * const monitor = createMemoryMonitor(config.memory).start(); // or { limitBytes, intervalMs, … }
 * monitor.on('level', ({ from, to }) => console.log(`memory ${from} -> ${to}`));
 * ```
 */
export class MemoryMonitor extends EventEmitter<MemoryMonitorEvents> implements MemoryPressure {
  /** The limit in bytes. */
  readonly limit: number;
  readonly basis: 'rss' | 'heapUsed';
  readonly #source: MemorySource;
  readonly #clock: Clock;
  readonly #logger: Logger;
  #thresholds: MemoryThresholds = DEFAULT_THRESHOLDS;
  #hysteresis = 0.1;
  #intervalMs = 5_000;
  #level: MemoryLevel = 'normal';
  #last: MemorySnapshot | undefined;
  #timer: TimerHandle | undefined;
  #running = false;

  constructor(options: MemoryMonitorOptions = {}) {
    super();
    const limit = options.limitBytes ?? 'auto';
    this.limit = positive(
      'MemoryMonitor',
      'limitBytes',
      limit === 'auto' ? detectMemoryLimit().bytes : limit,
    );
    this.basis = options.basis ?? 'rss';
    if (this.basis !== 'rss' && this.basis !== 'heapUsed') {
      throw new GovernanceOptionsError('MemoryMonitor', 'basis', this.basis, "'rss' or 'heapUsed'");
    }
    this.#source = options.source ?? (() => process.memoryUsage());
    this.#clock = options.clock ?? systemClock;
    this.#logger = options.logger ?? noopLogger;
    this.configure(options);
  }

  /** The current level. */
  get level(): MemoryLevel {
    return this.#level;
  }

  /** The latest reading, if one was taken. */
  get lastSnapshot(): MemorySnapshot | undefined {
    return this.#last;
  }

  /** The thresholds in force. */
  get thresholds(): Readonly<MemoryThresholds> {
    return this.#thresholds;
  }

  /** The hysteresis in force. */
  get hysteresis(): number {
    return this.#hysteresis;
  }

  /** The polling interval in force, in ms. */
  get intervalMs(): number {
    return this.#intervalMs;
  }

  /**
   * Changes thresholds, hysteresis or interval while running (a config hot reload). Fields left out keep
   * their value. Throws `GOVERNANCE_OPTIONS_INVALID` and changes nothing if the result is invalid. A new
   * interval applies from the next reading.
   */
  configure(settings: MemoryMonitorSettings): void {
    const thresholds = { ...this.#thresholds, ...definedOnly(settings.thresholds ?? {}) };
    const hysteresis = settings.hysteresis ?? this.#hysteresis;
    const intervalMs = positive('MemoryMonitor', 'intervalMs', settings.intervalMs ?? this.#intervalMs);
    for (const name of ['warning', 'critical', 'emergency'] as const)
      positive('MemoryMonitor', `thresholds.${name}`, thresholds[name]);
    if (!(thresholds.warning < thresholds.critical && thresholds.critical < thresholds.emergency)) {
      throw new GovernanceOptionsError(
        'MemoryMonitor',
        'thresholds',
        thresholds,
        'warning < critical < emergency',
      );
    }
    if (!(hysteresis >= 0 && hysteresis < thresholds.warning)) {
      throw new GovernanceOptionsError(
        'MemoryMonitor',
        'hysteresis',
        hysteresis,
        `a number from 0 to below thresholds.warning (${thresholds.warning})`,
      );
    }
    this.#thresholds = thresholds;
    this.#hysteresis = hysteresis;
    this.#intervalMs = intervalMs;
  }

  /** Takes a reading now, updates the level and emits `snapshot` (and `level` if it changed). */
  sample(): MemorySnapshot {
    const usage = this.#source();
    const snapshot: MemorySnapshot = {
      rss: usage.rss,
      heapTotal: usage.heapTotal,
      heapUsed: usage.heapUsed,
      external: usage.external,
      arrayBuffers: usage.arrayBuffers,
      limit: this.limit,
      fractionOfLimit: usage[this.basis] / this.limit,
      at: this.#clock.now(),
    };
    this.#last = snapshot;
    this.#logger.debug({ memory: snapshot }, 'memory snapshot');
    const from = this.#level;
    const to = this.#levelFor(snapshot.fractionOfLimit);
    this.#level = to;
    this.emit('snapshot', snapshot);
    if (to !== from) {
      const direction = MEMORY_LEVELS.indexOf(to) > MEMORY_LEVELS.indexOf(from) ? 'up' : 'down';
      const fields = { from, to, fractionOfLimit: snapshot.fractionOfLimit, limit: this.limit };
      if (direction === 'up') this.#logger.warn(fields, `memory level rose to ${to}`);
      else this.#logger.info(fields, `memory level eased to ${to}`);
      this.emit('level', { from, to, direction, snapshot });
    }
    return snapshot;
  }

  /** Starts polling: a reading now, then one every `intervalMs`. Returns the monitor. */
  start(): this {
    if (this.#running) return this;
    this.#running = true;
    this.#tick();
    return this;
  }

  /** Stops polling. `start()` resumes it. */
  stop(): void {
    this.#running = false;
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /** Stops polling and removes every listener. */
  async close(): Promise<void> {
    this.stop();
    this.removeAllListeners();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  #tick(): void {
    try {
      this.sample();
    } catch (error) {
      this.#logger.error({ err: error }, 'memory reading failed; skipped');
    }
    if (this.#running)
      this.#timer = this.#clock.setTimeout(() => this.#tick(), this.#intervalMs, { unref: true });
  }

  #levelFor(percent: number): MemoryLevel {
    const thresholds = [0, this.#thresholds.warning, this.#thresholds.critical, this.#thresholds.emergency];
    let index = MEMORY_LEVELS.indexOf(this.#level);
    let reached = 0;
    for (let i = 3; i > 0; i--) {
      if (percent >= (thresholds[i] as number)) {
        reached = i;
        break;
      }
    }
    if (reached > index) return MEMORY_LEVELS[reached] as MemoryLevel;
    while (index > 0 && percent < (thresholds[index] as number) - this.#hysteresis) index--;
    return MEMORY_LEVELS[index] as MemoryLevel;
  }
}

function definedOnly<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/**
 * Makes a memory monitor (the `createX` way every long-lived ordo component is made; the class is exported for its
 * type and `instanceof`, and `new MemoryMonitor(…)` keeps working).
 *
 * @example
 * ```ts
 * const monitor = createMemoryMonitor({ limitBytes: 512 * 2 ** 20 });
 * monitor.start();
 * ```
 */
export function createMemoryMonitor(options: MemoryMonitorOptions = {}): MemoryMonitor {
  return new MemoryMonitor(options);
}
