import { OrdoError } from '@ordo/contracts';

/**
 * Every code `@ordo/governance` throws or aborts with. Branch on these (`isOrdoError(e, 'BREAKER_OPEN')`),
 * never on message text.
 */
export const GovernanceErrorCode = {
  /** A circuit breaker is open (or its half-open probes are all taken): the call was not made. Retry after `retryAfterMs`. */
  BREAKER_OPEN: 'BREAKER_OPEN',
  /** A call run through a circuit breaker took longer than its `timeoutMs`; it counts as a failure. */
  BREAKER_TIMEOUT: 'BREAKER_TIMEOUT',
  /** A configuration (file, env override or watch reload) failed validation; `issues` lists every bad key. */
  CONFIG_INVALID: 'CONFIG_INVALID',
  /** A configuration file could not be read or parsed as YAML. */
  CONFIG_UNREADABLE: 'CONFIG_UNREADABLE',
  /** An option passed to a governance constructor is out of range. */
  OPTIONS_INVALID: 'GOVERNANCE_OPTIONS_INVALID',
  /** An item given to a priority queue has no usable `id` or `priority`. */
  QUEUE_ITEM_INVALID: 'QUEUE_ITEM_INVALID',
  /** The priority queue was closed: nothing more is accepted and waiting `take` calls end. */
  QUEUE_CLOSED: 'QUEUE_CLOSED',
  /** A running task was preempted by the memory governor at the critical level; it was put back in the queue. */
  PREEMPTED: 'PREEMPTED',
  /** A running task was killed by the memory governor at the emergency level. */
  KILLED_MEMORY: 'KILLED_MEMORY',
} as const;

/** One of the {@link GovernanceErrorCode} values. */
export type GovernanceErrorCode = (typeof GovernanceErrorCode)[keyof typeof GovernanceErrorCode];

/**
 * A call was refused because the breaker is open, or half-open with every probe slot taken.
 *
 * @example
 * ```ts
 * try { await breaker.execute(call); } catch (e) {
 *   if (e instanceof BreakerOpenError) await clock.sleep(e.retryAfterMs);
 * }
 * ```
 */
export class BreakerOpenError extends OrdoError {
  override readonly code = GovernanceErrorCode.BREAKER_OPEN;
  /** The breaker's name. */
  readonly breaker: string;
  /** How long until the breaker lets a probe through, in ms (0 when half-open and only busy). */
  readonly retryAfterMs: number;

  constructor(breaker: string, retryAfterMs: number) {
    super(
      `Circuit breaker "${breaker}" is open: the call was not made. Retry in ${retryAfterMs} ms, or check why its calls fail.`,
      { details: { breaker, retryAfterMs } },
    );
    this.breaker = breaker;
    this.retryAfterMs = retryAfterMs;
  }
}

/** A call run through a breaker with `timeoutMs` did not settle in time. It counts as a failure. */
export class BreakerTimeoutError extends OrdoError {
  override readonly code = GovernanceErrorCode.BREAKER_TIMEOUT;

  constructor(breaker: string, timeoutMs: number) {
    super(
      `A call through circuit breaker "${breaker}" took longer than ${timeoutMs} ms and was abandoned. Raise timeoutMs if such calls are expected to be slow.`,
      { details: { breaker, timeoutMs } },
    );
  }
}

/** One bad key of a configuration. */
export interface ConfigIssue {
  /** The dotted key path, e.g. `workers.max` (empty for the whole document). */
  path: string;
  /** The value found there (`undefined` when missing). */
  value: unknown;
  /** What was expected instead. */
  expected: string;
  /** Where the value came from: `file:line`, `env NAME` or `defaults`. */
  source: string;
  /** A "did you mean" hint for unknown keys. */
  hint?: string | undefined;
}

/**
 * A configuration failed validation. `issues` lists every bad key path with its value, its source and what
 * was expected; the message repeats them one per line.
 */
export class ConfigInvalidError extends OrdoError {
  override readonly code = GovernanceErrorCode.CONFIG_INVALID;
  /** Every bad key, in document order. */
  readonly issues: readonly ConfigIssue[];

  constructor(issues: readonly ConfigIssue[]) {
    const lines = issues.map(
      (i) =>
        `- ${i.path || '(root)'} = ${formatValue(i.value)} (from ${i.source}): ${i.expected}${i.hint ? `; ${i.hint}` : ''}`,
    );
    super(
      `Configuration is invalid (${issues.length} problem${issues.length === 1 ? '' : 's'}); fix these keys and load it again:\n${lines.join('\n')}`,
      { details: { issues } },
    );
    this.issues = issues;
  }
}

function formatValue(value: unknown): string {
  if (value === undefined) return 'undefined';
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}

/** A configuration file could not be read or is not valid YAML. */
export class ConfigUnreadableError extends OrdoError {
  override readonly code = GovernanceErrorCode.CONFIG_UNREADABLE;

  constructor(file: string, cause: unknown) {
    const reason = cause instanceof Error ? cause.message : String(cause);
    super(`Cannot read configuration file ${file}: ${reason}. Check that it exists and is valid YAML.`, {
      cause,
      details: { file },
    });
  }
}

/** A constructor option is out of range; the message names the option and the accepted range. */
export class GovernanceOptionsError extends OrdoError {
  override readonly code = GovernanceErrorCode.OPTIONS_INVALID;

  constructor(component: string, option: string, value: unknown, expected: string) {
    super(`${component}: option ${option} = ${formatValue(value)} is invalid; expected ${expected}.`, {
      details: { component, option, value: formatValue(value) },
    });
  }
}

/** An item without a non-empty string `id` or a valid `priority`. */
export class QueueItemError extends OrdoError {
  override readonly code = GovernanceErrorCode.QUEUE_ITEM_INVALID;

  constructor(message: string, id: unknown) {
    super(message, { details: { id: formatValue(id) } });
  }
}

/** The queue is closed: create a new one, or stop enqueueing. */
export class QueueClosedError extends OrdoError {
  override readonly code = GovernanceErrorCode.QUEUE_CLOSED;

  constructor() {
    super(
      'The priority queue is closed: it accepts nothing more and waiting take() calls end. Use a new queue.',
    );
  }
}

/** The abort reason of a task the memory governor preempted; the task was put back in the queue. */
export class TaskPreemptedError extends OrdoError {
  override readonly code = GovernanceErrorCode.PREEMPTED;

  constructor(taskId: string, correlationId: string) {
    super(
      `Task ${taskId} was preempted because memory reached the critical level; it is queued again and will rerun when memory allows.`,
      { details: { taskId, correlationId } },
    );
  }
}

/** The abort reason of a task the memory governor killed at the emergency level. */
export class TaskKilledError extends OrdoError {
  override readonly code = GovernanceErrorCode.KILLED_MEMORY;

  constructor(taskId: string, correlationId: string) {
    super(
      `Task ${taskId} was killed because memory reached the emergency level. Lower its memory use or raise the limit, then run it again.`,
      { details: { taskId, correlationId } },
    );
  }
}
