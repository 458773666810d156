import { GovernanceOptionsError } from '../errors.js';

/** Returns `value` if it is a finite number > 0, else throws `GOVERNANCE_OPTIONS_INVALID`. */
export function positive(component: string, option: string, value: number): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new GovernanceOptionsError(component, option, value, 'a finite number > 0');
  }
  return value;
}

/** Returns `value` if it is an integer >= 1, else throws `GOVERNANCE_OPTIONS_INVALID`. */
export function positiveInteger(component: string, option: string, value: number): number {
  if (!Number.isInteger(value) || value < 1) {
    throw new GovernanceOptionsError(component, option, value, 'an integer >= 1');
  }
  return value;
}
