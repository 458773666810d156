import type { IncomingMessage, ServerResponse } from 'node:http';
import { type Clock, type Logger, type MemoryPressure, noopLogger, systemClock } from '@ordo/contracts';
import { GovernanceOptionsError } from './errors.js';
import { AdmissionRate } from './internal/admissionRate.js';

/** The `code` of an admission refusal, in its JSON body. */
export const AdmissionCode = {
  /** 503: memory is at or above `rejectAtFraction` of the limit. */
  MEMORY_PRESSURE: 'MEMORY_PRESSURE',
  /** 429: the task queue is full. */
  QUEUE_FULL: 'QUEUE_FULL',
  /** 429: requests come faster than `rate.perSecond` (after a burst of `rate.burst`). */
  RATE_LIMITED: 'RATE_LIMITED',
} as const;

/** One of the {@link AdmissionCode} values. */
export type AdmissionCode = (typeof AdmissionCode)[keyof typeof AdmissionCode];

/** What {@link Admission.check} decided. */
export type AdmissionDecision =
  | { admitted: true }
  | {
      admitted: false;
      /** 503 for memory, 429 for a full queue or a rate over the limit. */
      status: 503 | 429;
      code: AdmissionCode;
      /** Seconds the client should wait, as sent in `Retry-After`. */
      retryAfterSeconds: number;
      /** A sentence for logs and the body's `error`. */
      reason: string;
    };

/** The JSON body of a refusal. */
export interface AdmissionRejectionBody {
  error: string;
  code: AdmissionCode;
  retryAfterSeconds: number;
}

/** How `Retry-After` is estimated: queue depth × recent task time ÷ concurrency, clamped. */
export interface RetryAfterOptions {
  /**
   * The recent time one task takes, in ms: a fixed number, or a function read at each refusal.
   * @default `pool.stats().averageTaskMs` when a pool is given (1000 before its first task), else 1000
   */
  taskMs?: number | (() => number) | undefined;
  /** How many tasks run at once. @default `pool.maxWorkers` when a pool is given, else 1 */
  concurrency?: number | undefined;
  /** @default 1 */
  minSeconds?: number | undefined;
  /** @default 300 */
  maxSeconds?: number | undefined;
}

/** Options for {@link createAdmission}. */
export interface AdmissionOptions {
  /** The memory monitor whose latest reading (`lastSnapshot.fractionOfLimit`) is compared with `rejectAtFraction`. */
  monitor: MemoryPressure;
  /** The queue whose fullness (`depth >= maxDepth`) answers 429: the pool's queue. */
  queue: { readonly depth: number; readonly maxDepth: number };
  /**
   * Refuse with 503 while memory is at or above this fraction of the limit.
   * @default 0.90
   */
  rejectAtFraction?: number | undefined;
  /** A fixed `Retry-After` in seconds, or how to estimate it. @default estimated (see {@link RetryAfterOptions}) */
  retryAfter?: number | RetryAfterOptions | undefined;
  /**
   * Admit at most `perSecond` requests a second, after a burst of `burst` (a token bucket that starts full):
   * past it, 429 `RATE_LIMITED` with `Retry-After` the seconds until the next token (at least 1). A request
   * refused for memory or a full queue spends no token.
   * @default no rate limit
   */
  rate?: { perSecond: number; burst?: number | undefined } | undefined;
  /** The time source of the rate. @default systemClock */
  clock?: Clock | undefined;
  /** The worker pool behind the queue, for the estimate's task time and concurrency. */
  pool?: { readonly maxWorkers: number; stats(): { readonly averageTaskMs: number } } | undefined;
  /** Called on each refusal, e.g. to count it in a metric. */
  onReject?: ((decision: Extract<AdmissionDecision, { admitted: false }>) => void) | undefined;
  /** Each refusal is logged at warn with its reason. @default noopLogger */
  logger?: Logger | undefined;
}

/** The request counts of an {@link Admission}. */
export interface AdmissionCounters {
  admitted: number;
  rejectedMemory: number;
  rejectedQueueFull: number;
  rejectedRate: number;
}

/** The smallest slice of Fastify's reply that {@link Admission.admissionHook} uses. */
export interface FastifyReplyLike {
  code(status: number): FastifyReplyLike;
  header(name: string, value: string): FastifyReplyLike;
  send(payload?: unknown): unknown;
}

/**
 * An admission gate: call it as `(req, res, next)` middleware (node:http, Express, Connect), or register
 * `admissionHook` as Fastify's `onRequest` hook.
 */
