import {
  ChunkAssembler,
  encodeMessage,
  IPC_PROTOCOL_VERSION,
  type Logger,
  parseChildMessage,
  type WireError,
  type WorkerIo,
} from '@ordo/contracts';
import { IpcVersionMismatchError } from '@ordo/governance';
import { TaskFailedError, WorkerCrashedError, WorkerProtocolError, WorkerStartError } from '../errors.js';

/** The largest result a worker may stream back, in characters of JSON. */
const MAX_RESULT_CHARS = 512 * 1024 * 1024;

interface Pending {
  taskId: string;
  resolve(result: unknown): void;
  reject(error: unknown): void;
  chunks: ChunkAssembler | undefined;
}

/**
 * The parent side of IPC protocol v1 over one launched worker's {@link WorkerIo}: waits for READY, sends
 * RUN and CANCEL, reassembles CHUNKed results, forwards LOG lines, and notices the worker's death (its
 * stdout ends). One task at a time.
 */
export class WorkerConnection {
  readonly workerId: string;
  /** Resolves with a reason once the worker's stdout ended (it exited or was killed). */
  readonly dead: Promise<string>;
  /** The worker's last reported RSS in bytes. */
  rss: number | undefined;
  readonly #io: WorkerIo;
  readonly #logger: Logger;
  #pending: Pending | undefined;
  /** A task cancelled but not yet answered: the worker is not free until it answers. */
  #draining: string | undefined;
  #onIdle: (() => void) | undefined;
  #ready: { resolve(): void; reject(error: unknown): void } | undefined;
  #deadReason: string | undefined;
  readonly #exitInfo: () => Promise<string>;

  constructor(workerId: string, io: WorkerIo, logger: Logger, exitInfo: () => Promise<string>) {
    this.workerId = workerId;
    this.#io = io;
    this.#logger = logger;
    this.#exitInfo = exitInfo;
    this.dead = this.#read();
  }

  /** Whether the worker's stdout ended. */
  get isDead(): boolean {
    return this.#deadReason !== undefined;
  }

  /** Whether a cancelled task has not answered yet. */
  get isDraining(): boolean {
    return this.#draining !== undefined;
  }

