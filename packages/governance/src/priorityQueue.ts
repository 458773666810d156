import { TaskPriority, type TaskPriorityName } from '@ordo/contracts';
import { EventEmitter } from 'eventemitter3';
import { GovernanceOptionsError, QueueClosedError, QueueItemError } from './errors.js';
import { positiveInteger } from './internal/validate.js';

/** What a {@link PriorityQueue} holds: anything with a unique `id` and a `priority`. */
export interface QueueItem {
  readonly id: string;
  readonly priority: TaskPriority;
}

/** The answer of {@link PriorityQueue.enqueue}. A full queue is normal flow, not an exception. */
export type EnqueueResult<T> =
  | { accepted: true; evicted?: T | undefined }
  | { accepted: false; reason: 'QUEUE_FULL' };

/** Options for {@link PriorityQueue}. */
export interface PriorityQueueOptions {
  /**
   * How many items the queue holds at most, over all levels.
   * @default 5
   */
  maxDepth?: number | undefined;
  /**
   * Per-level caps, e.g. `{ HEARTBEAT: 1 }`. A level at its cap refuses more (`QUEUE_FULL`, no eviction).
   * @default no per-level cap
   */
  perPriority?: Partial<Record<TaskPriorityName, number>> | undefined;
  /**
   * Whether memory is high right now. While it is (or while {@link PriorityQueue.memoryHigh} is set),
   * `dequeue` skips heartbeats: it drops them, counts them and emits `skipped`.
   * @default () => false
   */
  isMemoryHigh?: (() => boolean) | undefined;
}

/** The events of a {@link PriorityQueue}. */
export interface PriorityQueueEvents<T> {
  /** `item` was pushed out of a full queue to make room for `by`. Its owner should settle it. */
  evicted: [item: T, by: T];
  /** A heartbeat was dropped by `dequeue` because memory was high. */
  skipped: [item: T];
  /** An item was cancelled with `remove(id)`. */
  removed: [item: T];
}

/**
 * One level's FIFO: a growable ring buffer, so `push`, `shift` and `pop` are O(1) with no per-item
 * allocation and no array reallocation once it has grown to its working size.
 */
class Level<T extends QueueItem> {
  readonly cap: number;
  buffer: (T | undefined)[] = new Array(8).fill(undefined);
  mask = 7;
  head = 0;
  size = 0;

  constructor(cap: number) {
    this.cap = cap;
  }

  push(item: T): void {
    if (this.size > this.mask) this.#grow();
    this.buffer[(this.head + this.size) & this.mask] = item;
    this.size++;
  }

  shift(): T | undefined {
    if (this.size === 0) return undefined;
    const item = this.buffer[this.head];
    this.buffer[this.head] = undefined;
    this.head = (this.head + 1) & this.mask;
    this.size--;
    return item;
  }

  pop(): T | undefined {
    if (this.size === 0) return undefined;
    this.size--;
    const index = (this.head + this.size) & this.mask;
    const item = this.buffer[index];
    this.buffer[index] = undefined;
    return item;
  }

  at(offset: number): T {
    return this.buffer[(this.head + offset) & this.mask] as T;
  }

  /** Removes the oldest item with this id, closing the gap (O(level size)). */
  removeId(id: string): T | undefined {
    for (let offset = 0; offset < this.size; offset++) {
      const item = this.at(offset);
      if (item.id !== id) continue;
      for (let k = offset; k < this.size - 1; k++) {
        this.buffer[(this.head + k) & this.mask] = this.at(k + 1);
      }
      this.pop();
      return item;
    }
    return undefined;
  }

  #grow(): void {
    const next: (T | undefined)[] = new Array((this.mask + 1) * 2).fill(undefined);
    for (let offset = 0; offset < this.size; offset++) next[offset] = this.at(offset);
    this.buffer = next;
    this.mask = next.length - 1;
    this.head = 0;
  }
}

interface Waiter<T> {
  resolve(item: T): void;
  reject(reason: unknown): void;
}

const ACCEPTED = Object.freeze({ accepted: true as const });
const FULL = Object.freeze({ accepted: false as const, reason: 'QUEUE_FULL' as const });

const LEVEL_NAMES: readonly TaskPriorityName[] = ['CRITICAL', 'HIGH', 'NORMAL', 'LOW', 'HEARTBEAT'];

