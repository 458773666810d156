import type { Policy } from '@ordo/contracts';

/** Which policy a {@link GovernancePolicy} is, as its metrics label it. */
export type PolicyKind = 'retry' | 'timeout' | 'bulkhead' | 'fallback' | 'breaker';

/** What every governance policy counts, from its creation on (for the `policy_*` metrics). */
export interface PolicyStats {
  /** Times the policy ran `fn` (or the next policy): each attempt of a retry counts. */
  readonly attempts: number;
  /**
   * Calls the policy refused or abandoned with its own error: `BULKHEAD_FULL`, `BREAKER_OPEN`,
   * `POLICY_TIMEOUT`; for a retry, calls it gave up on with the last failure; for a fallback, calls that
   * ended in the fallback.
   */
  readonly rejections: number;
}

/**
 * A contracts `Policy` made by `@ordo/governance` (`retry`, `timeout`, `bulkhead`, `fallback` and
 * `CircuitBreaker`): it has a name and counts what it did, which `createMetrics().bind({ policies })` reads.
 */
export interface GovernancePolicy extends Policy {
  /** Names the policy in events, errors and the `policy` metric label. */
  readonly name: string;
  readonly kind: PolicyKind;
  /** The counters so far. */
  stats(): PolicyStats;
}