  /**
   * Resolves once the worker announced protocol v1; rejects with `IPC_VERSION_MISMATCH` when it announced
   * anything else (`2`, `"1"`, no version), with `WORKER_START_FAILED` when it announced nothing in time.
   */
  ready(timeoutMs: number): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#ready = undefined;
        reject(
          new WorkerStartError(
            `Worker ${this.workerId} did not announce itself (READY) within ${timeoutMs} ms. Check that the worker command runs @ordo/runtime/worker.`,
            { details: { workerId: this.workerId } },
          ),
        );
      }, timeoutMs);
      this.#ready = {
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      };
    });
  }

  /** Calls `fn` once the cancelled task, if any, has answered (at once when none). */
  whenIdle(fn: () => void): void {
    if (this.#draining === undefined) fn();
    else this.#onIdle = fn;
  }

  /**
   * Runs one task on the worker. Rejects with `TASK_FAILED` when the task threw, `WORKER_CRASHED` when the
   * worker died meanwhile, and `signal.reason` when the signal aborts (CANCEL is sent; the worker is
   * draining until it answers).
   */
  run(taskId: string, payload: unknown, signal: AbortSignal): Promise<unknown> {
    if (this.#deadReason !== undefined) return Promise.reject(this.#crashed(taskId));
    if (this.#pending || this.#draining) throw new Error(`worker ${this.workerId} is busy`);
    signal.throwIfAborted();
    return new Promise((resolve, reject) => {
      const onAbort = () => {
        if (this.#pending?.taskId !== taskId) return;
        this.#pending = undefined;
        this.#draining = taskId;
        this.#io.send(encodeMessage({ type: 'CANCEL', taskId }).trimEnd()).catch(() => {});
        reject(signal.reason);
      };
      const done = () => signal.removeEventListener('abort', onAbort);
      this.#pending = {
        taskId,
        chunks: undefined,
        resolve: (value) => {
          done();
          resolve(value);
        },
        reject: (error) => {
          done();
          reject(error);
        },
      };
      signal.addEventListener('abort', onAbort, { once: true });
      this.#io.send(encodeMessage({ type: 'RUN', taskId, payload }).trimEnd()).catch((error: unknown) => {
        this.#settle(taskId, undefined, this.#crashed(taskId, error));
      });
    });
  }

  /** Asks the worker to stop after its current task (SHUTDOWN). */
  async shutdown(): Promise<void> {
    if (this.#deadReason === undefined)
      await this.#io.send(encodeMessage({ type: 'SHUTDOWN' }).trimEnd()).catch(() => {});
  }

  async #read(): Promise<string> {
    try {
      for await (const line of this.#io.lines()) this.#onLine(line);
    } catch (error) {
      this.#logger.warn({ workerId: this.workerId, err: error }, 'reading a worker failed');
    }
    const reason = await this.#exitInfo();
    this.#deadReason = reason;
    this.#ready?.reject(
      new WorkerStartError(`Worker ${this.workerId} exited before it was ready (${reason}).`, {
        details: { workerId: this.workerId, reason },
      }),
    );
    this.#ready = undefined;
    if (this.#pending) this.#settle(this.#pending.taskId, undefined, this.#crashed(this.#pending.taskId));
    this.#finishDrain();
    return reason;
  }

  #onLine(line: string): void {
    const parsed = parseChildMessage(line);
    if (!parsed.ok) {
      this.#logger.debug(
        { workerId: this.workerId, line: line.slice(0, 200) },
        'worker printed a non-protocol line',
      );
      return;
    }
    const message = parsed.message;
    switch (message.type) {
      case 'READY':
        if (message.v !== IPC_PROTOCOL_VERSION) {
          this.#ready?.reject(new IpcVersionMismatchError(this.workerId, message.v, IPC_PROTOCOL_VERSION));
        } else this.#ready?.resolve();
        this.#ready = undefined;
        return;
      case 'COMPLETE':
        this.#settle(message.taskId, message.result, undefined);
        return;
      case 'FAILED':
        this.#settle(message.taskId, undefined, failedError(message.taskId, this.workerId, message.error));
        return;
      case 'CHUNK':
        this.#chunk(message);
        return;
      case 'MEMORY':
        this.rss = message.rss;
        return;
      case 'LOG':
        this.#logger[message.level]({ workerId: this.workerId }, message.msg);
        return;
      default:
        return; // HEARTBEAT, PROGRESS
    }
  }

  #chunk(message: { taskId: string; seq: number; data: string; last: boolean }): void {
    const pending = this.#pending;
    if (pending?.taskId !== message.taskId) {
      if (message.last && this.#draining === message.taskId) this.#finishDrain();
      return;
    }
    try {
      pending.chunks ??= new ChunkAssembler(MAX_RESULT_CHARS);
      const added = pending.chunks.add(message);
      if (added.done) this.#settle(message.taskId, added.result, undefined);
    } catch (error) {
      this.#settle(
        message.taskId,
        undefined,
        new WorkerProtocolError(
          `Worker ${this.workerId} sent a broken result for ${message.taskId}: ${(error as Error).message}.`,
          {
            cause: error,
          },
        ),
      );
    }
  }

  #settle(taskId: string, result: unknown, error: unknown): void {
    if (this.#draining === taskId) {
      this.#finishDrain();
      return;
    }
    const pending = this.#pending;
    if (pending?.taskId !== taskId) return;
    this.#pending = undefined;
    if (error === undefined) pending.resolve(result);
    else pending.reject(error);
  }

  #finishDrain(): void {
    this.#draining = undefined;
    const onIdle = this.#onIdle;
    this.#onIdle = undefined;
    onIdle?.();
  }

  #crashed(taskId: string, cause?: unknown): WorkerCrashedError {
    const reason = this.#deadReason ?? 'its input closed';
    return new WorkerCrashedError(
      `Worker ${this.workerId} died while it ran task ${taskId} (${reason}). The worker is replaced; fix what killed it (memory, a crash in the task) and run the feature again with resume: true.`,
      { cause, details: { workerId: this.workerId, taskId, reason } },
    );
  }
}

function failedError(taskId: string, workerId: string, error: WireError): TaskFailedError {
  return new TaskFailedError(`Task ${taskId} threw in worker ${workerId}: ${error.message}`, {
    details: { taskId, workerId, causeName: error.name, ...(error.code ? { causeCode: error.code } : {}) },
  });
}
