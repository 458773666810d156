import { Gauge, type Registry } from 'prom-client';

/** The feature flags of `config.flags`: each is a kill switch for one part of the runtime. */
export type FeatureFlagName = 'memoryGovernance' | 'workerPool' | 'circuitBreakers';

/** The state of every feature flag (`config.flags`). */
export type FeatureFlags = Readonly<Record<FeatureFlagName, boolean>>;

/** What a feature flag controls, and what the runtime does when it is off. */
export interface FeatureFlagInfo {
  /** The environment variable that sets it (`FF_MEMORY_GOVERNANCE`, …). */
  readonly variable: string;
  /** The `flag` label of `ordo_feature_flag` (`memory_governance`, …). */
  readonly label: string;
  /** What the runtime does while the flag is off. */
  readonly off: string;
}

/**
 * Every feature flag, its variable, metric label and "off" behaviour. The three default to on: ordo has no
 * older code path to fall back on, so they are kill switches for an incident, not a gradual rollout.
 * A variable turns its flag on only when it is exactly `true` (the rollout plan's `FF_X === 'true'`);
 * any other value set (`false`, `0`, `off`, a typo) turns it off, so a kill switch fails towards off.
 */
export const FEATURE_FLAGS: Readonly<Record<FeatureFlagName, FeatureFlagInfo>> = Object.freeze({
  memoryGovernance: {
    variable: 'FF_MEMORY_GOVERNANCE',
    label: 'memory_governance',
    off: 'memory is still read and reported, but nothing acts on it: no 503 at admission (only the queue-full and rate 429s), no heartbeat skipping, no preempting or killing, the pool starts tasks at any level, and /health does not fail on memory',
  },
  workerPool: {
    variable: 'FF_WORKER_POOL',
    label: 'worker_pool',
    off: 'one worker runs every task, one at a time (workers.max and the workers option are ignored); it is still an isolated process with the heap cap, restarts and stall limit',
  },
  circuitBreakers: {
    variable: 'FF_CIRCUIT_BREAKERS',
    label: 'circuit_breakers',
    off: 'calls pass straight through: worker spawns and Docker Engine calls are never refused with BREAKER_OPEN, and no breaker is reported in /health or circuit_breaker_state',
  },
});

/** The flag names, in a fixed order. */
export const FEATURE_FLAG_NAMES: readonly FeatureFlagName[] = Object.freeze(
  Object.keys(FEATURE_FLAGS) as FeatureFlagName[],
);

/**
 * Reads one flag variable as the rollout plan does: on only for the exact text `true`.
 *
 * @example
 * ```ts
 * parseFeatureFlag('true'); // true
 * parseFeatureFlag('1');    // false: only `true` turns a flag on
 * ```
 */
export function parseFeatureFlag(raw: string): boolean {
  return raw === 'true';
}

/** Options for {@link createFeatureFlagGauge}. */
export interface FeatureFlagGaugeOptions {
  /** Where the gauge registers (the runtime's metrics registry). */
  registry: Registry;
  /** The flags in force, read at each scrape. */
  flags: () => FeatureFlags;
  /** @default 'ordo_' */
  prefix?: string | undefined;
}

/**
 * Registers `ordo_feature_flag{flag}`: 1 while a flag is on, 0 while off, read from `flags()` at each scrape.
 *
 * @example
 * ```ts
 * createFeatureFlagGauge({ registry: metrics.registry, flags: () => config.flags });
 * ```
 */
export function createFeatureFlagGauge(options: FeatureFlagGaugeOptions): Gauge<'flag'> {
  const { flags } = options;
  return new Gauge<'flag'>({
    name: `${options.prefix ?? 'ordo_'}feature_flag`,
    help: 'Whether each feature flag (kill switch) is on: 1 on, 0 off.',
    labelNames: ['flag'],
    registers: [options.registry],
    collect() {
      const now = flags();
      for (const name of FEATURE_FLAG_NAMES) this.set({ flag: FEATURE_FLAGS[name].label }, now[name] ? 1 : 0);
    },
  });
}
