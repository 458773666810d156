/**
 * `@ordo/executor-spool`: staged file edits with streaming, memoized diffs, validators and atomic commits.
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
export { type UnifiedDiffOptions, unifiedDiff } from './unifiedDiff.js';
// --- end of file spool ---
