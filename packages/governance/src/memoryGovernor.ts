import { randomUUID } from 'node:crypto';
import {
  type Logger,
  MEMORY_LEVELS,
  type MemoryLevel,
  type MemorySnapshot,
  noopLogger,
} from '@ordo/contracts';
import { EventEmitter } from 'eventemitter3';
import { TaskKilledError, TaskPreemptedError } from './errors.js';
import type { MemoryMonitorEvents } from './memoryMonitor.js';
import type { PriorityQueue, QueueItem } from './priorityQueue.js';

/** A task that is running now, as the governor sees it. */
export interface RunningTask<T extends QueueItem = QueueItem> {
  /** The queue item the task came from; a preempted task is enqueued again as it is. */
  readonly item: T;
  /**
   * Whether the governor may preempt it at the critical level (abort it and queue it again).
   * @default false
   */
  readonly preemptable?: boolean | undefined;
  /** The task's controller: aborted with a `PREEMPTED` or `KILLED_MEMORY` error as its reason. */
  readonly controller: AbortController;
  /** Runs at the emergency level, after the abort: stop the task for good (e.g. kill its worker). */
  kill?: ((reason: TaskKilledError) => void | Promise<void>) | undefined;
}

/** The set of running tasks the governor picks from: a `Map<string, RunningTask>` keyed by item id fits. */
export interface RunningTasks<T extends QueueItem = QueueItem> {
  values(): Iterable<RunningTask<T>>;
  delete(id: string): boolean;
}

/** A monitor the governor can follow: `MemoryMonitor` fits. */
export interface GovernedMonitor {
  readonly level: MemoryLevel;
  on(event: 'snapshot', listener: (...args: MemoryMonitorEvents['snapshot']) => void): unknown;
  off(event: 'snapshot', listener: (...args: MemoryMonitorEvents['snapshot']) => void): unknown;
}

/** Counters the governor increments: the metrics of `createMetrics` fit. */
export interface GovernorMetrics {
  tasksPreempted: { inc(): void };
  tasksKilled: { inc(): void };
}

/** Options for {@link MemoryGovernor}. */
export interface MemoryGovernorOptions<T extends QueueItem = QueueItem> {
  /** The memory monitor to follow (the governor acts on its snapshots). */
  monitor: GovernedMonitor;
  /** The queue whose heartbeats are skipped from the warning level on, and where preempted tasks go back. */
  queue: PriorityQueue<T>;
  /** The running tasks to preempt or kill. */
  running: RunningTasks<T>;
  /** Counters for preempted and killed tasks. @default none */
  metrics?: GovernorMetrics | undefined;
  /** Each action is logged with its correlation id. @default noopLogger */
  logger?: Logger | undefined;
  /**
   * While the level holds at critical or emergency, how long to wait after an action before the next
   * one, in ms of the monitor's clock (a rise acts at once). Gives freed memory time to show.
   * @default 10000
   */
  cooldownMs?: number | undefined;
  /** Makes correlation ids. @default crypto.randomUUID */
  newId?: (() => string) | undefined;
}

/** One thing the governor did. */
export interface GovernorAction {
  action: 'skip-heartbeats' | 'skip-heartbeat' | 'preempt' | 'kill';
  /** Shared by every action taken during one memory episode (from a rise until the next change). */
  correlationId: string;
  level: MemoryLevel;
  /** The task acted on (absent for `skip-heartbeats`, the start of skipping). */
  taskId?: string | undefined;
  /** For `preempt`: whether the task found room in the queue again. */
  requeued?: boolean | undefined;
}

/** The events of a {@link MemoryGovernor}. */
export interface MemoryGovernorEvents {
  /** The governor acted. */
  action: [action: GovernorAction];
}

/** What a {@link MemoryGovernor} has done since it started. */
export interface GovernorStats {
  heartbeatsSkipped: number;
  preempted: number;
  killed: number;
}

const MESSAGES: Record<GovernorAction['action'], (action: Omit<GovernorAction, 'correlationId'>) => string> =
  {
    'skip-heartbeats': (a) => `memory at ${a.level}: skipping heartbeats`,
    'skip-heartbeat': (a) => `heartbeat ${a.taskId} skipped: memory is high`,
    preempt: (a) => `task ${a.taskId} preempted: memory is critical`,
    kill: (a) => `task ${a.taskId} killed: memory is at emergency`,
  };

/**
 * Acts on memory pressure: from the warning level on, the queue skips heartbeats (counted); at critical,
 * the lowest-priority running task marked `preemptable` is preempted (its signal aborts with `PREEMPTED`
 * and its item goes back in the queue); at emergency, the lowest-priority running task is killed (its
 * signal aborts and its `kill` callback runs with `KILLED_MEMORY`). Among equals, the newest task is
 * chosen, so the least work is lost. Each action is logged with a correlation id, counted and emitted.
 *
 * Gotchas: the governor acts once per rise, then again every `cooldownMs` while the level holds. It does
 * not stop a consumer from taking a preempted task straight back; gate the consumer on `monitor.level`.
 *
 * @example
 * ```ts
 * const running = new Map<string, RunningTask>();
 * await using governor = createMemoryGovernor({ monitor, queue, running, metrics, logger });
 * ```
 */
