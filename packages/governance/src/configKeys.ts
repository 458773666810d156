import { z } from 'zod';
import { configSchema, defaultConfig } from './config.js';
import { isLiveConfigKey } from './configWatcher.js';
import { getPath } from './internal/tree.js';

/**
 * What each configuration key does, by dotted path: one entry for every leaf of the schema (the tests check
 * that the two match, and the README's configuration table is rendered from this by {@link renderConfigTable}).
 */
export const CONFIG_KEY_DOCS: Readonly<Record<string, string>> = Object.freeze({
  'workers.max': 'How many workers run tasks at once (the `workers` option of `createRuntime` wins).',
  'workers.heapMb': "Each worker's V8 heap cap (`--max-old-space-size`), in MB.",
  'workers.rssWarningMb': "A worker's RSS above which it is logged and flagged, in MB.",
  'workers.idleTimeoutMs': 'How long an idle worker is kept before it exits.',
  'workers.maxRestartsPerHour': 'Worker restarts a slot may take in an hour before the pool is degraded.',
  'workers.stallTimeoutMs': 'A worker silent for longer is stalled: its task fails with `TASK_STALLED`.',
  'queue.maxDepth': 'How many tasks may wait in the priority queue (at least twice the worker count).',
  'memory.limitBytes': "The memory limit, or `'auto'` for the cgroup limit (else total memory).",
  'memory.basis': 'Which figure is compared with the limit: `rss` or `heapUsed`.',
  'memory.intervalMs': 'How often memory is read.',
  'memory.thresholds.warning': 'Fraction of the limit where warning starts (heartbeats are skipped).',
  'memory.thresholds.critical':
    'Fraction where critical starts (preemptable tasks are preempted, /health 503).',
  'memory.thresholds.emergency': 'Fraction where emergency starts (the lowest-priority task is killed).',
  'memory.hysteresis': 'How far below a threshold usage must fall before its level clears.',
  'breaker.failureThreshold': 'Failures inside `windowMs` that open a breaker.',
  'breaker.windowMs': 'The sliding window failures are counted in.',
  'breaker.successThreshold': 'Consecutive half-open successes that close a breaker.',
  'breaker.backoff.initialMs': 'How long a breaker first stays open.',
  'breaker.backoff.factor': 'How much each re-open (a failed probe) multiplies the open time.',
  'breaker.backoff.maxMs': 'The longest a breaker stays open.',
  'breaker.halfOpenMaxConcurrent': 'How many probe calls may run at once while half-open.',
  'admission.memoryThreshold': 'Memory (fraction of the limit) from which requests get 503.',
  'admission.ratePerSecond': 'Requests admitted per second before 429 `RATE_LIMITED`.',
  'admission.burst': 'Requests admitted at once above the rate (the token bucket size).',
  'launcher.pollIntervalMs': 'How often every worker is checked (`monitor`) by the poller.',
  'launcher.monitorCooldownMs': "How long a Docker worker's status is cached between Engine calls.",
  'log.level': 'The lowest level the runtime logs: `debug`, `info`, `warn`, `error` or `silent`.',
  'flags.memoryGovernance': 'Kill switch: off, nothing acts on memory (see Feature flags).',
  'flags.workerPool': 'Kill switch: off, one worker runs every task, one at a time.',
  'flags.circuitBreakers': 'Kill switch: off, calls pass through every breaker.',
});

/** The dotted path of every leaf of the configuration schema, in schema order. */
export function configKeyPaths(): string[] {
  const out: string[] = [];
  const walk = (schema: z.ZodType, path: string[]) => {
    if (schema instanceof z.ZodObject) {
      for (const [key, child] of Object.entries(schema.shape as Record<string, z.ZodType>)) {
        walk(child, [...path, key]);
      }
      return;
    }
    out.push(path.join('.'));
  };
  walk(configSchema, []);
  return out;
}

/**
 * The README's configuration table: a row per key with its default, whether it applies live (without a
 * restart) and what it does, rendered from the schema, {@link defaultConfig} and {@link CONFIG_KEY_DOCS}.
 */
export function renderConfigTable(): string {
  const rows = configKeyPaths().map((key) => {
    const value = getPath(defaultConfig, key.split('.'));
    const shown = typeof value === 'string' ? `'${value}'` : String(value);
    const doc = CONFIG_KEY_DOCS[key] ?? '(undocumented)';
    return `| \`${key}\` | \`${shown}\` | ${isLiveConfigKey(key) ? 'live' : 'restart'} | ${doc} |`;
  });
  return ['| key | default | applies | what it does |', '| --- | --- | --- | --- |', ...rows].join('\n');
}
