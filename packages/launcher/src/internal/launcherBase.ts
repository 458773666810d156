import {
  type Clock,
  isTerminalWorkerStatus,
  type LauncherEvents,
  type Logger,
  type WorkerHandle,
  type WorkerIo,
  WorkerStatus,
} from '@ordo/contracts';
import { EventEmitter } from 'eventemitter3';
import { DuplicateWorkerError, LauncherClosedError, UnknownWorkerError } from '../errors.js';
import { HeartbeatMonitor, type HeartbeatMonitorStats } from '../heartbeatMonitor.js';
import { assertWorkerId } from './validate.js';

/** What both launchers keep about a worker. */
export interface WorkerRecord {
  readonly workerId: string;
  status: WorkerStatus;
  reason: string;
  startedAt: number;
  readyAt: number | undefined;
  exitCode: number | undefined;
  healthCheckAt: number | undefined;
  logTail: readonly string[];
  /** Whether a heartbeat ever carried a task (then a task-less heartbeat means IDLE, not READY). */
  hadTask: boolean;
  stopRequested: boolean;
}

/** What a live worker's heartbeat says: a status, or `stale` for the launcher to judge. */
export type HeartbeatVerdict =
  | { stale: false; status: WorkerStatus; reason: string }
  | { stale: true; reason: string };

/** The parts both launchers share: the worker table, status events, heartbeat reading. */
export abstract class LauncherBase<
  R extends WorkerRecord,
  E extends LauncherEvents & { [K in keyof E]: unknown[] } = LauncherEvents,
> {
  protected readonly records = new Map<string, R>();
  protected readonly clock: Clock;
  protected readonly logger: Logger;
  protected readonly staleAfterMs: number;
  protected readonly heartbeatDir: string | undefined;
  protected closed = false;
  protected readonly events = new EventEmitter<E>();
  #heartbeats: HeartbeatMonitor | undefined;

  protected constructor(options: {
    clock: Clock;
    logger: Logger;
    staleAfterMs: number;
    heartbeatDir: string | undefined;
  }) {
    this.clock = options.clock;
    this.logger = options.logger;
    this.staleAfterMs = options.staleAfterMs;
    this.heartbeatDir = options.heartbeatDir;
  }

  /** The heartbeat monitor over `heartbeatDir`, created on first use and shared by every call. */
  protected get heartbeats(): HeartbeatMonitor | undefined {
    if (this.heartbeatDir === undefined) return undefined;
    this.#heartbeats ??= new HeartbeatMonitor({
      dir: this.heartbeatDir,
      clock: this.clock,
      logger: this.logger,
    });
    return this.#heartbeats;
  }

  /** Subscribes to an event (see the launcher's event map). */
  on<K extends keyof E>(event: K, listener: (...args: E[K]) => void): this {
    this.events.on(event as never, listener as never);
    return this;
  }

  /** Unsubscribes from an event. */
  off<K extends keyof E>(event: K, listener: (...args: E[K]) => void): this {
    this.events.off(event as never, listener as never);
    return this;
  }

  /** What the launcher's heartbeat monitor has done (stats, reads, cache hits), or `undefined` before first use. */
  heartbeatStats(): HeartbeatMonitorStats | undefined {
    return this.#heartbeats?.stats();
  }

  protected checkNewWorker(workerId: string): void {
    if (this.closed) throw new LauncherClosedError();
    assertWorkerId(workerId);
    if (this.records.has(workerId)) throw new DuplicateWorkerError(workerId);
  }

  protected record(workerId: string): R {
    const record = this.records.get(workerId);
    if (!record) throw new UnknownWorkerError(workerId);
    return record;
  }

  /**
   * Moves a worker to `to` with `reason`, and emits `status` when the status changed. A terminal status is
   * never left.
   */
  protected setStatus(record: R, to: WorkerStatus, reason: string): void {
    const from = record.status;
    if (isTerminalWorkerStatus(from)) return;
    record.reason = reason;
    if (from === to) return;
    record.status = to;
    if (record.readyAt === undefined && isLive(to) && to !== WorkerStatus.INITIALIZING) {
      record.readyAt = this.clock.now();
    }
    this.logger.debug({ workerId: record.workerId, from, to, reason }, 'worker status changed');
    (this.events as unknown as EventEmitter<LauncherEvents>).emit('status', {
      workerId: record.workerId,
      from,
      to,
      reason,
    });
  }

  /** What the heartbeat of a live worker says; without a heartbeat dir, a live worker is READY. */
  protected async heartbeatVerdict(record: R, signal?: AbortSignal): Promise<HeartbeatVerdict> {
    const heartbeats = this.heartbeats;
    if (!heartbeats) return { stale: false, status: settled(record), reason: 'running' };
    const beat = await heartbeats.read(record.workerId, signal);
    const now = this.clock.now();
    if (!beat) {
      const waited = now - record.startedAt;
      return waited > this.staleAfterMs
        ? { stale: true, reason: `no heartbeat ${seconds(waited)} after start` }
        : { stale: false, status: WorkerStatus.INITIALIZING, reason: 'waiting for the first heartbeat' };
    }
    const age = now - beat.ts;
    if (age > this.staleAfterMs) return { stale: true, reason: `heartbeat stale for ${seconds(age)}` };
    if (beat.taskId !== undefined) {
      record.hadTask = true;
      return { stale: false, status: WorkerStatus.RUNNING, reason: `running task ${beat.taskId}` };
    }
    return record.hadTask
      ? { stale: false, status: WorkerStatus.IDLE, reason: 'idle' }
      : { stale: false, status: WorkerStatus.READY, reason: 'ready' };
  }

  protected forgetHeartbeat(workerId: string): void {
    this.#heartbeats?.forget(workerId);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  abstract close(): Promise<void>;
}

