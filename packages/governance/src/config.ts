import type { Document, LineCounter } from 'yaml';
import { z } from 'zod';
import { FORBIDDEN_KEYS, findUnsafeKey, parseBoundedYaml, readBoundedText, yaml } from './boundedYaml.js';
import {
  ConfigInvalidError,
  type ConfigIssue,
  ConfigUnreadableError,
  GovernanceOptionsError,
} from './errors.js';
import { FEATURE_FLAG_NAMES, FEATURE_FLAGS, type FeatureFlagName, parseFeatureFlag } from './featureFlags.js';
import { closest } from './internal/didYouMean.js';
import { deepFreeze, getPath, isTree, type Tree } from './internal/tree.js';
import { type ConfigWarning, envVariableFor, LEGACY_ENV } from './legacyEnv.js';

/** The log levels `log.level` accepts. */
export type ConfigLogLevel = 'debug' | 'info' | 'warn' | 'error' | 'silent';

/**
 * ordo's configuration, as {@link loadConfig} returns it: every key present, defaults filled in, frozen.
 * Durations are in ms, fractions of a limit from 0 to 1.
 */
export interface OrdoConfig {
  workers: {
    /** How many workers run at once. Critical: a change needs a restart. @default 2 */
    max: number;
    /** Each worker's V8 heap limit in MB. Critical. @default 512 */
    heapMb: number;
    /** A worker's RSS above which it is flagged, in MB. Critical. @default 300 */
    rssWarningMb: number;
    /** How long an idle worker is kept before it stops. Critical. @default 300000 (5 min) */
    idleTimeoutMs: number;
    /** How many restarts per hour a worker slot may take before it is given up. Critical. @default 10 */
    maxRestartsPerHour: number;
    /**
     * A worker silent (no heartbeat) for longer is STALLED: its task fails with `TASK_STALLED`, the worker is
     * killed and replaced. Critical. @default 120000 (2 min)
     */
    stallTimeoutMs: number;
  };
  queue: {
    /** The priority queue's `maxDepth`. Critical. @default 5 */
    maxDepth: number;
  };
  memory: {
    /** The memory limit in bytes, or `auto` for the cgroup limit (else total memory). Critical. @default 'auto' */
    limitBytes: 'auto' | number;
    /** Which figure is compared with the limit. Critical. @default 'rss' */
    basis: 'rss' | 'heapUsed';
    /** How often memory is read. Live. @default 5000 */
    intervalMs: number;
    /** Where each level starts (fractions, rising). Live. @default { warning: 0.7, critical: 0.85, emergency: 0.95 } */
    thresholds: { warning: number; critical: number; emergency: number };
    /** How far below a threshold usage must fall before its level clears. Live. @default 0.1 */
    hysteresis: number;
  };
  breaker: {
    /** Failures inside `windowMs` that open a breaker. Live. @default 3 */
    failureThreshold: number;
    /** The sliding failure window. Live. @default 60000 */
    windowMs: number;
    /** Consecutive half-open successes that close it. Live. @default 2 */
    successThreshold: number;
    /** How long it stays open: 1 s, doubling per re-open, at most 8 s. Live. */
    backoff: { initialMs: number; factor: number; maxMs: number };
    /** Concurrent half-open probes. Live. @default 1 */
    halfOpenMaxConcurrent: number;
  };
  admission: {
    /** Memory use (fraction of the limit) above which new work is refused with 503. Live. @default 0.9 */
    memoryThreshold: number;
    /** Requests admitted per second before 429. Live. @default 50 */
    ratePerSecond: number;
    /** Requests admitted in a burst above the rate. Live. @default 100 */
    burst: number;
  };
  launcher: {
    /** How often worker status is polled. Live. @default 15000 */
    pollIntervalMs: number;
    /** How long a worker's status is cached between probes. Live. @default 10000 */
    monitorCooldownMs: number;
  };
  log: {
    /** The log level. Live. @default 'info' */
    level: ConfigLogLevel;
  };
  /**
   * Feature flags: kill switches, also set by `FF_MEMORY_GOVERNANCE`, `FF_WORKER_POOL`, `FF_CIRCUIT_BREAKERS`
   * (on only for the exact text `true`; any other value turns the flag off). See {@link FEATURE_FLAGS} for
   * what each one's "off" means. Critical.
   */
  flags: {
    /** Memory-aware admission, shedding, preemption and kills. @default true */
    memoryGovernance: boolean;
    /** Many workers at once; off runs every task on one worker, one at a time. @default true */
    workerPool: boolean;
    /** Circuit breakers around worker spawns and Engine calls; off lets calls pass through. @default true */
    circuitBreakers: boolean;
  };
}

