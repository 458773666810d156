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
  /** A bulkhead refused a call: `maxConcurrent` calls were running and `maxQueued` waiting. Retry later or shed load. */
  BULKHEAD_FULL: 'BULKHEAD_FULL',
  /** A call run through a timeout policy took longer than its `timeoutMs`; its signal was aborted. */
  POLICY_TIMEOUT: 'POLICY_TIMEOUT',
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

/** A bulkhead refused a call because it was full; the call was not made. */
export class BulkheadFullError extends OrdoError {
  override readonly code = GovernanceErrorCode.BULKHEAD_FULL;
  /** The bulkhead's name. */
  readonly bulkhead: string;

  constructor(bulkhead: string, maxConcurrent: number, maxQueued: number) {
    super(
      `Bulkhead "${bulkhead}" is full (${maxConcurrent} running, ${maxQueued} queued): the call was not made. Retry later, shed load, or raise maxConcurrent or maxQueued.`,
      { details: { bulkhead, maxConcurrent, maxQueued } },
    );
    this.bulkhead = bulkhead;
  }
}

/** A call run through a timeout policy did not settle within `timeoutMs`; its signal was aborted with this. */
export class PolicyTimeoutError extends OrdoError {
  override readonly code = GovernanceErrorCode.POLICY_TIMEOUT;
  /** The timeout policy's name. */
  readonly policy: string;
  /** The limit that passed, in ms. */
  readonly timeoutMs: number;

  constructor(policy: string, timeoutMs: number) {
    super(
      `A call through timeout policy "${policy}" took longer than ${timeoutMs} ms and was abandoned. Raise timeoutMs if such calls are expected to be slow.`,
      { details: { policy, timeoutMs } },
    );
    this.policy = policy;
    this.timeoutMs = timeoutMs;
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
    const lines = issues
      .slice(0, MESSAGE_ISSUES)
      .map(
        (i) =>
          `- ${clip(i.path || '(root)')} = ${clip(formatValue(i.value))} (from ${i.source}): ${i.expected}${i.hint ? `; ${clip(i.hint)}` : ''}`,
      );
    if (issues.length > MESSAGE_ISSUES) {
      lines.push(`- … and ${issues.length - MESSAGE_ISSUES} more (all of them are in \`issues\`)`);
    }
    super(
      `Configuration is invalid (${issues.length} problem${issues.length === 1 ? '' : 's'}); fix these keys and load it again:\n${lines.join('\n')}`,
      { details: { issues } },
    );
    this.issues = issues;
  }
}

/** How many issues a `CONFIG_INVALID` message lists (`issues` keeps them all). */
const MESSAGE_ISSUES = 50;

