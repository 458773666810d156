import {
  type Breaker,
  isTerminalWorkerStatus,
  type Launcher,
  type Logger,
  type MemoryLevel,
  type TaskPriority,
  type WorkerHandle,
  type WorkerSpec,
  type WorkerStatusChange,
} from '@ordo/contracts';
import type { PriorityQueue, QueueItem } from '@ordo/governance';
import { LauncherUnsupportedError, WorkerStartError } from '../errors.js';
import { WorkerConnection } from './workerConnection.js';

/** A worker lent to one task; give it back with `release()`. */
export interface WorkerLease {
  readonly connection: WorkerConnection;
  /** Hands the worker back (once its cancelled task, if any, answered). Idempotent. */
  release(): void;
  /** Stops the worker for good (memory emergency, a task that ignores CANCEL); a replacement starts. */
  kill(): Promise<void>;
}

/** A task waiting in the governance queue for a worker. */
export interface WaitingTask extends QueueItem {
  grant(lease: WorkerLease): void;
  refuse(error: unknown): void;
}

/** What the slots report, for the state file and metrics. */
export interface WorkerSlotHooks {
  started(workerId: string): void;
  ready(workerId: string): void;
  exited(workerId: string, exitCode: number | undefined, crashed: boolean): void;
}

/** Options for {@link WorkerSlots}. */
export interface WorkerSlotsOptions {
  launcher: Launcher;
  /** How many workers run at once. */
  size: number;
  spec: WorkerSpec;
  queue: PriorityQueue<WaitingTask>;
  /** The memory level now; lower priorities wait while it is high. */
  memoryLevel(): MemoryLevel;
  hooks: WorkerSlotHooks;
  logger: Logger;
  /** Guards spawning: when workers keep failing to start, spawns fail fast (`BREAKER_OPEN`). */
  breaker?: Breaker | undefined;
  /** @default 30000 */
  readyTimeoutMs?: number | undefined;
  /** How long a cancelled task may take to answer before its worker is killed. @default 5000 */
  cancelGraceMs?: number | undefined;
}

/**
 * Which priorities may start a task at each memory level: under pressure the lower priorities wait in the
 * queue (warning: LOW waits; critical: NORMAL and LOW; emergency: all but CRITICAL).
 */
const LOWEST_ADMITTED: Readonly<Record<MemoryLevel, TaskPriority>> = {
  normal: 4,
  warning: 2,
  critical: 1,
  emergency: 0,
};

/**
 * A fixed number of launched workers, kept alive across tasks and features, one task at a time each. Tasks
 * wait for a worker in the governance `PriorityQueue` (highest priority first, memory-gated); a worker that
 * dies is replaced, and if no worker can be started the waiting tasks are refused rather than left hanging.
 */
export class WorkerSlots {
  readonly #o: WorkerSlotsOptions;
  readonly #idle: WorkerConnection[] = [];
  /** Waiting tasks the bounded governance queue has no room for, in priority order. */
  readonly #overflow: WaitingTask[] = [];
  readonly #handles = new Map<string, WorkerHandle>();
  readonly #all = new Set<WorkerConnection>();
  #starting = 0;
  /** `launcher.spawn` calls in flight: close() waits for them so it can stop what they start. */
  readonly #spawning = new Set<Promise<unknown>>();
  #generation = 0;
  #broken: unknown;
  #closed = false;
  #started: Promise<void> | undefined;

  constructor(options: WorkerSlotsOptions) {
    this.#o = options;
  }

  /** Live workers. */
  get size(): number {
    return this.#all.size;
  }

  /** Workers running a task now. */
  get active(): number {
    return this.#all.size - this.#idle.length;
  }