/**
 * A bounded queue over the five {@link TaskPriority} levels: CRITICAL always leaves before HEARTBEAT, FIFO
 * within a level, O(1) `enqueue` and `dequeue`.
 *
 * When full, a CRITICAL or HIGH item evicts the newest HEARTBEAT item (then the newest LOW one) and gets
 * it back as `evicted`; anything else is refused with `QUEUE_FULL`. While memory is high, `dequeue` drops
 * heartbeats (counted in `heartbeatsSkipped`, emitted as `skipped`).
 *
 * Gotchas: keep ids unique among queued items; the queue does not index them (that would cost a Map
 * operation per call), so `remove(id)` and `has(id)` scan, in O(depth). Evicted and skipped items are gone
 * from the queue: listen to `evicted` / `skipped` to settle them.
 *
 * @example
 * ```ts
 * const queue = new PriorityQueue<{ id: string; priority: TaskPriority }>({ maxDepth: 100 });
 * queue.enqueue({ id: 'build', priority: TaskPriority.HIGH });
 * const next = await queue.take(AbortSignal.timeout(5_000));
 * ```
 */
export class PriorityQueue<T extends QueueItem = QueueItem> extends EventEmitter<PriorityQueueEvents<T>> {
  /** Set by a memory governor: while true, heartbeats are skipped as with `isMemoryHigh`. */
  memoryHigh = false;
  readonly maxDepth: number;
  readonly #isMemoryHigh: () => boolean;
  readonly #levels: readonly Level<T>[];
  readonly #waiters: Waiter<T>[] = [];
  #depth = 0;
  #skipped = 0;
  #closed = false;

  constructor(options: PriorityQueueOptions = {}) {
    super();
    this.maxDepth = positiveInteger('PriorityQueue', 'maxDepth', options.maxDepth ?? 5);
    const perPriority = options.perPriority ?? {};
    for (const [name, cap] of Object.entries(perPriority)) {
      if (!LEVEL_NAMES.includes(name as TaskPriorityName)) {
        throw new GovernanceOptionsError(
          'PriorityQueue',
          `perPriority.${name}`,
          cap,
          `a key among ${LEVEL_NAMES.join(', ')}`,
        );
      }
      if (!Number.isInteger(cap) || (cap as number) < 0) {
        throw new GovernanceOptionsError('PriorityQueue', `perPriority.${name}`, cap, 'an integer >= 0');
      }
    }
    this.#levels = LEVEL_NAMES.map((name) => new Level<T>(perPriority[name] ?? Number.POSITIVE_INFINITY));
    this.#isMemoryHigh = options.isMemoryHigh ?? (() => false);
  }

  /** How many items are queued, over all levels. Never exceeds `maxDepth`. */
  get depth(): number {
    return this.#depth;
  }

  /** How many heartbeats `dequeue` dropped because memory was high. */
  get heartbeatsSkipped(): number {
    return this.#skipped;
  }

  /** How many `take` calls are waiting for an item. */
  get waiting(): number {
    return this.#waiters.length;
  }

  /** How many items of one level are queued. */
  depthOf(priority: TaskPriority): number {
    return this.#levels[priority]?.size ?? 0;
  }

  /** Whether an item with this id is queued (O(depth)). */
  has(id: string): boolean {
    for (const item of this) if (item.id === id) return true;
    return false;
  }

