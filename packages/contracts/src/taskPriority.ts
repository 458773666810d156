/**
 * How urgent a task is. Lower numbers run first: a CRITICAL task always runs before a HEARTBEAT.
 *
 * @example
 * ```ts
 * import { TaskPriority } from '@ordo/contracts';
 * queue.enqueue({ id: 'build', priority: TaskPriority.HIGH });
 * ```
 */
export const TaskPriority = {
  /** Must run now: recovery, user-facing aborts. Never evicted. */
  CRITICAL: 0,
  /** Work a user is waiting for. */
  HIGH: 1,
  /** The default for ordinary tasks. */
  NORMAL: 2,
  /** Background work that can wait. Evicted after heartbeats when a queue is full. */
  LOW: 3,
  /** Liveness pings. The first thing skipped or evicted under pressure. */
  HEARTBEAT: 4,
} as const;

/** One of the five priority levels, `0` (CRITICAL) to `4` (HEARTBEAT). */
export type TaskPriority = (typeof TaskPriority)[keyof typeof TaskPriority];

/** Every priority level in running order, CRITICAL first. */
export const TASK_PRIORITIES: readonly TaskPriority[] = [0, 1, 2, 3, 4];

/** The name of a priority level, e.g. `taskPriorityName(0) === 'CRITICAL'`. */
export type TaskPriorityName = keyof typeof TaskPriority;

const NAMES: readonly TaskPriorityName[] = ['CRITICAL', 'HIGH', 'NORMAL', 'LOW', 'HEARTBEAT'];

/** Whether `value` is one of the five priority levels (an integer 0–4). */
export function isTaskPriority(value: unknown): value is TaskPriority {
  return typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= 4;
}

/** The upper-case name of a priority level, for logs and metric labels. */
export function taskPriorityName(priority: TaskPriority): TaskPriorityName {
  return NAMES[priority] as TaskPriorityName;
}