/** The defaults of ordo's design. */
export const defaultConfig: OrdoConfig = deepFreeze({
  workers: {
    max: 2,
    heapMb: 512,
    rssWarningMb: 300,
    idleTimeoutMs: 300_000,
    maxRestartsPerHour: 10,
    stallTimeoutMs: 120_000,
  },
  queue: { maxDepth: 5 },
  memory: {
    limitBytes: 'auto',
    basis: 'rss',
    intervalMs: 5_000,
    thresholds: { warning: 0.7, critical: 0.85, emergency: 0.95 },
    hysteresis: 0.1,
  },
  breaker: {
    failureThreshold: 3,
    windowMs: 60_000,
    successThreshold: 2,
    backoff: { initialMs: 1_000, factor: 2, maxMs: 8_000 },
    halfOpenMaxConcurrent: 1,
  },
  admission: { memoryThreshold: 0.9, ratePerSecond: 50, burst: 100 },
  launcher: { pollIntervalMs: 15_000, monitorCooldownMs: 10_000 },
  log: { level: 'info' },
  flags: { memoryGovernance: true, workerPool: true, circuitBreakers: true },
} satisfies OrdoConfig);

/**
 * The longest timer Node can set: `setTimeout` turns anything above 2^31−1 ms (about 24.8 days) into 1 ms,
 * so a larger interval or backoff would fire at once, over and over. Every duration is capped here.
 */
export const MAX_DURATION_MS = 2_147_483_647;

/** The largest configuration file {@link loadConfig} reads, in bytes (1 MiB; ordo's is a few hundred). */
export const CONFIG_MAX_BYTES = 1_048_576;

/** The deepest nesting a configuration document may have (ordo's has 3 levels). */
export const CONFIG_MAX_DEPTH = 16;

const int = (min: number, max: number, unit = '') =>
  z.number().int().min(min).max(max, `expected at most ${max}${unit}`);
const ms = (min = 1) =>
  int(min, MAX_DURATION_MS, ' ms (2^31−1, about 24.8 days: the longest timer Node can set)');
const fraction = z.number().gt(0).lte(1);

/** The configuration's schema. Every number has a lower and an upper bound (`config.test.ts` checks). @internal */
export const configSchema = z
  .object({
    workers: z.object({
      max: int(1, 1024),
      heapMb: int(16, 262_144, ' MB (256 GiB)'),
      rssWarningMb: int(1, 262_144, ' MB (256 GiB)'),
      idleTimeoutMs: ms(),
      maxRestartsPerHour: int(0, 3_600),
      stallTimeoutMs: ms(1_000),
    }),
    queue: z.object({ maxDepth: int(1, 1_000_000) }),
    memory: z.object({
      limitBytes: z.union([z.literal('auto'), int(1, 2 ** 50)], {
        error: `expected 'auto' or a whole number of bytes from 1 to ${2 ** 50} (1 PiB)`,
      }),
      basis: z.enum(['rss', 'heapUsed']),
      intervalMs: ms(),
      thresholds: z.object({ warning: fraction, critical: fraction, emergency: fraction }),
      hysteresis: z.number().min(0).lt(1),
    }),
    breaker: z.object({
      failureThreshold: int(1, 1_000_000),
      windowMs: ms(),
      successThreshold: int(1, 1_000_000),
      backoff: z.object({
        initialMs: ms(),
        factor: z.number().min(1).max(1_000, 'expected at most 1000'),
        maxMs: ms(),
      }),
      halfOpenMaxConcurrent: int(1, 1_000_000),
    }),
    admission: z.object({
      memoryThreshold: fraction,
      ratePerSecond: z.number().positive().max(1_000_000_000, 'expected at most 1000000000 per second'),
      burst: int(1, 1_000_000_000),
    }),
    launcher: z.object({ pollIntervalMs: ms(), monitorCooldownMs: ms(0) }),
    log: z.object({ level: z.enum(['debug', 'info', 'warn', 'error', 'silent']) }),
    flags: z.object({ memoryGovernance: z.boolean(), workerPool: z.boolean(), circuitBreakers: z.boolean() }),
  })
  .superRefine((config, context) => {
    const { warning, critical, emergency } = config.memory.thresholds;
    if (!(warning < critical && critical < emergency)) {
      context.addIssue({
        code: 'custom',
        path: ['memory', 'thresholds'],
        message: 'expected warning < critical < emergency',
      });
    }
    if (config.memory.hysteresis >= warning) {
      context.addIssue({
        code: 'custom',
        path: ['memory', 'hysteresis'],
        message: `expected less than memory.thresholds.warning (${warning})`,
      });
    }
    if (config.breaker.backoff.initialMs > config.breaker.backoff.maxMs) {
      context.addIssue({
        code: 'custom',
        path: ['breaker', 'backoff'],
        message: 'expected initialMs <= maxMs',
      });
    }
  });

