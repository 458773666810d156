import {
  type Breaker,
  type BreakerContext,
  type BreakerState,
  type Clock,
  childAbortController,
  type Logger,
  noopLogger,
  systemClock,
  type TimerHandle,
} from '@ordo/contracts';
import { EventEmitter } from 'eventemitter3';
import { BreakerOpenError, BreakerTimeoutError } from './errors.js';
import { IDLE_CONTEXT } from './internal/idle.js';
import { positive, positiveInteger } from './internal/validate.js';
import type { GovernancePolicy, PolicyStats } from './policy.js';

/** How long a breaker stays open: `initialMs` the first time, times `factor` at each re-open, at most `maxMs`. */
export interface BackoffOptions {
  /** @default 1000 */
  initialMs?: number | undefined;
  /** @default 2 */
  factor?: number | undefined;
  /** @default 8000 */
  maxMs?: number | undefined;
}

/** Options for {@link CircuitBreaker}. */
export interface CircuitBreakerOptions {
  /** Names the breaker in errors, events, logs and the `circuit_breaker_state{name}` metric. */
  name: string;
  /**
   * How many failures inside `windowMs` open the breaker.
   * @default 3
   */
  failureThreshold?: number | undefined;
  /**
   * The sliding window failures are counted in, in ms.
   * @default 60000
   */
  windowMs?: number | undefined;
  /**
   * How many consecutive successful half-open probes close the breaker.
   * @default 2
   */
  successThreshold?: number | undefined;
  /**
   * How long it stays open; each re-open (a failed probe) multiplies the wait until a close resets it.
   * @default { initialMs: 1000, factor: 2, maxMs: 8000 }
   */
  backoff?: BackoffOptions | undefined;
  /**
   * How many probe calls may run at once while half-open; more are refused with `BREAKER_OPEN`.
   * @default 1
   */
  halfOpenMaxConcurrent?: number | undefined;
  /**
   * Which errors count as failures. Others pass through to the caller and count as successes (the
   * dependency answered). Timeouts always count as failures.
   * @default () => true
   */
  isFailure?: ((error: unknown) => boolean) | undefined;
  /**
   * Abandon a call after this many ms: its context signal aborts and it rejects with `BREAKER_TIMEOUT`.
   * @default no timeout
   */
  timeoutMs?: number | undefined;
  /** @default systemClock */
  clock?: Clock | undefined;
  /** Logs each state change. @default noopLogger */
  logger?: Logger | undefined;
}

/** The settings of a {@link CircuitBreaker} that can change while it runs (see `configure`). */
export type CircuitBreakerSettings = Pick<
  CircuitBreakerOptions,
  'failureThreshold' | 'windowMs' | 'successThreshold' | 'backoff' | 'halfOpenMaxConcurrent'
>;

/** A change of a breaker's state, as the `state` event reports it. */
export interface BreakerStateChange {
  name: string;
  from: BreakerState;
  to: BreakerState;
  /** When it changed, epoch ms on the breaker's clock. */
  at: number;
  /** When `to` is `open`: how long it stays open, in ms. */
  openForMs?: number | undefined;
}

/** The events of a {@link CircuitBreaker}. */
export interface CircuitBreakerEvents {
  /** The state changed. */
  state: [change: BreakerStateChange];
  /** A call succeeded (or failed with an error `isFailure` rejects). */
  success: [];
  /** A call failed. */
  failure: [error: unknown];
  /** A call was refused because the breaker was open or its half-open probes were taken. */
  rejected: [error: BreakerOpenError];
}