export class MemoryGovernor<T extends QueueItem = QueueItem> extends EventEmitter<MemoryGovernorEvents> {
  readonly #monitor: GovernedMonitor;
  readonly #queue: PriorityQueue<T>;
  readonly #running: RunningTasks<T>;
  readonly #metrics: GovernorMetrics | undefined;
  readonly #logger: Logger;
  readonly #cooldownMs: number;
  readonly #newId: () => string;
  readonly #stats: GovernorStats = { heartbeatsSkipped: 0, preempted: 0, killed: 0 };
  #level: MemoryLevel = 'normal';
  #correlationId = '';
  #lastActionAt = Number.NEGATIVE_INFINITY;
  #closed = false;

  constructor(options: MemoryGovernorOptions<T>) {
    super();
    this.#monitor = options.monitor;
    this.#queue = options.queue;
    this.#running = options.running;
    this.#metrics = options.metrics;
    this.#logger = (options.logger ?? noopLogger).child({ component: 'memory-governor' });
    this.#cooldownMs = options.cooldownMs ?? 10_000;
    this.#newId = options.newId ?? randomUUID;
    this.#monitor.on('snapshot', this.#onSnapshot);
    this.#queue.on('skipped', this.#onSkipped);
  }

  /** What the governor has done so far. */
  get stats(): Readonly<GovernorStats> {
    return { ...this.#stats };
  }

  /** Stops following the monitor and the queue, and lets the queue hand out heartbeats again. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#monitor.off('snapshot', this.#onSnapshot);
    this.#queue.off('skipped', this.#onSkipped);
    this.#queue.memoryHigh = false;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  readonly #onSnapshot = (snapshot: MemorySnapshot): void => {
    const level = this.#monitor.level;
    const rose = MEMORY_LEVELS.indexOf(level) > MEMORY_LEVELS.indexOf(this.#level);
    if (level !== this.#level) {
      this.#correlationId = this.#newId();
      if (this.#level === 'normal') this.#act({ action: 'skip-heartbeats', level });
      this.#level = level;
    }
    this.#queue.memoryHigh = level !== 'normal';
    if (level !== 'critical' && level !== 'emergency') return;
    if (!rose && snapshot.at - this.#lastActionAt < this.#cooldownMs) return;
    const acted = level === 'critical' ? this.#preempt() : this.#kill();
    if (acted) this.#lastActionAt = snapshot.at;
  };

  readonly #onSkipped = (item: T): void => {
    this.#stats.heartbeatsSkipped++;
    this.#act({ action: 'skip-heartbeat', level: this.#level, taskId: item.id });
  };

  #preempt(): boolean {
    const task = this.#lowest((t) => t.preemptable === true);
    if (!task) return false;
    const { item } = task;
    this.#running.delete(item.id);
    task.controller.abort(new TaskPreemptedError(item.id, this.#correlationId));
    const requeued = this.#queue.enqueue(item).accepted;
    this.#stats.preempted++;
    this.#metrics?.tasksPreempted.inc();
    this.#act({ action: 'preempt', level: 'critical', taskId: item.id, requeued });
    return true;
  }

  #kill(): boolean {
    const task = this.#lowest(() => true);
    if (!task) return false;
    const { item } = task;
    this.#running.delete(item.id);
    const reason = new TaskKilledError(item.id, this.#correlationId);
    task.controller.abort(reason);
    this.#stats.killed++;
    this.#metrics?.tasksKilled.inc();
    this.#act({ action: 'kill', level: 'emergency', taskId: item.id });
    const correlationId = this.#correlationId;
    Promise.resolve()
      .then(() => task.kill?.(reason))
      .catch((error: unknown) =>
        this.#logger.error({ err: error, taskId: item.id, correlationId }, 'kill callback failed'),
      );
    return true;
  }

  /** The running task with the lowest priority (the newest among equals) that `accept` allows. */
  #lowest(accept: (task: RunningTask<T>) => boolean): RunningTask<T> | undefined {
    let chosen: RunningTask<T> | undefined;
    for (const task of this.#running.values()) {
      if (accept(task) && (!chosen || task.item.priority >= chosen.item.priority)) chosen = task;
    }
    return chosen;
  }

  #act(action: Omit<GovernorAction, 'correlationId'>): void {
    const full: GovernorAction = { ...action, correlationId: this.#correlationId };
    const message = MESSAGES[action.action](action);
    if (action.action === 'skip-heartbeat') this.#logger.info({ ...full }, message);
    else this.#logger.warn({ ...full }, message);
    this.emit('action', full);
  }
}

/**
 * Makes a memory governor (the `createX` way every long-lived ordo component is made; the class is exported for its
 * type and `instanceof`, and `new MemoryGovernor(…)` keeps working).
 *
 * @example
 * ```ts
 * const governor = createMemoryGovernor({ monitor, queue, running });
 * ```
 */
export function createMemoryGovernor<T extends QueueItem = QueueItem>(
  options: MemoryGovernorOptions<T>,
): MemoryGovernor<T> {
  return new MemoryGovernor<T>(options);
}