/** The environment variables that set feature flags, and the flag each sets. */
const FLAG_VARIABLES: Readonly<Record<string, FeatureFlagName>> = Object.fromEntries(
  FEATURE_FLAG_NAMES.map((name) => [FEATURE_FLAGS[name].variable, name]),
);

/** Options for {@link loadConfig}. */
export interface LoadConfigOptions {
  /** A YAML file to read. @default none: defaults and env only */
  file?: string | undefined;
  /**
   * A partial config object to merge over the defaults instead of a file, validated the same way (issues
   * name `values` as their source; `undefined` leaves are skipped). Exclusive with `file`.
   * @default none
   */
  values?: unknown;
  /**
   * The environment to read overrides and feature flags from: `ORDO_WORKERS__MAX=4` sets `workers.max`
   * (sections split by `__`, words by `_`, so `ORDO_WORKERS__HEAP_MB` sets `workers.heapMb`), and
   * `FF_WORKER_POOL=false` turns `flags.workerPool` off (a flag variable is on only when it is exactly `true`). Variables with the prefix but no `__` are not config
   * (`ORDO_HOME`) and are ignored.
   * @default process.env
   */
  env?: Readonly<Record<string, string | undefined>> | undefined;
  /** @default 'ORDO_' */
  prefix?: string | undefined;
  /** Aborts reading the file. */
  signal?: AbortSignal | undefined;
  /**
   * Told about each deprecated `KURULTAI_*` variable read (the seed's v2.0 names, {@link LEGACY_ENV}) and
   * each one ignored because an `ORDO_*` variable sets the same key. The runtime logs them at warn.
   * @default ignore
   */
  onWarning?: ((warning: ConfigWarning) => void) | undefined;
}

/**
 * Loads ordo's configuration: {@link defaultConfig}, then the YAML `file`, then environment overrides,
 * validated as a whole. Invalid input fails fast with `CONFIG_INVALID` listing every bad key path, its
 * value, where it came from and what was expected; unknown keys are errors with a "did you mean" hint.
 * An unreadable file fails with `CONFIG_UNREADABLE`.
 *
 * @example
 * ```ts
 * // ordo.yaml:  workers: { max: 4 }   memory: { thresholds: { warning: 0.6 } }
 * const config = await loadConfig({ file: 'ordo.yaml' }); // ORDO_LOG__LEVEL=debug also applies
 * config.workers.max; // 4
 * ```
 */
export async function loadConfig(options: LoadConfigOptions = {}): Promise<OrdoConfig> {
  options.signal?.throwIfAborted();
  if (options.file !== undefined && options.values !== undefined) {
    throw new GovernanceOptionsError('loadConfig', 'values', options.values, 'not both file and values');
  }
  let parsed: ParsedFile = { tree: options.values ?? {}, locate: () => 'values' };
  if (options.values !== undefined) {
    const bad = findUnsafeKey(options.values, CONFIG_MAX_DEPTH);
    if (bad) {
      throw new ConfigInvalidError([
        { path: bad.path.join('.'), value: undefined, expected: bad.reason, source: 'values' },
      ]);
    }
  }
  if (options.file !== undefined) {
    const read = await readBoundedText(options.file, CONFIG_MAX_BYTES, options.signal);
    if (!read.ok && read.code === 'EFBIG') {
      throw new ConfigInvalidError([
        {
          path: '',
          value: undefined,
          expected: `a document of at most ${CONFIG_MAX_BYTES} bytes`,
          source: options.file,
        },
      ]);
    }
    if (!read.ok) throw new ConfigUnreadableError(options.file, read.cause ?? new Error(read.message));
    parsed = parseFile(read.text, options.file);
  }
  return resolveConfig(parsed, options.env ?? process.env, options.prefix ?? 'ORDO_', options.onWarning);
}