  /** The ids of the live workers. */
  workerIds(): string[] {
    return [...this.#all].map((c) => c.workerId);
  }

  /** Idle workers. */
  get idle(): number {
    return this.#idle.length;
  }

  /** Starts every worker (once) and waits until they are ready; fails only if none could start. */
  start(): Promise<void> {
    this.#started ??= (async () => {
      const results = await Promise.allSettled(Array.from({ length: this.#o.size }, () => this.#spawn()));
      const failures = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failures.length === results.length) {
        this.#broken = failures[0]?.reason;
        throw this.#broken;
      }
      for (const f of failures)
        this.#o.logger.warn({ err: f.reason }, 'a worker failed to start; running with fewer');
    })();
    return this.#started;
  }

  /** Queues a task for a worker. Rejects with `signal.reason` when it aborts while waiting. */
  acquire(id: string, priority: TaskPriority, signal: AbortSignal): Promise<WorkerLease> {
    signal.throwIfAborted();
    if (this.#broken !== undefined) return Promise.reject(this.#broken);
    return new Promise<WorkerLease>((resolve, reject) => {
      const onAbort = () => {
        const at = this.#overflow.findIndex((w) => w.id === id);
        if (at !== -1) this.#overflow.splice(at, 1);
        if (at !== -1 || this.#o.queue.remove(id)) reject(signal.reason);
      };
      const item: WaitingTask = {
        id,
        priority,
        grant: (lease) => {
          signal.removeEventListener('abort', onAbort);
          resolve(lease);
        },
        refuse: (error) => {
          signal.removeEventListener('abort', onAbort);
          reject(error);
        },
      };
      signal.addEventListener('abort', onAbort, { once: true });
      this.#enqueue(item);
      this.pump();
    });
  }

  /** Hands idle workers to the waiting tasks the memory level admits, highest priority first. */
  pump(): void {
    const lowest = LOWEST_ADMITTED[this.#o.memoryLevel()];
    while (this.#idle.length > 0) {
      const head = this.#o.queue[Symbol.iterator]().next();
      if (head.done || head.value.priority > lowest) return;
      const item = this.#o.queue.dequeue() as WaitingTask;
      this.#refill();
      item.grant(this.#lease(this.#idle.shift() as WorkerConnection));
    }
  }

  /**
   * Queues a waiting task. The governance queue is bounded (its depth is what admission reports); tasks past
   * it wait here, in priority order, and move into it as it drains.
   */
  #enqueue(item: WaitingTask): void {
    if (this.#overflow.length === 0 && this.#o.queue.depth < this.#o.queue.maxDepth) {
      const queued = this.#o.queue.enqueue(item);
      if (queued.accepted) {
        if (queued.evicted) this.#hold(queued.evicted);
        return;
      }
    }
    this.#hold(item);
  }

  #hold(item: WaitingTask): void {
    const at = this.#overflow.findIndex((w) => w.priority > item.priority);
    this.#overflow.splice(at === -1 ? this.#overflow.length : at, 0, item);
  }

  #refill(): void {
    while (this.#overflow.length > 0 && this.#o.queue.depth < this.#o.queue.maxDepth) {
      const next = this.#overflow.shift() as WaitingTask;
      const queued = this.#o.queue.enqueue(next);
      if (!queued.accepted) {
        this.#overflow.unshift(next);
        return;
      }
      if (queued.evicted) this.#hold(queued.evicted);
    }
  }

  /** Stops every worker; waiting tasks are refused with `error`. */
  async close(error: unknown): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#broken = error;
    for (let item = this.#o.queue.dequeue(); item; item = this.#o.queue.dequeue()) item.refuse(error);
    for (const item of this.#overflow.splice(0)) item.refuse(error);
    await Promise.allSettled([...this.#spawning]);
    await Promise.all([...this.#all].map((c) => c.shutdown()));
    await this.#o.launcher.terminateAll({ graceMs: 2000 });
  }

  #lease(connection: WorkerConnection): WorkerLease {
    let released = false;
    return {
      connection,
      release: () => {
        if (released) return;
        released = true;
        if (connection.isDraining) {
          // A task that ignores CANCEL must not hold its worker forever.
          const timer = setTimeout(() => {
            if (connection.isDraining)
              void this.#o.launcher.terminate(connection.workerId, { graceMs: 0 }).catch(() => {});
          }, this.#o.cancelGraceMs ?? 5000);
          timer.unref();
        }
        connection.whenIdle(() => {
          if (connection.isDead || this.#closed) return;
          this.#idle.push(connection);
          this.pump();
        });
      },
      kill: async () => {
        await this.#o.launcher.terminate(connection.workerId, { graceMs: 0 }).catch(() => {});
      },
    };
  }

  async #spawn(): Promise<void> {
    const { launcher, hooks, logger } = this.#o;
    const workerId = `w${++this.#generation}`;
    this.#starting++;
    try {
      const spawn = () => launcher.spawn(workerId, this.#o.spec);
      const spawning = this.#o.breaker ? this.#o.breaker.execute(spawn) : spawn();
      this.#spawning.add(spawning);
      const handle = await spawning.finally(() => this.#spawning.delete(spawning));
      if (this.#closed) {
        await launcher.terminate(workerId, { graceMs: 0 }).catch(() => {});
        return;
      }
      this.#handles.set(workerId, handle);
      hooks.started(workerId);
      if (handle.io === undefined) {
        await launcher.terminate(workerId, { graceMs: 0 }).catch(() => {});
        throw new LauncherUnsupportedError(
          `The launcher's worker ${workerId} has no stdin/stdout channel (handle.io), so the runtime cannot send it tasks. Use launcher: 'subprocess' or 'docker', or a launcher whose handles provide io (a ContainerLauncher needs attachStdio: true).`,
        );
      }
      const connection = new WorkerConnection(workerId, handle.io, logger, () => this.#exitReason(workerId));
      void connection.dead.then(() => this.#onDead(connection));
      await connection.ready(this.#o.readyTimeoutMs ?? 30_000);
      if (this.#closed) return;
      hooks.ready(workerId);
      this.#all.add(connection);
      this.#idle.push(connection);
      this.pump();
    } finally {
      this.#starting--;
    }
  }

  #onDead(connection: WorkerConnection): void {
    const handle = this.#handles.get(connection.workerId);
    const crashed = !this.#closed;
    this.#o.hooks.exited(connection.workerId, handle?.exitCode, crashed);
    const wasLive = this.#all.delete(connection);
    const at = this.#idle.indexOf(connection);
    if (at !== -1) this.#idle.splice(at, 1);
    if (this.#closed || !wasLive) return;
    this.#o.logger.warn({ workerId: connection.workerId }, 'worker died; starting a replacement');
    this.#spawn().catch((error: unknown) => {
      this.#o.logger.error({ err: error }, 'could not start a replacement worker');
      if (this.#all.size === 0 && this.#starting === 0) {
        this.#broken = new WorkerStartError(
          `No worker is left and a replacement could not start: ${(error as Error).message}`,
          { cause: error },
        );
        for (let item = this.#o.queue.dequeue(); item; item = this.#o.queue.dequeue())
          item.refuse(this.#broken);
        for (const item of this.#overflow.splice(0)) item.refuse(this.#broken);
      }
    });
  }

  /** Waits (briefly) for the launcher to see the worker's exit, and describes it. */
  async #exitReason(workerId: string): Promise<string> {
    const { launcher } = this.#o;
    const handle = this.#handles.get(workerId);
    const describe = () => {
      const h = launcher.handle(workerId) ?? handle;
      const reason = (h as { reason?: unknown } | undefined)?.reason;
      if (typeof reason === 'string' && reason !== 'started') return reason;
      return h?.exitCode === undefined ? 'its stdout closed' : `exit code ${h.exitCode}`;
    };
    if (handle === undefined || isTerminalWorkerStatus(handle.status)) return describe();
    await new Promise<void>((resolve) => {
      const timer = setTimeout(done, 2000);
      function done() {
        clearTimeout(timer);
        launcher.off('status', onStatus);
        resolve();
      }
      const onStatus = (change: WorkerStatusChange) => {
        if (change.workerId === workerId && isTerminalWorkerStatus(change.to)) done();
      };
      launcher.on('status', onStatus);
    });
    return describe();
  }
}
