/**
 * The environment variables of the seed's v2.0 configuration (`KURULTAI_*`) and the ordo key each one
 * sets. `loadConfig` still reads them, below any `ORDO_*` override of the same key, and reports each as
 * deprecated (`onWarning`) naming the variable to use instead. See `docs/migration.md` of the repository.
 */
export const LEGACY_ENV: Readonly<Record<string, string>> = Object.freeze({
  KURULTAI_MAX_WORKERS: 'workers.max',
  KURULTAI_WORKER_HEAP_MB: 'workers.heapMb',
  KURULTAI_WORKER_RSS_WARNING_MB: 'workers.rssWarningMb',
  KURULTAI_WORKER_IDLE_TIMEOUT_MS: 'workers.idleTimeoutMs',
  KURULTAI_MAX_RESTARTS_PER_HOUR: 'workers.maxRestartsPerHour',
  KURULTAI_QUEUE_MAX_DEPTH: 'queue.maxDepth',
  KURULTAI_MEMORY_LIMIT_BYTES: 'memory.limitBytes',
  KURULTAI_MEMORY_CHECK_INTERVAL_MS: 'memory.intervalMs',
  KURULTAI_MEMORY_WARNING_THRESHOLD: 'memory.thresholds.warning',
  KURULTAI_MEMORY_CRITICAL_THRESHOLD: 'memory.thresholds.critical',
  KURULTAI_MEMORY_EMERGENCY_THRESHOLD: 'memory.thresholds.emergency',
  KURULTAI_BREAKER_FAILURE_THRESHOLD: 'breaker.failureThreshold',
  KURULTAI_BREAKER_RESET_TIMEOUT_MS: 'breaker.backoff.initialMs',
  KURULTAI_RATE_LIMIT_PER_SECOND: 'admission.ratePerSecond',
  KURULTAI_RATE_LIMIT_BURST: 'admission.burst',
  KURULTAI_POLL_INTERVAL_MS: 'launcher.pollIntervalMs',
  KURULTAI_LOG_LEVEL: 'log.level',
});

/** A warning `loadConfig` reports through `onWarning`. */
export interface ConfigWarning {
  /** `CONFIG_DEPRECATED_VARIABLE`: a `KURULTAI_*` variable was read; `CONFIG_SHADOWED_VARIABLE`: it was ignored for an `ORDO_*` one. */
  code: 'CONFIG_DEPRECATED_VARIABLE' | 'CONFIG_SHADOWED_VARIABLE';
  /** The old variable. */
  variable: string;
  /** The ordo key it sets. */
  key: string;
  /** The variable to use instead. */
  replacement: string;
  /** A sentence for the log. */
  message: string;
}

/** The `ORDO_*` variable that sets a dotted key (`workers.heapMb` → `ORDO_WORKERS__HEAP_MB`). */
export function envVariableFor(key: string, prefix = 'ORDO_'): string {
  return (
    prefix +
    key
      .split('.')
      .map((part) => part.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase())
      .join('__')
  );
}