export interface Admission {
  /** Middleware: answers 503/429 and stops, or calls `next()`. */
  (req: IncomingMessage, res: ServerResponse, next?: (error?: unknown) => void): void;
  /** For a plain `node:http` handler: `true` when admitted (the response is untouched), `false` when answered. */
  handle(req: IncomingMessage, res: ServerResponse): boolean;
  /** Fastify `onRequest` hook: sends the refusal and returns the reply, or returns nothing to go on. */
  admissionHook(request: { method?: string; url?: string }, reply: FastifyReplyLike): Promise<unknown>;
  /** Decides without answering anything (not counted, not logged). */
  check(): AdmissionDecision;
  /** How many requests were admitted and refused, by reason. */
  readonly counters: Readonly<AdmissionCounters>;
  /**
   * Changes the memory fraction and the rate while running (a config hot reload). Fields left out keep
   * their value; a new rate starts a full bucket of the new `burst`. Throws `GOVERNANCE_OPTIONS_INVALID`
   * and changes nothing if a value is invalid.
   */
  configure(settings: AdmissionSettings): void;
}

/** The settings of an {@link Admission} that can change while it runs (see `configure`). */
export type AdmissionSettings = Pick<AdmissionOptions, 'rejectAtFraction' | 'rate'>;

/**
 * Builds an HTTP admission gate in front of a worker pool, after fastify's under-pressure: 503 while memory
 * is at or above `rejectAtFraction` of the limit, 429 `QUEUE_FULL` while the task queue is full, and with
 * `rate`, 429 `RATE_LIMITED` past the token bucket. Each carries `Retry-After` (memory and queue: queue
 * depth × recent task time ÷ workers, clamped to 1–300 s; rate: the seconds until the next token) and a
 * JSON body `{ error, code, retryAfterSeconds }`; each refusal is logged with its reason and counted.
 *
 * When to use: on routes that enqueue work, so a host sheds load before it runs out of memory.
 *
 * Gotchas: memory is read from the monitor's latest snapshot, so start the monitor (`monitor.start()`).
 * Admission does not enqueue anything: a request admitted here can still meet `POOL_QUEUE_FULL` if others
 * filled the queue meanwhile.
 *
 * @example
 * ```ts
 * const admission = createAdmission({ monitor, queue: pool.queue, pool });
 * app.use('/tasks', admission);                            // Express / Connect
 * fastify.addHook('onRequest', admission.admissionHook);   // Fastify
 * http.createServer((req, res) => { if (admission.handle(req, res)) route(req, res); });
 * ```
 */
