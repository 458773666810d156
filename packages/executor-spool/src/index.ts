/**
 * `@ordo/executor-spool`: where ordo tasks act on the world. Staged file edits over a root, a persistent
 * shell pool with a command allowlist, and a fetch restricted to allowed hosts and public addresses.
 * @packageDocumentation
 */

// ---- Shell pool and restricted fetch ----
export { type CommandPolicy, checkCommand } from './commandPolicy.js';
export {
  FETCH_ERROR_CODES,
  FetchBlockedAddressError,
  FetchBodyTooLargeError,
  type FetchErrorCode,
  FetchHostNotAllowedError,
  FetchOptionError,
  FetchRateLimitedError,
  FetchTimeoutError,
  FetchTooManyRedirectsError,
  FetchUrlNotAllowedError,
  SHELL_ERROR_CODES,
  ShellAbortedError,
  ShellClosedError,
  ShellCrashedError,
  type ShellErrorCode,
  ShellNotAllowedError,
  ShellOptionError,
  ShellTimeoutError,
} from './errors.js';
export {
  blockedRange,
  createHostPolicy,
  type HostPolicy,
  type HostPolicyOptions,
  normalizeHost,
} from './hostPolicy.js';
export {
  type CheckedAgentOptions,
  createCheckedAgent,
  createRestrictedFetch,
  type RequestLike,
  type ResolvedAddress,
  type RestrictedFetch,
  type RestrictedFetchOptions,
} from './restrictedFetch.js';
export {
  createShellPool,
  type ShellPool,
  type ShellPoolOptions,
  type ShellPoolStats,
  type ShellResult,
  type ShellRunOptions,
} from './shellPool.js';
export { createTokenBucket, type TokenBucketOptions } from './tokenBucket.js';
// ---- end of shell pool and restricted fetch ----
