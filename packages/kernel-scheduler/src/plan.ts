/**
 * `@ordo/kernel-scheduler/plan`: the plan-time part of the scheduler alone — level planning and the
 * deterministic order — with nothing of the run (no p-limit, lru-cache, event emitter or hashing of traces),
 * so a host that only checks a graph pays for no more than this. The same functions and error class as the
 * package's main entry: `SchedulerError` thrown here is `instanceof` the one exported there.
 *
 * @example
 * ```ts
 * import { planLevels } from '@ordo/kernel-scheduler/plan';
 * const levels = planLevels([{ id: 'a' }, { id: 'b', deps: ['a'] }]);
 * ```
 *
 * @packageDocumentation
 */
export { SchedulerError, SchedulerErrorCode } from './errors.js';
export { type GraphNode, planLevels } from './planLevels.js';
export { type Orderable, planOrder, seededHash } from './planOrder.js';