export function createAdmission(options: AdmissionOptions): Admission {
  const checkFraction = (fraction: number) => {
    if (!(fraction > 0 && fraction <= 1)) {
      throw new GovernanceOptionsError(
        'createAdmission',
        'rejectAtFraction',
        fraction,
        'a fraction in (0, 1]',
      );
    }
    return fraction;
  };
  let rejectAt = checkFraction(options.rejectAtFraction ?? 0.9);
  const { monitor, queue, pool } = options;
  const retry = typeof options.retryAfter === 'object' ? options.retryAfter : {};
  const fixed = typeof options.retryAfter === 'number' ? options.retryAfter : undefined;
  if (fixed !== undefined && !(fixed >= 0)) {
    throw new GovernanceOptionsError('createAdmission', 'retryAfter', fixed, 'seconds >= 0');
  }
  const taskMs = readTaskMs(retry.taskMs, pool);
  const concurrency = retry.concurrency ?? pool?.maxWorkers ?? 1;
  const minSeconds = retry.minSeconds ?? 1;
  const maxSeconds = retry.maxSeconds ?? 300;
  const logger = options.logger ?? noopLogger;
  let rate = options.rate && createRate(options.rate, options.clock ?? systemClock);
  const counters: AdmissionCounters = {
    admitted: 0,
    rejectedMemory: 0,
    rejectedQueueFull: 0,
    rejectedRate: 0,
  };

  const retryAfterSeconds = () => {
    if (fixed !== undefined) return Math.ceil(fixed);
    const estimate = Math.ceil((queue.depth * taskMs()) / Math.max(1, concurrency) / 1_000);
    return Math.min(maxSeconds, Math.max(minSeconds, Number.isFinite(estimate) ? estimate : maxSeconds));
  };

  const check = (): AdmissionDecision => {
    const percent = monitor.lastSnapshot?.fractionOfLimit ?? 0;
    if (percent >= rejectAt) {
      return {
        admitted: false,
        status: 503,
        code: AdmissionCode.MEMORY_PRESSURE,
        retryAfterSeconds: retryAfterSeconds(),
        reason: `memory at ${Math.round(percent * 100)}% of the limit (rejecting from ${Math.round(rejectAt * 100)}%)`,
      };
    }
    if (queue.depth >= queue.maxDepth) {
      return {
        admitted: false,
        status: 429,
        code: AdmissionCode.QUEUE_FULL,
        retryAfterSeconds: retryAfterSeconds(),
        reason: `task queue full (${queue.depth}/${queue.maxDepth})`,
      };
    }
    const waitMs = rate?.waitMs() ?? 0;
    if (rate && waitMs > 0) {
      return {
        admitted: false,
        status: 429,
        code: AdmissionCode.RATE_LIMITED,
        retryAfterSeconds: Math.max(1, Math.ceil(waitMs / 1_000)),
        reason: `more than ${rate.perSecond} requests a second (burst ${rate.burst})`,
      };
    }
    return { admitted: true };
  };

  /** Decides, counts and logs; returns the refusal to send, if any. */
  const decide = (request: { method?: string | undefined; url?: string | undefined }) => {
    const decision = check();
    if (decision.admitted) {
      rate?.take();
      counters.admitted++;
      return undefined;
    }
    if (decision.code === AdmissionCode.MEMORY_PRESSURE) counters.rejectedMemory++;
    else if (decision.code === AdmissionCode.RATE_LIMITED) counters.rejectedRate++;
    else counters.rejectedQueueFull++;
    logger.warn(
      {
        status: decision.status,
        code: decision.code,
        retryAfterSeconds: decision.retryAfterSeconds,
        method: request.method,
        url: request.url,
      },
      `request refused: ${decision.reason}`,
    );
    options.onReject?.(decision);
    const body: AdmissionRejectionBody = {
      error: `Service overloaded: ${decision.reason}. Retry after ${decision.retryAfterSeconds} s.`,
      code: decision.code,
      retryAfterSeconds: decision.retryAfterSeconds,
    };
    return { decision, body: JSON.stringify(body) };
  };

  const handle = (req: IncomingMessage, res: ServerResponse): boolean => {
    const refusal = decide(req);
    if (refusal === undefined) return true;
    res.writeHead(refusal.decision.status, {
      'content-type': 'application/json; charset=utf-8',
      'retry-after': String(refusal.decision.retryAfterSeconds),
      'content-length': Buffer.byteLength(refusal.body),
    });
    res.end(refusal.body);
    return false;
  };

  const middleware = (req: IncomingMessage, res: ServerResponse, next?: (error?: unknown) => void) => {
    if (handle(req, res)) next?.();
  };

  const admissionHook = async (request: { method?: string; url?: string }, reply: FastifyReplyLike) => {
    const refusal = decide(request);
    if (refusal === undefined) return undefined;
    reply
      .code(refusal.decision.status)
      .header('retry-after', String(refusal.decision.retryAfterSeconds))
      .header('content-type', 'application/json; charset=utf-8')
      .send(refusal.body);
    return reply;
  };

  const configure = (settings: AdmissionSettings) => {
    const nextRejectAt = checkFraction(settings.rejectAtFraction ?? rejectAt);
    const nextRate = settings.rate ? createRate(settings.rate, options.clock ?? systemClock) : rate;
    rejectAt = nextRejectAt;
    rate = nextRate;
  };

  return Object.assign(middleware, { handle, admissionHook, check, counters, configure });
}

function createRate(option: NonNullable<AdmissionOptions['rate']>, clock: Clock): AdmissionRate {
  const { perSecond } = option;
  if (!(perSecond > 0 && Number.isFinite(perSecond))) {
    throw new GovernanceOptionsError('createAdmission', 'rate.perSecond', perSecond, 'a finite number > 0');
  }
  const burst = option.burst ?? Math.max(1, Math.ceil(perSecond));
  if (!(Number.isInteger(burst) && burst >= 1)) {
    throw new GovernanceOptionsError('createAdmission', 'rate.burst', burst, 'a whole number >= 1');
  }
  return new AdmissionRate(perSecond, burst, clock);
}

function readTaskMs(option: RetryAfterOptions['taskMs'], pool: AdmissionOptions['pool']): () => number {
  if (option === undefined) return () => pool?.stats().averageTaskMs || 1_000;
  if (typeof option === 'function') return option;
  if (typeof option === 'number' && option >= 0) return () => option;
  throw new GovernanceOptionsError(
    'createAdmission',
    'retryAfter.taskMs',
    option,
    'a number of ms >= 0 or a function returning one',
  );
}
