import { OrdoError, type OrdoErrorOptions } from '@ordo/contracts';

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
  /** A path names a FIFO, a directory, a socket or a device: the spool reads and stages regular files only. */
  NOT_REGULAR: 'SPOOL_NOT_REGULAR',
  /**
   * Recovery found a journal in `.ordo-spool/` that this user's spools did not write for this root (no valid
   * HMAC, an old unauthenticated format, or a bad schema). It was left in place and nothing of it was replayed.
   */
  JOURNAL_UNTRUSTED: 'SPOOL_JOURNAL_UNTRUSTED',
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

// ---- Shell pool and restricted fetch errors ------------------------------------------------------------

/** The stable codes of the shell pool's errors. */
export const SHELL_ERROR_CODES = {
  /** The command (or a word of it) is refused by the allowlist; `details.word` names it. */
  SHELL_NOT_ALLOWED: 'SHELL_NOT_ALLOWED',
  /** The command ran past its `timeoutMs`; its process group was killed and its shell replaced. */
  SHELL_TIMEOUT: 'SHELL_TIMEOUT',
  /** The caller's signal aborted the running command; its process group was killed and its shell replaced. */
  SHELL_ABORTED: 'SHELL_ABORTED',
  /** The shell running the command died; it was replaced. */
  SHELL_CRASHED: 'SHELL_CRASHED',
  /** The pool was closed before or while the command ran. */
  SHELL_CLOSED: 'SHELL_CLOSED',
  /** An option of the pool or of `run` is invalid; `details.option` names it. */
  SHELL_INVALID_OPTION: 'SHELL_INVALID_OPTION',
} as const;

/** One of {@link SHELL_ERROR_CODES}. */
export type ShellErrorCode = (typeof SHELL_ERROR_CODES)[keyof typeof SHELL_ERROR_CODES];

/** Refused by the command allowlist. `details.word` is the refused word or construct. */
export class ShellNotAllowedError extends OrdoError {
  override readonly code = 'SHELL_NOT_ALLOWED' as const;
  constructor(word: string, reason: string) {
    super(`The shell pool refused ${JSON.stringify(word)}: ${reason}`, { details: { word, reason } });
  }
}

/** The command ran past its timeout and was killed. */
export class ShellTimeoutError extends OrdoError {
  override readonly code = 'SHELL_TIMEOUT' as const;
  constructor(timeoutMs: number, options: OrdoErrorOptions = {}) {
    super(
      `The command ran longer than ${timeoutMs} ms; its process group was killed. Raise timeoutMs or make the command faster.`,
      { ...options, details: { timeoutMs, ...options.details } },
    );
  }
}

/** The command was aborted by the caller's signal while it ran, and killed. `cause` is the signal's reason. */
export class ShellAbortedError extends OrdoError {
  override readonly code = 'SHELL_ABORTED' as const;
  constructor(options: OrdoErrorOptions = {}) {
    super('The command was aborted by its signal; its process group was killed.', options);
  }
}

/** The shell died while it ran the command (killed from outside, or it killed itself). */
export class ShellCrashedError extends OrdoError {
  override readonly code = 'SHELL_CRASHED' as const;
  constructor(message: string, options: OrdoErrorOptions = {}) {
    super(`${message} The shell was replaced; retry the command if it is safe to run again.`, options);
  }
}

/** The pool is closed. */
export class ShellClosedError extends OrdoError {
  override readonly code = 'SHELL_CLOSED' as const;
  constructor() {
    super('The shell pool is closed. Create a new pool to run more commands.');
  }
}

/** An option of the shell pool or of a run is invalid. */
export class ShellOptionError extends OrdoError {
  override readonly code = 'SHELL_INVALID_OPTION' as const;
  constructor(option: string, message: string) {
    super(`Invalid shell option ${option}: ${message}`, { details: { option } });
  }
}

/** The stable codes of the restricted fetch's errors. */
export const FETCH_ERROR_CODES = {
  /** The URL is not http(s), carries userinfo, or cannot be parsed. */
  FETCH_URL_NOT_ALLOWED: 'FETCH_URL_NOT_ALLOWED',
  /** The host is not on the allowlist; `details.host` names it. */
  FETCH_HOST_NOT_ALLOWED: 'FETCH_HOST_NOT_ALLOWED',
  /** The host is, or resolves to, a private, loopback, link-local or otherwise blocked address. */
  FETCH_BLOCKED_ADDRESS: 'FETCH_BLOCKED_ADDRESS',
  /** More redirects than `maxRedirects`. */
  FETCH_TOO_MANY_REDIRECTS: 'FETCH_TOO_MANY_REDIRECTS',
  /** No token was free for the host and `rate.wait` is false; `details.retryAfterMs` says when to retry. */
  FETCH_RATE_LIMITED: 'FETCH_RATE_LIMITED',
  /** The response body grew past `maxBodyBytes`. */
  FETCH_BODY_TOO_LARGE: 'FETCH_BODY_TOO_LARGE',
  /** The request (headers and body) took longer than `timeoutMs`. */
  FETCH_TIMEOUT: 'FETCH_TIMEOUT',
  /** An option of the restricted fetch is invalid; `details.option` names it. */
  FETCH_INVALID_OPTION: 'FETCH_INVALID_OPTION',
  /** The host name did not resolve (no such name, no address, or the resolver failed); `details.dnsCode` says how. */
  FETCH_DNS_FAILED: 'FETCH_DNS_FAILED',
} as const;