/** A value or key cut to 200 characters for a message, so a hostile document cannot make it huge. */
function clip(text: string): string {
  return text.length > 200 ? `${text.slice(0, 200)}…` : text;
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

// ---- Worker pool, IPC protocol and admission ----------------------------------------------------------

/**
 * The codes of the worker pool and its IPC protocol. Branch on these (`isOrdoError(e, 'POOL_CLOSED')`),
 * never on message text. A task run on the pool fails with the task codes of `@ordo/contracts`
 * (`TaskErrorCode`: `TASK_FAILED`, `TASK_TIMEOUT`, `TASK_CANCELLED`, `TASK_STALLED`, `TASK_DROPPED`,
 * `WORKER_OOM`, `WORKER_CRASHED`, `WORKER_START_FAILED`), shared with the runtime.
 */
export const PoolErrorCode = {
  /** The pool's queue is full; nothing was queued. Retry later or raise the queue's `maxDepth`. */
  POOL_QUEUE_FULL: 'POOL_QUEUE_FULL',
  /** Workers crashed more than `maxRestartsPerHour` times within the last hour; the pool stopped respawning them. */
  POOL_RESTART_BUDGET: 'POOL_RESTART_BUDGET',
  /** The pool was closed: it runs nothing more. */
  POOL_CLOSED: 'POOL_CLOSED',
  /** The pool's launcher gives its workers no stdin/stdout channel (`WorkerHandle.io`) to speak IPC v1 over. */
  POOL_LAUNCHER_UNSUPPORTED: 'POOL_LAUNCHER_UNSUPPORTED',
  /** A worker announced another protocol version in its READY message. */
  IPC_VERSION_MISMATCH: 'IPC_VERSION_MISMATCH',
  /** A worker's chunked result passed `maxResultBytes`, or its chunks could not be reassembled. */
  IPC_RESULT_INVALID: 'IPC_RESULT_INVALID',
} as const;

/** One of the {@link PoolErrorCode} values. */
export type PoolErrorCode = (typeof PoolErrorCode)[keyof typeof PoolErrorCode];

/** Where a worker-side failure happened, for the pool's errors. */
export interface WorkerExitInfo {
  workerId: string;
  pid: number | undefined;
  /** The exit code, `null` when killed by a signal. */
  code: number | null;
  /** The signal that ended it, if any. */
  signal: string | null;
  /** The last lines the worker wrote on stderr (at most 20). */
  stderr: readonly string[];
  /** Why its launcher says it ended, when it ran on a launcher. */
  reason?: string | undefined;
}

/** The pool's queue is full. */
export class PoolQueueFullError extends OrdoError {
  override readonly code = PoolErrorCode.POOL_QUEUE_FULL;

  constructor(maxDepth: number) {
    super(
      `The worker pool's queue is full (${maxDepth} tasks); nothing was queued. Retry later, shed load, or raise the queue's maxDepth.`,
      { details: { maxDepth } },
    );
  }
}

/** Workers crashed too often; the pool is degraded and does not respawn them for now. */
export class PoolRestartBudgetError extends OrdoError {
  override readonly code = PoolErrorCode.POOL_RESTART_BUDGET;

  constructor(maxRestartsPerHour: number, cause?: unknown) {
    super(
      `The worker pool is degraded: workers crashed more than maxRestartsPerHour (${maxRestartsPerHour}) times in the last hour, so it stopped respawning them. Fix the crash (see cause), then create a new pool.`,
      { cause, details: { maxRestartsPerHour } },
    );
  }
}

/** The pool was closed. */
export class PoolClosedError extends OrdoError {
  override readonly code = PoolErrorCode.POOL_CLOSED;

  constructor() {
    super('The worker pool is closed: it runs nothing more. Create a new pool.');
  }
}

/** The pool's launcher started a worker without a stdin/stdout channel. */
export class PoolLauncherUnsupportedError extends OrdoError {
  override readonly code = PoolErrorCode.POOL_LAUNCHER_UNSUPPORTED;

  constructor(workerId: string) {
    super(
      `The launcher started worker ${workerId} without a stdin/stdout channel (handle.io), so the pool cannot send it tasks. Use a launcher whose handles have io (a ContainerLauncher needs attachStdio: true).`,
      { details: { workerId } },
    );
  }
}

/** A version as announced, with its type visible: `1`, `"1"`, `undefined`. */
function describeVersion(got: unknown): string {
  if (got === undefined) return 'undefined (none announced)';
  try {
    return JSON.stringify(got) ?? String(got);
  } catch {
    return String(got);
  }
}

/** A worker speaks another IPC protocol version. */
export class IpcVersionMismatchError extends OrdoError {
  override readonly code = PoolErrorCode.IPC_VERSION_MISMATCH;

  constructor(workerId: string, got: unknown, expected: number) {
    super(
      `Worker ${workerId} speaks IPC protocol version ${describeVersion(got)}, but this pool speaks ${expected}. Use serveWorker from the same @ordo/governance version as the pool.`,
      { details: { workerId, got: describeVersion(got), expected } },
    );
  }
}

/** A worker's chunked result could not be accepted. */
export class IpcResultError extends OrdoError {
  override readonly code = PoolErrorCode.IPC_RESULT_INVALID;

  constructor(taskId: string, cause: unknown) {
    const reason = cause instanceof Error ? cause.message : String(cause);
    super(
      `The result of task ${taskId} could not be reassembled: ${reason}. Return less data from the task (or raise maxResultBytes).`,
      { cause, details: { taskId } },
    );
  }
}