  /**
   * Queues `item`, or hands it straight to a waiting `take`. Returns `{ accepted: false, reason:
   * 'QUEUE_FULL' }` when there is no room (see the class notes on eviction).
   * Throws `QUEUE_ITEM_INVALID` for an item without a string id or a valid priority, and `QUEUE_CLOSED`
   * after `close()`.
   */
  enqueue(item: T): EnqueueResult<T> {
    if (this.#closed) throw new QueueClosedError();
    const { id, priority } = item;
    if (typeof id !== 'string' || id === '') {
      throw new QueueItemError('A queue item needs a non-empty string id.', id);
    }
    // A number that indexes a level is an integer 0..4: cheaper than isTaskPriority on the hot path.
    const level = typeof priority === 'number' ? this.#levels[priority] : undefined;
    if (level === undefined) {
      throw new QueueItemError(
        `Queue item ${id} has priority ${String(priority)}; use a TaskPriority (0 CRITICAL … 4 HEARTBEAT).`,
        id,
      );
    }
    if (level.size >= level.cap) return FULL;
    let evicted: T | undefined;
    if (this.#depth >= this.maxDepth) {
      if (priority <= TaskPriority.HIGH) {
        evicted =
          (this.#levels[TaskPriority.HEARTBEAT] as Level<T>).pop() ??
          (this.#levels[TaskPriority.LOW] as Level<T>).pop();
      }
      if (evicted === undefined) return FULL;
      this.#depth--;
    }
    level.push(item);
    this.#depth++;
    if (evicted !== undefined) this.emit('evicted', evicted, item);
    if (this.#waiters.length > 0) this.#feedWaiters();
    return evicted === undefined ? ACCEPTED : { accepted: true, evicted };
  }

  /** Takes the next item (highest priority, oldest first), or `undefined` when nothing is ready. */
  dequeue(): T | undefined {
    for (let priority = 0; priority < 5; priority++) {
      const level = this.#levels[priority] as Level<T>;
      if (level.size === 0) continue;
      if (priority === TaskPriority.HEARTBEAT && (this.memoryHigh || this.#isMemoryHigh())) {
        for (let item = level.shift(); item !== undefined; item = level.shift()) {
          this.#depth--;
          this.#skipped++;
          this.emit('skipped', item);
        }
        return undefined;
      }
      const item = level.shift() as T;
      this.#depth--;
      return item;
    }
    return undefined;
  }

  /**
   * Waits for the next item. Rejects with `signal.reason` if `signal` aborts first, and with
   * `QUEUE_CLOSED` if the queue is closed while waiting. Waiters are served in arrival order.
   */
  take(signal?: AbortSignal): Promise<T> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (this.#closed) return Promise.reject(new QueueClosedError());
    const ready = this.dequeue();
    if (ready !== undefined) return Promise.resolve(ready);
    return new Promise<T>((resolve, reject) => {
      const onAbort = () => {
        const index = this.#waiters.indexOf(waiter);
        if (index !== -1) this.#waiters.splice(index, 1);
        reject(signal?.reason);
      };
      const waiter = {
        resolve: (item: T) => {
          signal?.removeEventListener('abort', onAbort);
          resolve(item);
        },
        reject: (reason: unknown) => {
          signal?.removeEventListener('abort', onAbort);
          reject(reason);
        },
      };
      this.#waiters.push(waiter);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /**
   * Cancels a queued item (the oldest, if several share the id). Returns it, or `undefined` if no item with
   * that id is queued. O(depth), which `maxDepth` bounds.
   */
  remove(id: string): T | undefined {
    for (const level of this.#levels) {
      const item = level.removeId(id);
      if (item === undefined) continue;
      this.#depth--;
      this.emit('removed', item);
      return item;
    }
    return undefined;
  }

  /** The queued items in the order `dequeue` would hand them out (ignoring memory-high skipping). */
  *[Symbol.iterator](): IterableIterator<T> {
    for (const level of this.#levels) {
      for (let offset = 0; offset < level.size; offset++) yield level.at(offset);
    }
  }

  /**
   * Closes the queue: later `enqueue` and `take` calls throw `QUEUE_CLOSED`, waiting `take` calls reject
   * with it. Queued items stay readable through iteration and `dequeue`.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const waiters = this.#waiters.splice(0);
    for (const waiter of waiters) waiter.reject(new QueueClosedError());
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  #feedWaiters(): void {
    while (this.#waiters.length > 0) {
      const item = this.dequeue();
      if (item === undefined) return;
      (this.#waiters.shift() as Waiter<T>).resolve(item);
    }
  }
}

/**
 * Makes a priority queue (the `createX` way every long-lived ordo component is made; the class is exported for its
 * type and `instanceof`, and `new PriorityQueue(…)` keeps working).
 *
 * @example
 * ```ts
 * const queue = createPriorityQueue({ maxDepth: 1_000 });
 * ```
 */
export function createPriorityQueue<T extends QueueItem = QueueItem>(
  options: PriorityQueueOptions = {},
): PriorityQueue<T> {
  return new PriorityQueue<T>(options);
}