/** A parsed YAML file: its plain value and where each key path is written (`file:line`). */
interface ParsedFile {
  tree: unknown;
  locate(path: readonly string[]): string;
}

function parseFile(text: string, file: string): ParsedFile {
  const parsed = parseBoundedYaml(text, { maxBytes: CONFIG_MAX_BYTES, maxDepth: CONFIG_MAX_DEPTH });
  if (!parsed.ok) {
    const path = parsed.path ?? [];
    throw new ConfigInvalidError([
      {
        path: path.join('.'),
        value: undefined,
        expected: parsed.kind === 'syntax' ? `valid YAML (${parsed.reason})` : parsed.reason,
        source: parsed.line !== undefined ? `${file}:${parsed.line}` : file,
      },
    ]);
  }
  const { doc, lineCounter, value } = parsed;
  return { tree: value ?? {}, locate: (path) => locate(doc, lineCounter, file, path) };
}

/** `file:line` of the deepest key of `path` written in the document, or just `file`. */
function locate(doc: Document, lineCounter: LineCounter, file: string, path: readonly string[]): string {
  let node: unknown = doc.contents;
  let line: number | undefined;
  for (const key of path) {
    const { isMap, isScalar } = yaml();
    if (!isMap(node)) break;
    const pair = node.items.find((p) => isScalar(p.key) && String(p.key.value) === key);
    const start = isScalar(pair?.key) ? pair.key.range?.[0] : undefined;
    if (!pair || start === undefined) break;
    line = lineCounter.linePos(start).line;
    node = pair.value;
  }
  return line === undefined ? file : `${file}:${line}`;
}

/** Merges defaults, a parsed file and env overrides, then validates. */
function resolveConfig(
  file: ParsedFile,
  env: Readonly<Record<string, string | undefined>>,
  prefix: string,
  onWarning: ((warning: ConfigWarning) => void) | undefined,
): OrdoConfig {
  const issues: ConfigIssue[] = [];
  const fileTree = file.tree;
  if (!isTree(fileTree)) {
    throw new ConfigInvalidError([
      {
        path: '',
        value: fileTree,
        expected: 'a YAML mapping of sections (workers, memory, …)',
        source: file.locate([]),
      },
    ]);
  }
  const sources = new Map<string, string>();
  const merged = structuredClone(defaultConfig) as unknown as Tree;
  mergeInto(merged, fileTree, [], file.locate, sources, issues);
  applyEnv(merged, env, prefix, sources, issues, onWarning);

  const parsed = configSchema.safeParse(merged);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      const path = issue.path.map(String).join('.');
      issues.push({
        path,
        value: getPath(merged, issue.path.map(String)),
        expected: issue.message.replace(/^(Invalid input|Invalid option|Too small|Too big): /, ''),
        source: sourceOf(path, sources),
      });
    }
  }
  if (issues.length > 0) throw new ConfigInvalidError(issues);
  return deepFreeze(merged as unknown as OrdoConfig);
}

/** Copies `from` into `into` key by key, recording each leaf's source and every unknown key. */
function mergeInto(
  into: Tree,
  from: Tree,
  path: string[],
  describe: (path: string[]) => string,
  sources: Map<string, string>,
  issues: ConfigIssue[],
): void {
  for (const [key, value] of Object.entries(from)) {
    if (value === undefined) continue;
    const at = [...path, key];
    if (FORBIDDEN_KEYS.has(key)) {
      issues.push({
        path: at.join('.'),
        value: undefined,
        expected: `no "${key}" key: it is refused anywhere, as merging it could change every object in the process`,
        source: describe(at),
      });
      continue;
    }
    if (!Object.hasOwn(into, key)) {
      issues.push(unknownKey(at, value, Object.keys(into), describe(at)));
      continue;
    }
    const target = into[key];
    if (isTree(target) && isTree(value)) {
      mergeInto(target, value, at, describe, sources, issues);
      continue;
    }
    if (isTree(target)) {
      issues.push({
        path: at.join('.'),
        value,
        expected: `a mapping with keys ${Object.keys(target).join(', ')}`,
        source: describe(at),
      });
      continue;
    }
    into[key] = value;
    sources.set(at.join('.'), describe(at));
  }
}