/**
 * A circuit breaker implementing the contracts `Breaker`: it opens after `failureThreshold` failures inside
 * a sliding `windowMs`, refuses calls with `BREAKER_OPEN` (and `retryAfterMs`) while open, lets
 * `halfOpenMaxConcurrent` probes through once the backoff has passed, and closes after `successThreshold`
 * consecutive probe successes. Each re-open doubles the wait (1, 2, 4, 8 s by default) until a close.
 *
 * When to use: around calls to one dependency (a host, a service). One breaker per dependency.
 *
 * Gotchas: outcomes of calls that started before a state change are ignored (a slow success from before
 * the breaker opened does not count as a probe). A caller's abort rejects the call at once with
 * `signal.reason` and counts neither way.
 *
 * @example
 * ```ts
 * const breaker = createCircuitBreaker({ name: 'api.example.com', timeoutMs: 5_000 });
 * const body = await breaker.execute(({ signal }) => fetch(url, { signal }).then((r) => r.text()));
 * ```
 */
export class CircuitBreaker extends EventEmitter<CircuitBreakerEvents> implements Breaker, GovernancePolicy {
  readonly kind = 'breaker';
  readonly name: string;
  #failureThreshold: number;
  #windowMs: number;
  #successThreshold: number;
  #initialMs: number;
  #factor: number;
  #maxMs: number;
  #halfOpenMax: number;
  readonly #isFailure: (error: unknown) => boolean;
  readonly #timeoutMs: number | undefined;
  readonly #clock: Clock;
  readonly #logger: Logger;

  #state: BreakerState = 'closed';
  /** Bumped at each transition, so stale outcomes are ignored. */
  #generation = 0;
  /** Times of the latest failures while closed (at most `failureThreshold`). */
  #failures: number[] = [];
  #opens = 0;
  #openUntil = 0;
  #timer: TimerHandle | undefined;
  #probes = 0;
  #probeSuccesses = 0;
  #attempts = 0;
  #rejections = 0;
  /** Time spent open before the current open period, in ms. */
  #openMsBefore = 0;
  #openedAt = 0;

