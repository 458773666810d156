import type { Clock, Logger } from '@ordo/contracts';
import {
  type ConfigChange,
  createConfigWatcher,
  type OrdoConfig,
  type ReloadOutcome,
} from '@ordo/governance';
import { Counter, Gauge, type Registry } from 'prom-client';
import { RuntimeOptionsError } from '../errors.js';

/** Options for {@link createLiveConfig}. */
export interface LiveConfigOptions {
  /** The config file, when the config came from one; without it nothing can reload. */
  file: string | undefined;
  /** The config loaded at start. */
  initial: OrdoConfig;
  /** Watch the file and reload on each edit. */
  watch: boolean;
  /** Applies a change of live keys to the running parts. */
  apply: (change: ConfigChange) => void;
  /** Where the `ordo_config_*` metrics register. */
  registry: Registry;
  logger: Logger;
  clock: Clock;
}

/** The config in force and its reloads (see {@link createLiveConfig}). */
export interface LiveConfig {
  /** The config in force. */
  readonly current: OrdoConfig;
  /** Reads the file again and applies its live keys; rejects with `RUNTIME_OPTIONS_INVALID` without a file. */
  reload(): Promise<ReloadOutcome>;
  close(): Promise<void>;
}

/**
 * The runtime's config over time: a governance `ConfigWatcher` on the config file (started when `watch`),
 * whose live changes go to `apply`; restart-only keys and invalid edits are logged by the watcher and keep
 * the config in force. Registers `ordo_config_value{key}` (every number and flag of the config in force),
 * `ordo_config_info{key,value}` (every text value: `log.level`, `memory.basis`, an `'auto'` limit) and
 * `ordo_config_reloads_total{outcome}` (`applied`, `restart_required`, `invalid`, `unchanged`).
 */
export function createLiveConfig(options: LiveConfigOptions): LiveConfig {
  const watcher =
    options.file === undefined
      ? undefined
      : createConfigWatcher({
          file: options.file,
          initial: options.initial,
          logger: options.logger,
          clock: options.clock,
        });
  const current = () => watcher?.current ?? options.initial;
  const reloads = new Counter<'outcome'>({
    name: 'ordo_config_reloads_total',
    help: 'Config file reloads, by outcome: applied, restart_required, invalid, unchanged.',
    labelNames: ['outcome'],
    registers: [options.registry],
  });
  new Gauge<'key'>({
    name: 'ordo_config_value',
    help: 'Every number and flag (1 on, 0 off) of the config in force, by dotted key.',
    labelNames: ['key'],
    registers: [options.registry],
    collect() {
      this.reset();
      for (const [key, value] of leaves(current())) {
        if (typeof value === 'number') this.set({ key }, value);
        else if (typeof value === 'boolean') this.set({ key }, value ? 1 : 0);
      }
    },
  });
  new Gauge<'key' | 'value'>({
    name: 'ordo_config_info',
    help: 'Every text value of the config in force (log.level, memory.basis, …): 1 for the value in force.',
    labelNames: ['key', 'value'],
    registers: [options.registry],
    collect() {
      this.reset();
      for (const [key, value] of leaves(current())) {
        if (typeof value === 'string') this.set({ key, value }, 1);
      }
    },
  });
  if (watcher) {
    watcher.on('change', (change) => {
      try {
        options.apply(change);
      } catch (error) {
        // The watcher validated the file, so a part refusing a value is a bug; say so, keep running.
        options.logger.error({ err: error, keys: change.changed }, 'config change could not be applied');
      }
    });
    if (options.watch) watcher.start();
  }
  const count = (outcome: ReloadOutcome) => {
    if (outcome.error !== undefined) reloads.inc({ outcome: 'invalid' });
    if (outcome.applied.length > 0) reloads.inc({ outcome: 'applied' });
    if (outcome.refused.length > 0) reloads.inc({ outcome: 'restart_required' });
    if (outcome.error === undefined && outcome.applied.length + outcome.refused.length === 0) {
      reloads.inc({ outcome: 'unchanged' });
    }
  };
  watcher?.on('reloaded', count);
  return {
    get current() {
      return current();
    },
    reload: async () => {
      if (!watcher) {
        throw new RuntimeOptionsError(
          'config',
          'reloading needs the config as a file path; a config object cannot change. Pass config: "ordo.yaml".',
        );
      }
      return watcher.reload();
    },
    close: async () => {
      await watcher?.close();
    },
  };
}

/** Every leaf of the config as `[dotted key, value]`. */
function leaves(tree: unknown, path: string[] = []): Array<[string, unknown]> {
  if (typeof tree !== 'object' || tree === null) return [[path.join('.'), tree]];
  return Object.entries(tree).flatMap(([key, value]) => leaves(value, [...path, key]));
}