function unknownKey(path: string[], value: unknown, known: string[], source: string): ConfigIssue {
  const key = path.at(-1) as string;
  const suggestion = closest(key, known);
  const parent = path.slice(0, -1).join('.');
  return {
    path: path.join('.'),
    value,
    expected: `a known key${parent ? ` of ${parent}` : ''} (${known.join(', ')})`,
    source,
    hint: suggestion ? `did you mean "${[...path.slice(0, -1), suggestion].join('.')}"?` : undefined,
  };
}

function applyEnv(
  merged: Tree,
  env: Readonly<Record<string, string | undefined>>,
  prefix: string,
  sources: Map<string, string>,
  issues: ConfigIssue[],
  onWarning: ((warning: ConfigWarning) => void) | undefined,
): void {
  const overrides: Tree = Object.create(null) as Tree;
  const variables = new Map<string, string>();
  // The seed's KURULTAI_* names first, so an ORDO_* variable for the same key wins.
  for (const [name, key] of Object.entries(LEGACY_ENV)) {
    const raw = env[name];
    if (raw === undefined) continue;
    const replacement = envVariableFor(key, prefix);
    if (env[replacement] !== undefined) {
      onWarning?.({
        code: 'CONFIG_SHADOWED_VARIABLE',
        variable: name,
        key,
        replacement,
        message: `${name} is ignored: ${replacement} sets ${key}. Remove ${name}.`,
      });
      continue;
    }
    setPath(overrides, key.split('.'), parseScalar(raw));
    variables.set(key, `${name} (deprecated: use ${replacement})`);
    onWarning?.({
      code: 'CONFIG_DEPRECATED_VARIABLE',
      variable: name,
      key,
      replacement,
      message: `${name} is deprecated: it sets ${key}; use ${replacement} instead.`,
    });
  }
  for (const [name, raw] of Object.entries(env)) {
    if (raw === undefined) continue;
    const flag = FLAG_VARIABLES[name];
    if (flag) {
      setPath(overrides, ['flags', flag], parseFlag(raw));
      variables.set(`flags.${flag}`, name);
      continue;
    }
    if (!name.startsWith(prefix) || !name.includes('__')) continue;
    const path = name.slice(prefix.length).split('__').map(camelCase);
    setPath(overrides, path, path[0] === 'flags' ? parseFlag(raw) : parseScalar(raw));
    variables.set(path.join('.'), name);
  }
  const describe = (path: string[]) => {
    const key = path.join('.');
    for (const [at, name] of variables) if (at === key || at.startsWith(`${key}.`)) return `env ${name}`;
    return 'env';
  };
  mergeInto(merged, overrides, [], describe, sources, issues);
}

function camelCase(segment: string): string {
  return segment.toLowerCase().replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

function parseScalar(raw: string): unknown {
  const text = raw.trim();
  if (/^(true|false)$/i.test(text)) return text.toLowerCase() === 'true';
  if (/^[-+]?(\d+\.?\d*|\.\d+)(e[-+]?\d+)?$/i.test(text)) return Number(text);
  return text;
}

/** A flag variable is on only for the exact text `true` (the rollout plan's `FF_X === 'true'`). */
function parseFlag(raw: string): boolean {
  return parseFeatureFlag(raw);
}

/** Sets a leaf in a tree of null-prototype objects (own properties only, so no key reaches a prototype). */
function setPath(tree: Tree, path: string[], value: unknown): void {
  let node = tree;
  for (const key of path.slice(0, -1)) {
    if (!Object.hasOwn(node, key) || !isTree(node[key])) {
      Object.defineProperty(node, key, {
        value: Object.create(null),
        enumerable: true,
        writable: true,
        configurable: true,
      });
    }
    node = node[key] as Tree;
  }
  Object.defineProperty(node, path.at(-1) as string, {
    value,
    enumerable: true,
    writable: true,
    configurable: true,
  });
}

function sourceOf(path: string, sources: Map<string, string>): string {
  const own = sources.get(path);
  if (own) return own;
  for (const [at, source] of sources) if (at.startsWith(`${path}.`)) return source;
  return 'defaults';
}
