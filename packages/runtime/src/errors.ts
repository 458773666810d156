import { OrdoError, type OrdoErrorOptions, TaskErrorCode } from '@ordo/contracts';

/**
 * The stable codes of the errors `@ordo/runtime` throws or records on a failed task. Branch on them with
 * `isOrdoError(error, RuntimeErrorCode.PLAN_INVALID)`, never on message text. A task can also fail with a
 * code of another package: `SPOOL_VALIDATION_FAILED` (an edit outside the task's `files`), `SPOOL_CONFLICT`
 * (an earlier task of the level committed the same path), `KILLED_MEMORY` (memory emergency).
 */
export const RuntimeErrorCode = {
  /** The plan has bad fields; `details.issues` lists `{ path, message }` for each. */
  PLAN_INVALID: 'PLAN_INVALID',
  /** The plan file cannot be read or is not YAML/JSON. */
  PLAN_UNREADABLE: 'PLAN_UNREADABLE',
  /**
   * The task codes, shared with the worker pool (`TaskErrorCode` of `@ordo/contracts`): `TASK_FAILED` (a
   * command exited non-zero, `details.exitCode` / `details.stderrTail`, or a module threw,
   * `details.remoteCode`), `TASK_TIMEOUT` (past `timeoutMs`, counted from when it got a worker),
   * `TASK_CANCELLED`, `TASK_STALLED` (no heartbeat for `config.workers.stallTimeoutMs`: a task blocking its
   * event loop; the worker was killed and replaced), `TASK_DROPPED`, `WORKER_OOM` (out of heap,
   * `config.workers.heapMb`; the run goes on on a replacement), `WORKER_CRASHED`, `WORKER_START_FAILED`.
   */
  ...TaskErrorCode,
  /** A worker answered with something the protocol does not allow (a malformed result). */
  WORKER_PROTOCOL: 'WORKER_PROTOCOL',
  /** The runtime was closed; create a new one. */
  RUNTIME_CLOSED: 'RUNTIME_CLOSED',
  /** A feature is already running on this runtime; runs are one at a time. */
  RUNTIME_BUSY: 'RUNTIME_BUSY',
  /** The chosen launcher gives workers no stdin/stdout channel (`handle.io`). */
  RUNTIME_LAUNCHER_UNSUPPORTED: 'RUNTIME_LAUNCHER_UNSUPPORTED',
  /** An option of `createRuntime` or `runFeature` is invalid. */
  RUNTIME_OPTIONS_INVALID: 'RUNTIME_OPTIONS_INVALID',
  /** `resume: true`, but the state on disk belongs to another feature or another version of the plan. */
  RESUME_MISMATCH: 'RESUME_MISMATCH',
  /**
   * `resume: true`, but a file a committed task wrote no longer holds those bytes (it was changed between
   * the crash and the resume); `details.paths` lists them.
   */
  RESUME_WORKSPACE_CHANGED: 'RESUME_WORKSPACE_CHANGED',
  /**
   * A stored feature trace does not verify (its hash chain was changed): `details` has the first bad entry's
   * `seq`, `id` and `reason`, as `verifyTrace` returns them.
   */
  RUNTIME_TRACE_INVALID: 'RUNTIME_TRACE_INVALID',
} as const;

/** One of the {@link RuntimeErrorCode} values. */
export type RuntimeErrorCode = (typeof RuntimeErrorCode)[keyof typeof RuntimeErrorCode];

/** Options for the runtime errors: the {@link OrdoErrorOptions} without `code`, which each class fixes. */
export type RuntimeErrorOptions = Omit<OrdoErrorOptions, 'code'>;

/** One bad field of a plan. */
export interface PlanIssue {
  /** Where, e.g. `tasks[2].deps[0]` (`''` for the whole document). */
  path: string;
  /** What is wrong and what is expected. */
  message: string;
  /** The 1-based line in the plan file, when it was read from YAML/JSON text. */
  line?: number | undefined;
}

/**
 * `PLAN_INVALID`: the plan does not validate. `issues` (also `details.issues`) lists every bad field.
 *
 * @example
 * ```ts
 * try { await runtime.runFeature('plan.yaml'); } catch (e) {
 *   if (e instanceof PlanInvalidError) for (const i of e.issues) console.error(`${i.path}: ${i.message}`);
 * }
 * ```
 */
export class PlanInvalidError extends OrdoError {
  override readonly code = RuntimeErrorCode.PLAN_INVALID;
  /** Every bad field, in document order. */
  readonly issues: readonly PlanIssue[];
  constructor(source: string, issues: readonly PlanIssue[], options: RuntimeErrorOptions = {}) {
    const lines = issues.map(
      (i) => `  - ${i.path || '(plan)'}${i.line === undefined ? '' : ` (line ${i.line})`}: ${i.message}`,
    );
    super(`The plan ${source} is invalid; fix these fields and run it again:\n${lines.join('\n')}`, {
      ...options,
      details: { ...options.details, source, issues },
    });
    this.issues = issues;
  }
}

