/*
 * The one vocabulary of task statuses. A task has three kinds of status, each its own type with its own
 * name, used by every package that speaks of it:
 * - how one run of it ended ({@link TaskRunStatus}: the kernel-scheduler's records and traces);
 * - where it is in its life ({@link TaskLifecycleStatus}: the launcher's state file, status views, metrics);
 * - what a feature run did with it ({@link FeatureTaskStatus}: the runtime's results and CLI).
 */

/** Every {@link TaskRunStatus}, in a stable order. */
export const TASK_RUN_STATUSES = ['ok', 'failed', 'timed_out', 'cancelled'] as const;

/**
 * How one run of a task ended: `ok` (it returned), `failed` (it threw), `timed_out` (it ran past its limit,
 * error `TASK_TIMEOUT`), `cancelled` (it was stopped or never started, error `TASK_CANCELLED`). These are
 * the statuses a scheduler record and a trace entry carry.
 */
export type TaskRunStatus = (typeof TASK_RUN_STATUSES)[number];

/** Every {@link TaskLifecycleStatus}, in lifecycle order. */
export const TASK_LIFECYCLE_STATUSES = ['pending', 'claimed', 'running', 'completed', 'failed'] as const;

/**
 * Where a task is in its life as a state file records it: `pending` (created, not given to a worker),
 * `claimed` (a worker took it), `running`, then `completed` or `failed` (a cancelled task is `failed`, with
 * `TASK_CANCELLED` in its error).
 */
export type TaskLifecycleStatus = (typeof TASK_LIFECYCLE_STATUSES)[number];

/** Every {@link FeatureTaskStatus}. */
export const FEATURE_TASK_STATUSES = ['committed', 'failed', 'skipped', 'cancelled'] as const;

/**
 * What a feature run did with a task: `committed` (its edits are on disk), `failed`, `skipped` (a
 * dependency failed, or it committed before a resume) or `cancelled`.
 */
export type FeatureTaskStatus = (typeof FEATURE_TASK_STATUSES)[number];