/** The common fields of a new worker's record: INITIALIZING since `startedAt`, nothing known yet. */
export function newWorkerRecord(workerId: string, reason: string, startedAt: number): WorkerRecord {
  return {
    workerId,
    status: WorkerStatus.INITIALIZING,
    reason,
    startedAt,
    readyAt: undefined,
    exitCode: undefined,
    healthCheckAt: undefined,
    logTail: [],
    hadTask: false,
    stopRequested: false,
  };
}

/** A record's handle: a live view, so it always shows the latest status. */
export function liveHandle<R extends WorkerRecord, X extends object>(
  record: R,
  extra: X,
  io?: WorkerIo,
): WorkerHandle & { readonly reason: string; readonly logTail: readonly string[] } & X {
  const handle = {
    workerId: record.workerId,
    get status() {
      return record.status;
    },
    get reason() {
      return record.reason;
    },
    get startedAt() {
      return record.startedAt;
    },
    get readyAt() {
      return record.readyAt;
    },
    get exitCode() {
      return record.exitCode;
    },
    get healthCheckAt() {
      return record.healthCheckAt;
    },
    get logTail() {
      return record.logTail;
    },
    io,
  };
  return Object.defineProperties(handle, Object.getOwnPropertyDescriptors(extra)) as never;
}

/** A live worker's status when nothing more is known: READY unless a heartbeat said RUNNING or IDLE. */
export function settled(record: WorkerRecord): WorkerStatus {
  return record.status === WorkerStatus.INITIALIZING || record.status === WorkerStatus.STALLED
    ? WorkerStatus.READY
    : record.status;
}

function isLive(status: WorkerStatus): boolean {
  return !isTerminalWorkerStatus(status) && status !== WorkerStatus.STOPPING;
}

/** `12.3s` */
export function seconds(ms: number): string {
  return `${Math.round(ms / 100) / 10}s`;
}

/** Keeps the last `max` lines of a stream of text chunks. */
export class LineTail {
  readonly #max: number;
  #lines: string[] = [];
  #partial = '';

  constructor(max: number) {
    this.#max = max;
  }

  push(chunk: string): void {
    const parts = (this.#partial + chunk).split('\n');
    this.#partial = parts.pop() ?? '';
    this.#lines.push(...parts);
    if (this.#lines.length > this.#max) this.#lines = this.#lines.slice(-this.#max);
  }

  lines(): string[] {
    const all = this.#partial ? [...this.#lines, this.#partial] : [...this.#lines];
    return all.slice(-this.#max);
  }
}

/** `exit code 3; last output: "boom"` style reasons for a dead worker. */
export function deathReason(what: string, tail: readonly string[]): string {
  const last = tail
    .filter((l) => l.trim() !== '')
    .slice(-3)
    .join(' | ');
  return last ? `${what}; last output: ${JSON.stringify(last.slice(-400))}` : what;
}