/** `PLAN_UNREADABLE`: the plan file is missing, unreadable, or has an extension other than .yaml/.yml/.json. */
export class PlanUnreadableError extends OrdoError {
  override readonly code = RuntimeErrorCode.PLAN_UNREADABLE;
  constructor(message: string, options: RuntimeErrorOptions = {}) {
    super(message, options);
  }
}

/** `WORKER_PROTOCOL`: a worker's answer is not what protocol v1 and the runtime's task format allow. */
export class WorkerProtocolError extends OrdoError {
  override readonly code = RuntimeErrorCode.WORKER_PROTOCOL;
  constructor(message: string, options: RuntimeErrorOptions = {}) {
    super(message, options);
  }
}

/** `RUNTIME_CLOSED`: the runtime was closed. */
export class RuntimeClosedError extends OrdoError {
  override readonly code = RuntimeErrorCode.RUNTIME_CLOSED;
  constructor(options: RuntimeErrorOptions = {}) {
    super('The runtime is closed. Create a new one with createRuntime() to run more features.', options);
  }
}

/** `RUNTIME_BUSY`: `runFeature` was called while another feature runs on the same runtime. */
export class RuntimeBusyError extends OrdoError {
  override readonly code = RuntimeErrorCode.RUNTIME_BUSY;
  constructor(running: string, options: RuntimeErrorOptions = {}) {
    super(
      `Feature "${running}" is still running on this runtime. Await its runFeature() before starting another, or use a second runtime with its own stateDir.`,
      { ...options, details: { running } },
    );
  }
}

/**
 * `RUNTIME_TRACE_INVALID`: a stored feature trace does not verify; `details` names the first entry that
 * does not match (`seq`, `id`, `reason`). `file` is where it was read from, when known.
 */
export class TraceInvalidError extends OrdoError {
  override readonly code = RuntimeErrorCode.RUNTIME_TRACE_INVALID;
  constructor(
    check: { seq: number; id: string | undefined; reason: string; message: string },
    file?: string,
    options: RuntimeErrorOptions = {},
  ) {
    const where =
      check.seq >= 0
        ? `entry #${check.seq}${check.id === undefined ? '' : ` (task ${check.id})`}`
        : 'the trace as a whole';
    super(
      `The feature trace${file === undefined ? '' : ` ${file}`} does not verify: ${where} was changed (${check.reason}: ${check.message}) Restore it from a copy you trust, or run the feature again to store a new one.`,
      {
        ...options,
        details: {
          seq: check.seq,
          id: check.id,
          reason: check.reason,
          ...(file === undefined ? {} : { file }),
        },
      },
    );
  }
}

/** `RUNTIME_LAUNCHER_UNSUPPORTED`: the launcher's workers have no `io` channel to speak protocol v1 over. */
export class LauncherUnsupportedError extends OrdoError {
  override readonly code = RuntimeErrorCode.RUNTIME_LAUNCHER_UNSUPPORTED;
  constructor(message: string, options: RuntimeErrorOptions = {}) {
    super(message, options);
  }
}

/** `RUNTIME_OPTIONS_INVALID`: an option has the wrong type or range (`details.option`). */
export class RuntimeOptionsError extends OrdoError {
  override readonly code = RuntimeErrorCode.RUNTIME_OPTIONS_INVALID;
  constructor(option: string, message: string, options: RuntimeErrorOptions = {}) {
    super(`Invalid runtime option ${option}: ${message}`, {
      ...options,
      details: { ...options.details, option },
    });
  }
}

/** `RESUME_MISMATCH`: the unfinished run in the state directory is of another feature or plan. */
export class ResumeMismatchError extends OrdoError {
  override readonly code = RuntimeErrorCode.RESUME_MISMATCH;
  constructor(message: string, options: RuntimeErrorOptions = {}) {
    super(message, options);
  }
}

/**
 * `RESUME_WORKSPACE_CHANGED`: a file that a task committed before the crash no longer holds the bytes the
 * journal recorded for it (`details.paths`), so resuming would report a digest the workspace does not
 * match. Nothing was run.
 */
export class ResumeWorkspaceChangedError extends OrdoError {
  override readonly code = RuntimeErrorCode.RESUME_WORKSPACE_CHANGED;
  /** The changed paths, workspace-relative, in path order. */
  readonly paths: readonly string[];
  constructor(stateDir: string, paths: readonly string[], options: RuntimeErrorOptions = {}) {
    const shown = paths.slice(0, 10).join(', ') + (paths.length > 10 ? `, … (${paths.length} in all)` : '');
    super(
      `Cannot resume the run in ${stateDir}: files that committed tasks wrote were changed since (${shown}). Put them back as the run left them, or run without resume to start over.`,
      { ...options, details: { ...options.details, paths } },
    );
    this.paths = paths;
  }
}
