import { type FSWatcher, watch } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import {
  type Clock,
  isOrdoError,
  type Logger,
  noopLogger,
  systemClock,
  type TimerHandle,
} from '@ordo/contracts';
import { EventEmitter } from 'eventemitter3';
import { type LoadConfigOptions, loadConfig, type OrdoConfig } from './config.js';
import { deepFreeze, getPath, isTree, type Tree } from './internal/tree.js';

/**
 * The keys that apply while running: thresholds, intervals, rates, log level, breaker tuning. Every other
 * key (worker count and sizes, limits, queue depth, the Docker status cache, flags) is critical: a change
 * needs a restart.
 */
export const LIVE_CONFIG_KEYS: readonly string[] = [
  'memory.intervalMs',
  'memory.thresholds',
  'memory.hysteresis',
  'breaker',
  'admission',
  'launcher.pollIntervalMs',
  'log.level',
];

/** Whether a change to this dotted key path applies live (see {@link LIVE_CONFIG_KEYS}). */
export function isLiveConfigKey(path: string): boolean {
  return LIVE_CONFIG_KEYS.some((key) => path === key || path.startsWith(`${key}.`));
}

/** Options for {@link watchConfig}. */
export interface WatchConfigOptions extends LoadConfigOptions {
  /** The YAML file to watch. */
  file: string;
  /**
   * How long to wait after the last file event before reloading, so an editor's burst of writes is read once.
   * @default 100
   */
  debounceMs?: number | undefined;
  /** Refused and invalid edits are logged at warn. @default noopLogger */
  logger?: Logger | undefined;
  /** @default systemClock */
  clock?: Clock | undefined;
}

/** A live change, as the `change` event reports it. */
export interface ConfigChange {
  /** The configuration now in force. */
  config: OrdoConfig;
  /** The one before. */
  previous: OrdoConfig;
  /** The dotted paths of the leaves that changed. */
  changed: string[];
}

/** What one reload did. */
export interface ReloadOutcome {
  /** Live keys that changed and now apply. */
  applied: string[];
  /** Critical keys that changed in the file but were refused until a restart. */
  refused: string[];
  /** Set when the edit was invalid; the last good configuration stays. */
  error?: unknown;
}

/** The events of a {@link ConfigWatcher}. */
export interface ConfigWatcherEvents {
  /** Live keys changed and apply now. */
  change: [change: ConfigChange];
  /** Critical keys changed in the file; they were not applied. Restart to apply them. */
  restartRequired: [keys: string[]];
  /** An edit was invalid (`CONFIG_INVALID` or `CONFIG_UNREADABLE`); the last good configuration stays. */
  invalid: [error: unknown];
  /** Every reload's outcome (after `change`, `restartRequired` or `invalid`), also when nothing changed. */
  reloaded: [outcome: ReloadOutcome];
}

/**
 * A configuration file under watch: see {@link watchConfig}. `current` is always a valid configuration.
 */
export class ConfigWatcher extends EventEmitter<ConfigWatcherEvents> {
  readonly #options: WatchConfigOptions;
  readonly #logger: Logger;
  readonly #clock: Clock;
  #current: OrdoConfig;
  #watcher: FSWatcher | undefined;
  #timer: TimerHandle | undefined;
  #reloading: Promise<ReloadOutcome> = Promise.resolve({ applied: [], refused: [] });

  /** Use {@link watchConfig}, which loads the first configuration and starts watching, or {@link createConfigWatcher}. */
  constructor(options: WatchConfigOptions, initial: OrdoConfig) {
    super();
    this.#options = options;
    this.#logger = options.logger ?? noopLogger;
    this.#clock = options.clock ?? systemClock;
    this.#current = initial;
  }

  /** The configuration in force. */
  get current(): OrdoConfig {
    return this.#current;
  }

