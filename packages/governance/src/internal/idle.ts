import type { PolicyContext } from '@ordo/contracts';

/**
 * The signal of calls made without one: it never aborts. Governance policies hand it to `fn` when the
 * caller passed no signal, and `wrap` turns it back into "no signal" for the next policy in the chain, so
 * a chain without a signal stays on each policy's fast path.
 */
export const IDLE_SIGNAL: AbortSignal = new AbortController().signal;

/** A context whose signal never aborts. */
export const IDLE_CONTEXT: PolicyContext = Object.freeze({ signal: IDLE_SIGNAL });
