import type { Socket } from 'node:net';
import { LineSplitter, type WorkerIo } from '@ordo/contracts';
import { WorkerIoClosedError } from '../errors.js';
import { LineQueue } from './lineQueue.js';

/** What a {@link SocketIo} needs besides its socket. */
export interface SocketIoOptions {
  /** For error messages. */
  workerId: string;
  /** Bytes that came after the handshake line, read before the socket's next data. */
  rest: Buffer;
  /** The longest line accepted; a longer one closes the connection (`onOverflow` is told first). */
  maxLineLength: number;
  /** Unread lines at which the socket is paused (the worker then blocks on its writes). @default 1000 */
  maxBufferedLines?: number | undefined;
  /** Called once with the dropped line's length when a line passed `maxLineLength`. */
  onOverflow?: ((length: number) => void) | undefined;
  /** Called once when the connection closed. */
  onClose?: ((error: Error | undefined) => void) | undefined;
}

/**
 * A worker's IPC v1 line channel over an authenticated endpoint connection: `send` writes a line,
 * `lines()` yields the worker's lines and ends when the connection closes (the worker is gone). Reading
 * pauses while `maxBufferedLines` lines wait, so a slow host slows the worker instead of buffering without
 * end; a line longer than `maxLineLength` is a protocol violation and closes the connection.
 */
export class SocketIo implements WorkerIo {
  readonly #socket: Socket;
  readonly #workerId: string;
  readonly #out: LineQueue;
  readonly #max: number;
  readonly #closed: Promise<void>;
  #paused = false;
  #writable = true;

  constructor(socket: Socket, options: SocketIoOptions) {
    this.#socket = socket;
    this.#workerId = options.workerId;
    this.#max = options.maxBufferedLines ?? 1000;
    this.#out = new LineQueue(Number.POSITIVE_INFINITY, () => this.#maybeResume());
    const splitter = new LineSplitter((line) => this.#out.push(line), {
      maxLineLength: options.maxLineLength,
      onOverflow: (length) => {
        options.onOverflow?.(length);
        socket.destroy();
      },
      skipEmpty: true,
    });
    const onData = (chunk: Buffer) => {
      splitter.push(chunk);
      if (this.#out.size >= this.#max && !this.#paused) {
        this.#paused = true;
        socket.pause();
      }
    };
    let failure: Error | undefined;
    socket.on('error', (error: Error) => {
      failure ??= error;
    });
    this.#closed = new Promise((resolve) => {
      socket.once('close', () => {
        this.#writable = false;
        this.#out.end();
        options.onClose?.(failure);
        resolve();
      });
    });
    socket.once('end', () => socket.destroy());
    if (options.rest.length > 0) onData(options.rest);
    socket.on('data', onData);
    if (!this.#paused) socket.resume();
  }

  /** Whether the connection is still open. */
  get open(): boolean {
    return this.#writable && !this.#socket.destroyed;
  }

  /**
   * Writes `line` and a newline. Resolves once the socket took it; rejects with `LAUNCHER_IO_CLOSED` once
   * the connection closed.
   */
  send(line: string): Promise<void> {
    if (!this.open) return Promise.reject(new WorkerIoClosedError(this.#workerId));
    return new Promise((resolve, reject) => {
      this.#socket.write(`${line}\n`, (error) => {
        if (error || this.#socket.destroyed) {
          reject(new WorkerIoClosedError(this.#workerId, error ? { cause: error } : {}));
        } else resolve();
      });
    });
  }

  lines(): AsyncIterable<string> {
    return this.#out;
  }

  /** Ends the connection: `last` (a SHUTDOWN line) is flushed first; destroyed after `graceMs` at most. */
  end(last: string | undefined): void {
    if (!this.open) return;
    this.#writable = false;
    if (last === undefined) this.#socket.end();
    else this.#socket.end(`${last}\n`);
  }

  /** Destroys the connection; resolves once it closed and `lines()` has ended. */
  close(): Promise<void> {
    this.#socket.destroy();
    return this.#closed;
  }

  /** Resolves once the connection closed. */
  get closed(): Promise<void> {
    return this.#closed;
  }

  #maybeResume(): void {
    if (this.#paused && this.#out.size <= this.#max / 2) {
      this.#paused = false;
      this.#socket.resume();
    }
  }
}