  constructor(options: CircuitBreakerOptions) {
    super();
    const component = 'CircuitBreaker';
    if (typeof options?.name !== 'string' || options.name === '') {
      throw new TypeError('CircuitBreaker needs a non-empty name (the dependency it guards).');
    }
    this.name = options.name;
    this.#failureThreshold = positiveInteger(component, 'failureThreshold', options.failureThreshold ?? 3);
    this.#windowMs = positive(component, 'windowMs', options.windowMs ?? 60_000);
    this.#successThreshold = positiveInteger(component, 'successThreshold', options.successThreshold ?? 2);
    this.#initialMs = positive(component, 'backoff.initialMs', options.backoff?.initialMs ?? 1_000);
    this.#factor = positive(component, 'backoff.factor', options.backoff?.factor ?? 2);
    this.#maxMs = positive(component, 'backoff.maxMs', options.backoff?.maxMs ?? 8_000);
    this.#halfOpenMax = positiveInteger(
      component,
      'halfOpenMaxConcurrent',
      options.halfOpenMaxConcurrent ?? 1,
    );
    this.#isFailure = options.isFailure ?? (() => true);
    this.#timeoutMs =
      options.timeoutMs === undefined ? undefined : positive(component, 'timeoutMs', options.timeoutMs);
    this.#clock = options.clock ?? systemClock;
    this.#logger = (options.logger ?? noopLogger).child({ breaker: this.name });
  }

  /**
   * Changes the thresholds, window, backoff or half-open concurrency while running (a config hot reload).
   * Fields left out keep their value; the state, the failures counted and an open period already started
   * stay as they are, and the new values apply from the next call or re-open. Throws
   * `GOVERNANCE_OPTIONS_INVALID` and changes nothing if a value is invalid.
   */
  configure(settings: CircuitBreakerSettings): void {
    const component = 'CircuitBreaker';
    const failureThreshold = positiveInteger(
      component,
      'failureThreshold',
      settings.failureThreshold ?? this.#failureThreshold,
    );
    const windowMs = positive(component, 'windowMs', settings.windowMs ?? this.#windowMs);
    const successThreshold = positiveInteger(
      component,
      'successThreshold',
      settings.successThreshold ?? this.#successThreshold,
    );
    const initialMs = positive(
      component,
      'backoff.initialMs',
      settings.backoff?.initialMs ?? this.#initialMs,
    );
    const factor = positive(component, 'backoff.factor', settings.backoff?.factor ?? this.#factor);
    const maxMs = positive(component, 'backoff.maxMs', settings.backoff?.maxMs ?? this.#maxMs);
    const halfOpenMax = positiveInteger(
      component,
      'halfOpenMaxConcurrent',
      settings.halfOpenMaxConcurrent ?? this.#halfOpenMax,
    );
    this.#failureThreshold = failureThreshold;
    this.#windowMs = windowMs;
    this.#successThreshold = successThreshold;
    this.#initialMs = initialMs;
    this.#factor = factor;
    this.#maxMs = maxMs;
    this.#halfOpenMax = halfOpenMax;
    if (this.#failures.length > failureThreshold)
      this.#failures.splice(0, this.#failures.length - failureThreshold);
  }

  /** `closed`, `open` or `half-open`. */
  get state(): BreakerState {
    if (this.#state === 'open' && this.#clock.now() >= this.#openUntil) this.#toHalfOpen();
    return this.#state;
  }

  /** How long until an open breaker lets a probe through, in ms; 0 unless open. */
  get retryAfterMs(): number {
    return this.state === 'open' ? Math.max(0, this.#openUntil - this.#clock.now()) : 0;
  }

  /** Calls let through (`attempts`) and refused with `BREAKER_OPEN` (`rejections`) so far. */
  stats(): PolicyStats {
    return { attempts: this.#attempts, rejections: this.#rejections };
  }

  /** The total time this breaker has spent open, in ms (the current open period included). */
  get openMs(): number {
    if (this.state !== 'open') return this.#openMsBefore;
    return this.#openMsBefore + Math.max(0, this.#clock.now() - this.#openedAt);
  }

  /**
   * Runs `fn` unless the breaker refuses it, recording the outcome. `fn` receives a signal that aborts
   * when `signal` does or `timeoutMs` passes.
   * Rejects with `BREAKER_OPEN` while open, `BREAKER_TIMEOUT` on timeout, `signal.reason` on abort, and
   * otherwise with `fn`'s own error.
   */
  execute<T>(fn: (context: BreakerContext) => PromiseLike<T> | T, signal?: AbortSignal): Promise<T> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    let probe = false;
    if (this.#state !== 'closed') {
      if (this.state === 'open' || this.#probes >= this.#halfOpenMax) {
        const error = new BreakerOpenError(this.name, this.retryAfterMs);
        this.#rejections++;
        this.emit('rejected', error);
        return Promise.reject(error);
      }
      probe = true;
      this.#probes++;
    }
    this.#attempts++;
    if (signal === undefined && this.#timeoutMs === undefined) return this.#run(fn, probe);
    return this.#runGuarded(fn, probe, signal);
  }

  /** Clears the breaker's timer and its listeners. It stays usable; open → half-open then happens lazily. */
  async close(): Promise<void> {
    this.#clearTimer();
    this.removeAllListeners();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  async #run<T>(fn: (context: BreakerContext) => PromiseLike<T> | T, probe: boolean): Promise<T> {
    const generation = this.#generation;
    try {
      const value = await fn(IDLE_CONTEXT);
      this.#record(generation, probe, undefined, false);
      return value;
    } catch (error) {
      this.#record(generation, probe, error, this.#isFailure(error));
      throw error;
    }
  }

  #runGuarded<T>(
    fn: (context: BreakerContext) => PromiseLike<T> | T,
    probe: boolean,
    signal: AbortSignal | undefined,
  ): Promise<T> {
    const generation = this.#generation;
    const child = childAbortController(signal);
    const timeoutMs = this.#timeoutMs;
    return new Promise<T>((resolve, reject) => {
      let settled = false;
      let timer: TimerHandle | undefined;
      const finish = (outcome: () => void) => {
        if (settled) return;
        settled = true;
        if (timer !== undefined) this.#clock.clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        child.dispose();
        outcome();
      };
      const onAbort = () =>
        finish(() => {
          if (probe && generation === this.#generation) this.#probes--;
          reject(signal?.reason);
        });
      signal?.addEventListener('abort', onAbort, { once: true });
      if (timeoutMs !== undefined) {
        timer = this.#clock.setTimeout(() => {
          const error = new BreakerTimeoutError(this.name, timeoutMs);
          child.controller.abort(error);
          finish(() => {
            this.#record(generation, probe, error, true);
            reject(error);
          });
        }, timeoutMs);
      }
      new Promise<T>((run) => run(fn({ signal: child.signal }))).then(
        (value) =>
          finish(() => {
            this.#record(generation, probe, undefined, false);
            resolve(value);
          }),
        (error: unknown) =>
          finish(() => {
            this.#record(generation, probe, error, this.#isFailure(error));
            reject(error);
          }),
      );
    });
  }

  #record(generation: number, probe: boolean, error: unknown, failed: boolean): void {
    if (generation !== this.#generation) return;
    if (probe) this.#probes--;
    if (failed) {
      this.emit('failure', error);
      if (this.#state === 'half-open' || this.#windowFull()) this.#open();
      return;
    }
    this.emit('success');
    if (this.#state === 'half-open' && ++this.#probeSuccesses >= this.#successThreshold) this.#close();
  }

  /** Records a failure while closed; true once `failureThreshold` of them fall inside the window. */
  #windowFull(): boolean {
    const now = this.#clock.now();
    this.#failures.push(now);
    if (this.#failures.length > this.#failureThreshold) this.#failures.shift();
    return (
      this.#failures.length === this.#failureThreshold && (this.#failures[0] as number) > now - this.#windowMs
    );
  }

  #open(): void {
    const openForMs = Math.min(this.#maxMs, this.#initialMs * this.#factor ** this.#opens);
    this.#opens++;
    this.#openUntil = this.#clock.now() + openForMs;
    this.#clearTimer();
    this.#timer = this.#clock.setTimeout(() => this.#toHalfOpen(), openForMs, { unref: true });
    this.#transition('open', openForMs);
  }

  #toHalfOpen(): void {
    if (this.#state !== 'open') return;
    this.#clearTimer();
    this.#transition('half-open');
  }

  #close(): void {
    this.#opens = 0;
    this.#failures = [];
    this.#transition('closed');
  }

  #transition(to: BreakerState, openForMs?: number): void {
    const from = this.#state;
    const now = this.#clock.now();
    if (from === 'open') this.#openMsBefore += Math.max(0, Math.min(now, this.#openUntil) - this.#openedAt);
    if (to === 'open') this.#openedAt = now;
    this.#state = to;
    this.#generation++;
    this.#probes = 0;
    this.#probeSuccesses = 0;
    const change: BreakerStateChange = { name: this.name, from, to, at: now };
    if (openForMs !== undefined) change.openForMs = openForMs;
    if (to === 'open') this.#logger.warn({ from, to, openForMs }, `circuit breaker ${this.name} opened`);
    else this.#logger.info({ from, to }, `circuit breaker ${this.name} is ${to}`);
    this.emit('state', change);
  }

  #clearTimer(): void {
    if (this.#timer === undefined) return;
    this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}

/**
 * Makes a circuit breaker (the `createX` way every long-lived ordo component is made; the class is exported for its
 * type and `instanceof`, and `new CircuitBreaker(…)` keeps working).
 *
 * @example
 * ```ts
 * const breaker = createCircuitBreaker({ name: 'search-api', failureThreshold: 5 });
 * const value = await breaker.execute(() => fetchIt());
 * ```
 */
export function createCircuitBreaker(options: CircuitBreakerOptions): CircuitBreaker {
  return new CircuitBreaker(options);
}
