/**
 * `@ordo/executor-spool`: where ordo tasks act on the world. Staged file edits over a root (streaming,
 * memoized diffs, validators, atomic commits under per-path locks), a persistent shell pool with a command
 * allowlist, and a fetch restricted to allowed hosts and public addresses.
 * @packageDocumentation
 */

// --- File spool ---
export { DiffCache, type DiffCacheOptions, type DiffCacheStats } from './diffCache.js';
export { SpoolError, SpoolErrorCode, type SpoolIssue, SpoolValidationError } from './errors.js';
export { createKeyedMutex } from './keyedMutex.js';
export {
  createSpool,
  recoverSpool,
  type Spool,
  type SpoolCallOptions,
  type SpoolChange,
  type SpoolChangeKind,
  type SpoolCommitGate,
  type SpoolCommitMode,
  type SpoolCommitResult,
  type SpoolCommitSummary,
  type SpoolData,
  type SpoolOp,
  type SpoolOptions,
  type SpoolReplacer,
  type SpoolStats,
  type SpoolTouched,
  type SpoolValidator,
  type SpoolValidatorIssue,
} from './spool.js';
export { type UnifiedDiffOptions, unifiedDiff, unifiedDiffBytes } from './unifiedDiff.js';
// --- end of file spool ---

// ---- Shell pool and restricted fetch ----
export { type CommandPolicy, checkCommand } from './commandPolicy.js';
export {
  FETCH_ERROR_CODES,
  FetchBlockedAddressError,
  FetchBodyTooLargeError,
  FetchDnsError,
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
  isLocalhostName,
  normalizeHost,
} from './hostPolicy.js';
export {
  type CheckedAgentOptions,
  createCheckedAgent,
  createRestrictedFetch,
  type FetchSpan,
  type FetchTracer,
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