/** One of {@link FETCH_ERROR_CODES}. */
export type FetchErrorCode = (typeof FETCH_ERROR_CODES)[keyof typeof FETCH_ERROR_CODES];

/** The URL's scheme or form is refused (only plain http and https URLs without userinfo are fetched). */
export class FetchUrlNotAllowedError extends OrdoError {
  override readonly code = 'FETCH_URL_NOT_ALLOWED' as const;
  constructor(url: string, reason: string) {
    super(`The restricted fetch refused ${JSON.stringify(url)}: ${reason}`, { details: { url, reason } });
  }
}

/** The host is not on the allowlist. */
export class FetchHostNotAllowedError extends OrdoError {
  override readonly code = 'FETCH_HOST_NOT_ALLOWED' as const;
  constructor(host: string) {
    super(
      `The host ${JSON.stringify(host)} is not on the fetch allowlist. Add it (or a *.suffix) to allow.`,
      {
        details: { host },
      },
    );
  }
}

/** The destination address is blocked (private, loopback, link-local, unique-local, unspecified, …). */
export class FetchBlockedAddressError extends OrdoError {
  override readonly code = 'FETCH_BLOCKED_ADDRESS' as const;
  constructor(host: string, address: string, range: string) {
    super(
      `The host ${JSON.stringify(host)} is or resolves to ${address} (${range}), which is blocked. List the host in allowPrivate if it is meant to be reached.`,
      { details: { host, address, range } },
    );
  }
}

/** The redirect chain is longer than `maxRedirects`. */
export class FetchTooManyRedirectsError extends OrdoError {
  override readonly code = 'FETCH_TOO_MANY_REDIRECTS' as const;
  constructor(maxRedirects: number, url: string) {
    super(
      `More than ${maxRedirects} redirects, the last to ${url}. Raise maxRedirects or fetch the target directly.`,
      {
        details: { maxRedirects, url },
      },
    );
  }
}

/** No rate token is free for the host and the fetch was told not to wait. */
export class FetchRateLimitedError extends OrdoError {
  override readonly code = 'FETCH_RATE_LIMITED' as const;
  /** How long until a token is free. */
  readonly retryAfterMs: number;
  constructor(host: string, retryAfterMs: number) {
    super(`The rate limit for ${JSON.stringify(host)} is exhausted; retry in ${retryAfterMs} ms.`, {
      details: { host, retryAfterMs },
    });
    this.retryAfterMs = retryAfterMs;
  }
}

/** The response body grew past `maxBodyBytes`. */
export class FetchBodyTooLargeError extends OrdoError {
  override readonly code = 'FETCH_BODY_TOO_LARGE' as const;
  constructor(maxBodyBytes: number, url: string) {
    super(
      `The response body of ${url} is larger than ${maxBodyBytes} bytes; it was cut off. Raise maxBodyBytes to read more.`,
      {
        details: { maxBodyBytes, url },
      },
    );
  }
}

/** The request took longer than `timeoutMs`. */
export class FetchTimeoutError extends OrdoError {
  override readonly code = 'FETCH_TIMEOUT' as const;
  constructor(timeoutMs: number, url: string) {
    super(`The request to ${url} took longer than ${timeoutMs} ms. Raise timeoutMs or retry later.`, {
      details: { timeoutMs, url },
    });
  }
}

/** An option of the restricted fetch is invalid. */
export class FetchOptionError extends OrdoError {
  override readonly code = 'FETCH_INVALID_OPTION' as const;
  constructor(option: string, message: string) {
    super(`Invalid fetch option ${option}: ${message}`, { details: { option } });
  }
}

/** The host name could not be resolved to an address. */
export class FetchDnsError extends OrdoError {
  override readonly code = 'FETCH_DNS_FAILED' as const;
  constructor(host: string, dnsCode: string, cause?: unknown) {
    super(
      `The host ${JSON.stringify(host)} did not resolve (${dnsCode}). Check the name, or the resolver, and retry.`,
      { cause, details: { host, dnsCode } },
    );
  }
}

// ---- end of shell pool and restricted fetch errors ------------------------------------------------------
