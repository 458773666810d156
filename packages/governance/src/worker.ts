/**
 * `@ordo/governance/worker`: the child side of the worker IPC protocol. A worker script calls
 * {@link serveWorker} with its task handler; framing, progress throttling, memory reports, heartbeats and
 * cancellation are handled here.
 * @packageDocumentation
 */
import {
  type ChildMessage,
  type Clock,
  encodeMessage,
  encodeResult,
  IPC_PROTOCOL_VERSION,
  IpcEnv,
  LineSplitter,
  parseParentMessage,
  systemClock,
  type TimerHandle,
  type WireError,
  type WireLogLevel,
} from '@ordo/contracts';

/** What a task handler receives besides its payload. */
export interface TaskContext {
  /** The id the pool gave the task. */
  readonly taskId: string;
  /** Aborts when the pool sends CANCEL (the caller aborted, or the task timed out) or on SHUTDOWN. */
  readonly signal: AbortSignal;
  /**
   * Reports progress from 0 to 100. Sent at most every 10 points or every 30 s (and always at 100); other
   * calls are dropped, so call it as often as is convenient.
   */
  progress(percent: number, message?: string): void;
  /** Sends a log line to the pool's logger. */
  log(level: WireLogLevel, msg: string): void;
}

/** A task handler: gets the payload the pool's `run` was given, returns (or resolves to) the result. */
export type WorkerHandler<P = unknown, R = unknown> = (
  payload: P,
  context: TaskContext,
) => R | PromiseLike<R>;

/** Options for {@link serveWorker}. */
export interface ServeWorkerOptions {
  /**
   * How often to send MEMORY and HEARTBEAT, in ms.
   * @default the pool's `reportIntervalMs` (through `ORDO_IPC_REPORT_INTERVAL_MS`), else 5000
   */
  reportIntervalMs?: number | undefined;
  /**
   * Results whose COMPLETE line would be longer are streamed as CHUNK messages.
   * @default the pool's `maxMessageBytes` (through `ORDO_IPC_MAX_MESSAGE_BYTES`), else 1 MiB
   */
  maxMessageBytes?: number | undefined;
  /** @default systemClock */
  clock?: Clock | undefined;
  /** Test hook: where RUN/CANCEL/SHUTDOWN lines come from. @default process.stdin */
  input?: NodeJS.ReadableStream | undefined;
  /** Test hook: where messages are written. @default process.stdout */
  output?: { write(text: string): unknown } | undefined;
}

/** A running {@link serveWorker} loop. */
export interface WorkerServer {
  /** Resolves once the loop has stopped (SHUTDOWN, end of stdin, or `close()`). */
  readonly closed: Promise<void>;
  /** Stops the loop: aborts running tasks, stops reports, stops reading input. */
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

const PROGRESS_STEP = 10;
const PROGRESS_INTERVAL_MS = 30_000;
const DEFAULT_REPORT_MS = 5_000;
const DEFAULT_MAX_MESSAGE_BYTES = 1024 * 1024;
const MAX_INPUT_LINE = 2 ** 28;

function envNumber(name: string): number | undefined {
  const value = Number(process.env[name]);
  return Number.isFinite(value) && value > 0 ? value : undefined;
}

/** The wire form of whatever a handler threw. */
export function toWireError(error: unknown): WireError {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return {
      name: error.name,
      message: error.message,
      stack: error.stack,
      code: typeof code === 'string' ? code : undefined,
    };
  }
  return { name: 'Error', message: String(error) };
}

/**
 * Serves tasks in a worker child process: announces READY (protocol v1), runs `handler` for each RUN,
 * answers COMPLETE (chunked when large) or FAILED, aborts the task's signal on CANCEL, reports memory and a
 * heartbeat every few seconds, and stops on SHUTDOWN or when stdin ends (the parent went away).
 *
 * When to use: as the whole body of a script given to `WorkerPool({ entry })`.
 *
 * Gotchas: the worker's stdout is the protocol channel. Plain text printed there (`console.log`) reaches
 * the pool as a log line, so it is harmless but slower; prefer `context.log`. A result must be
 * JSON-serializable.
 *
 * @example
 * ```ts
 * // worker.mjs
 * import { serveWorker } from '@ordo/governance/worker';
 * serveWorker(async (payload, { signal, progress }) => {
 *   progress(50);
 *   return await transform(payload, { signal });
 * });
 * ```
 */