  /**
   * Reads the file again and applies it by the hot-reload rules: live keys apply and emit `change`;
   * critical keys are refused with a warning and `restartRequired`; an invalid edit keeps the last good
   * configuration and emits `invalid`. Reloads run one at a time.
   */
  reload(): Promise<ReloadOutcome> {
    this.#reloading = this.#reloading.then(async () => {
      const outcome = await this.#reload();
      this.emit('reloaded', outcome);
      return outcome;
    });
    return this.#reloading;
  }

  /** Starts watching the file's directory (editors often save by renaming a new file over the old one). */
  start(): this {
    if (this.#watcher) return this;
    const file = resolve(this.#options.file);
    const name = basename(file);
    this.#watcher = watch(dirname(file), { persistent: false }, (_event, changed) => {
      if (changed !== null && changed.toString() !== name) return;
      if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
      this.#timer = this.#clock.setTimeout(() => {
        this.#timer = undefined;
        void this.reload();
      }, this.#options.debounceMs ?? 100);
    });
    this.#watcher.on('error', (error) => this.#logger.warn({ err: error }, 'config watch failed'));
    this.#options.signal?.addEventListener('abort', () => void this.close(), { once: true });
    return this;
  }

  /** Stops watching. */
  async close(): Promise<void> {
    this.#watcher?.close();
    this.#watcher = undefined;
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#reloading;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  async #reload(): Promise<ReloadOutcome> {
    const file = this.#options.file;
    if (this.#options.signal?.aborted) return { applied: [], refused: [] };
    let next: OrdoConfig;
    try {
      next = await loadConfig(this.#options);
    } catch (error) {
      const code = isOrdoError(error) ? error.code : undefined;
      this.#logger.warn(
        { err: error, file, code },
        'config edit rejected; keeping the last good configuration',
      );
      this.emit('invalid', error);
      return { applied: [], refused: [], error };
    }
    const previous = this.#current;
    const changed = diffLeaves(previous, next);
    const applied = changed.filter(isLiveConfigKey);
    const refused = changed.filter((key) => !isLiveConfigKey(key));
    if (refused.length > 0) {
      this.#logger.warn(
        { file, keys: refused },
        `restart needed to apply ${refused.join(', ')}; keeping their old values`,
      );
      this.emit('restartRequired', refused);
    }
    if (applied.length > 0) {
      let config = structuredClone(previous) as OrdoConfig;
      for (const key of applied) setLeaf(config, key, getPath(next, key.split('.')));
      config = deepFreeze(config);
      this.#current = config;
      this.#logger.info({ file, keys: applied }, 'config reloaded');
      this.emit('change', { config, previous, changed: applied });
    }
    return { applied, refused };
  }
}

/**
 * Loads the configuration like {@link loadConfig} (throwing if the first load is invalid) and watches the
 * file. Non-critical keys (thresholds, intervals, rates, log level, breaker tuning: {@link
 * LIVE_CONFIG_KEYS}) apply live and emit `change`; changes to critical keys (worker count, sizes, limits,
 * queue depth, flags) are refused with a warning that a restart is needed; an invalid edit keeps the last
 * good configuration. Env overrides apply on every reload. `signal` aborts the first load and later stops
 * the watcher, like `close()`.
 *
 * @example
 * ```ts
 * await using watcher = await watchConfig({ file: 'ordo.yaml', logger });
 * watcher.on('change', ({ config }) => monitor.configure(config.memory));
 * ```
 */
export async function watchConfig(options: WatchConfigOptions): Promise<ConfigWatcher> {
  const initial = await loadConfig(options);
  return new ConfigWatcher(options, initial).start();
}

/**
 * Makes a watcher on a configuration the caller has already loaded (from `options.file`), without
 * watching yet: `reload()` re-reads the file by hand, `start()` watches it. Use {@link watchConfig} to load
 * and watch in one step.
 *
 * @example
 * ```ts
 * const config = await loadConfig({ file: 'ordo.yaml' });
 * const watcher = createConfigWatcher({ file: 'ordo.yaml', initial: config });
 * if (live) watcher.start();
 * ```
 */
export function createConfigWatcher(options: WatchConfigOptions & { initial: OrdoConfig }): ConfigWatcher {
  const { initial, ...rest } = options;
  return new ConfigWatcher(rest, initial);
}

function diffLeaves(a: unknown, b: unknown, path = ''): string[] {
  if (isTree(a) && isTree(b)) {
    return Object.keys(a).flatMap((key) => diffLeaves(a[key], b[key], path ? `${path}.${key}` : key));
  }
  return Object.is(a, b) ? [] : [path];
}

function setLeaf(tree: object, path: string, value: unknown): void {
  const keys = path.split('.');
  const parent = keys.slice(0, -1).reduce<Tree>((node, key) => node[key] as Tree, tree as Tree);
  parent[keys.at(-1) as string] = value;
}
