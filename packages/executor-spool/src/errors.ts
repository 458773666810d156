import { OrdoError } from '@ordo/contracts';

// --- File spool errors (createSpool) ---

/**
 * The stable codes of the file spool's errors.
 *
 * @example
 * ```ts
 * if (isOrdoError(error, SpoolErrorCode.CONFLICT)) await spool.reset([error.details?.path as string]);
 * ```
 */
export const SpoolErrorCode = {
  /** A path is absolute, holds `..`, a NUL byte or a backslash, or leads outside the root through a symlink. */
  PATH_ESCAPE: 'SPOOL_PATH_ESCAPE',
  /** A file (on disk or staged) is larger than `maxFileBytes`. */
  TOO_LARGE: 'SPOOL_TOO_LARGE',
  /** A file changed on disk after it was staged: committing would lose that update. */
  CONFLICT: 'SPOOL_CONFLICT',
  /** A validator reported issues, or the commit gate refused: nothing was written. */
  VALIDATION_FAILED: 'SPOOL_VALIDATION_FAILED',
  /** A write failed half way through a commit; the files already replaced were restored. */
  COMMIT_FAILED: 'SPOOL_COMMIT_FAILED',
  /** `read` of a path that neither the spool nor the disk holds. */
  NOT_FOUND: 'SPOOL_NOT_FOUND',
  /** The spool was closed; create a new one. */
  CLOSED: 'SPOOL_CLOSED',
  /** An option or argument has the wrong type or range. */
  INVALID_ARGUMENT: 'SPOOL_INVALID_ARGUMENT',
} as const;

/** One of {@link SpoolErrorCode}'s values. */
export type SpoolErrorCode = (typeof SpoolErrorCode)[keyof typeof SpoolErrorCode];

/**
 * An error of the file spool. Branch on `code` (see {@link SpoolErrorCode}); `details.path` names the file
 * when there is one.
 *
 * @example
 * ```ts
 * try { await spool.commit(); } catch (e) {
 *   if (isOrdoError(e, 'SPOOL_CONFLICT')) await spool.reset([e.details?.path as string]);
 * }
 * ```
 */
export class SpoolError<C extends SpoolErrorCode = SpoolErrorCode> extends OrdoError {
  declare readonly code: C;

  constructor(
    code: C,
    message: string,
    options: { cause?: unknown; details?: Readonly<Record<string, unknown>> | undefined } = {},
  ) {
    super(message, { ...options, code });
  }
}

/** One problem a validator found in a staged file. */
export interface SpoolIssue {
  /** The staged path (relative to the root, `/`-separated). */
  path: string;
  /** What is wrong and, ideally, how to fix it. */
  message: string;
  /** A 1-based line number, when the issue has one. */
  line?: number | undefined;
  /** Which validator (its function name, else its index) or `commitGate` reported it. */
  source?: string | undefined;
}

/**
 * `SPOOL_VALIDATION_FAILED`: validators or the commit gate blocked a commit. `issues` lists every issue.
 *
 * @example
 * ```ts
 * try { await spool.commit(); } catch (e) {
 *   if (e instanceof SpoolValidationError) for (const i of e.issues) report(i.path, i.line, i.message);
 * }
 * ```
 */
export class SpoolValidationError extends SpoolError<'SPOOL_VALIDATION_FAILED'> {
  /** Every issue, grouped by path in path order. */
  readonly issues: readonly SpoolIssue[];

  constructor(issues: readonly SpoolIssue[]) {
    const lines = issues.map((i) => `  ${i.path}${i.line === undefined ? '' : `:${i.line}`}: ${i.message}`);
    super(
      SpoolErrorCode.VALIDATION_FAILED,
      `The commit was blocked by ${issues.length} issue(s); nothing was written. Fix them and commit again:\n${lines.join('\n')}`,
      { details: { issues: issues.map((i) => ({ ...i })) } },
    );
    this.issues = issues;
  }
}
// --- end of file spool errors ---