export function serveWorker<P = unknown, R = unknown>(
  handler: WorkerHandler<P, R>,
  options: ServeWorkerOptions = {},
): WorkerServer {
  const clock = options.clock ?? systemClock;
  const input = options.input ?? process.stdin;
  const output = options.output ?? process.stdout;
  const reportMs = options.reportIntervalMs ?? envNumber(IpcEnv.REPORT_INTERVAL_MS) ?? DEFAULT_REPORT_MS;
  const maxMessageBytes =
    options.maxMessageBytes ?? envNumber(IpcEnv.MAX_MESSAGE_BYTES) ?? DEFAULT_MAX_MESSAGE_BYTES;
  const running = new Map<string, AbortController>();
  let timer: TimerHandle | undefined;
  let stopped = false;
  let markClosed: () => void = () => {};
  const closed = new Promise<void>((resolve) => {
    markClosed = resolve;
  });

  const send = (message: ChildMessage) => write(encodeMessage(message));
  const write = (text: string) => {
    if (!stopped || running.size > 0) output.write(text);
  };

  const report = () => {
    const { rss, heapUsed } = process.memoryUsage();
    send({ type: 'MEMORY', rss, heapUsed });
    send({ type: 'HEARTBEAT' });
    timer = clock.setTimeout(report, reportMs, { unref: true });
  };

  const runTask = async (taskId: string, payload: unknown) => {
    const controller = new AbortController();
    running.set(taskId, controller);
    let lastPercent = Number.NEGATIVE_INFINITY;
    let lastAt = 0;
    const context: TaskContext = {
      taskId,
      signal: controller.signal,
      progress(percent, message) {
        if (!Number.isFinite(percent) || controller.signal.aborted) return;
        const value = Math.min(100, Math.max(0, percent));
        const now = clock.now();
        const due =
          value >= lastPercent + PROGRESS_STEP ||
          (value === 100 && lastPercent < 100) ||
          now - lastAt >= PROGRESS_INTERVAL_MS;
        if (!due || value === lastPercent) return;
        lastPercent = value;
        lastAt = now;
        send({ type: 'PROGRESS', taskId, percent: value, ...(message === undefined ? {} : { message }) });
      },
      log(level, msg) {
        send({ type: 'LOG', level, msg: `[${taskId}] ${msg}` });
      },
    };
    try {
      const result = await handler(payload as P, context);
      const lines = encodeResult(taskId, result, maxMessageBytes);
      for (const line of lines) write(line);
    } catch (error) {
      send({ type: 'FAILED', taskId, error: toWireError(error) });
    } finally {
      running.delete(taskId);
      if (stopped && running.size === 0) markClosed();
    }
  };

  const onLine = (line: string) => {
    const parsed = parseParentMessage(line);
    if (!parsed.ok) {
      send({ type: 'LOG', level: 'warn', msg: `worker ignored a line (${parsed.reason})` });
      return;
    }
    const message = parsed.message;
    if (message.type === 'RUN') {
      if (!stopped) void runTask(message.taskId, message.payload);
    } else if (message.type === 'CANCEL') {
      running.get(message.taskId)?.abort(cancelReason(message.taskId));
    } else {
      void stop();
    }
  };

  // The parent is trusted and payloads have no size limit: only cap a line near V8's longest string.
  const splitter = new LineSplitter(onLine, {
    maxLineLength: MAX_INPUT_LINE,
    onOverflow: (length) =>
      send({ type: 'LOG', level: 'warn', msg: `worker dropped a ${length}-character line` }),
    skipEmpty: true,
  });
  const onData = (data: string | Buffer) => splitter.push(typeof data === 'string' ? data : data.toString());
  const onEnd = () => {
    splitter.end();
    void stop();
  };
  const onOutputError = () => void stop();

  const stop = async () => {
    if (!stopped) {
      stopped = true;
      if (timer !== undefined) clock.clearTimeout(timer);
      input.off('data', onData);
      input.off('end', onEnd);
      if (output === process.stdout) process.stdout.off('error', onOutputError);
      if (input === process.stdin) process.stdin.pause();
      for (const [taskId, controller] of running) controller.abort(cancelReason(taskId));
      if (running.size === 0) markClosed();
    }
    await closed;
  };

  input.setEncoding?.('utf8');
  input.on('data', onData);
  input.on('end', onEnd);
  if (output === process.stdout) process.stdout.on('error', onOutputError);
  send({ type: 'READY', v: IPC_PROTOCOL_VERSION, pid: process.pid });
  report();

  return { closed, close: stop, [Symbol.asyncDispose]: stop };
}

function cancelReason(taskId: string): Error {
  const error = new Error(`Task ${taskId} was cancelled by the pool.`);
  error.name = 'AbortError';
  (error as Error & { code: string }).code = 'TASK_CANCELLED';
  return error;
}
