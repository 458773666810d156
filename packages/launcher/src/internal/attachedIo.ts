import type { Duplex } from 'node:stream';
import { LineSplitter, type WorkerIo } from '@ordo/contracts';
import { WorkerIoClosedError, WorkerIoStreamError } from '../errors.js';
import { FrameDemuxer } from './frameDemuxer.js';
import { LineQueue } from './lineQueue.js';

/** What an {@link AttachedIo} needs besides its socket. */
export interface AttachedIoOptions {
  /** For error messages. */
  workerId: string;
  /** Unread stdout lines at which the socket is paused (the worker then blocks on its writes). */
  maxBufferedLines: number;
  /** Receives each stderr line. */
  onStderr: (line: string) => void;
  /** Called once when the channel closed, with the error when it broke (a corrupt stream, a reset). */
  onClose?: ((error: Error | undefined) => void) | undefined;
}

/**
 * A worker's line channel over a container's attach socket: `send` writes to its stdin, `lines()` reads its
 * stdout (demultiplexed from stderr, which goes to `onStderr`). The socket is paused while
 * `maxBufferedLines` lines wait to be read, so a slow reader slows the worker instead of losing lines.
 */
export class AttachedIo implements WorkerIo {
  readonly #socket: Duplex;
  readonly #workerId: string;
  readonly #max: number;
  readonly #out: LineQueue;
  readonly #closed: Promise<void>;
  #paused = false;
  #writable = true;

  constructor(socket: Duplex, options: AttachedIoOptions) {
    this.#socket = socket;
    this.#workerId = options.workerId;
    this.#max = options.maxBufferedLines;
    this.#out = new LineQueue(Number.POSITIVE_INFINITY, () => this.#maybeResume());
    const stdout = new LineSplitter((line) => this.#out.push(line));
    const stderr = new LineSplitter(options.onStderr);
    const demuxer = new FrameDemuxer((stream, bytes) =>
      stream === 'stdout' ? stdout.push(bytes) : stderr.push(bytes),
    );
    let broken: Error | undefined;
    socket.on('data', (chunk: Buffer) => {
      if (broken) return;
      try {
        demuxer.push(chunk);
      } catch (cause) {
        broken = new WorkerIoStreamError(this.#workerId, { cause });
        socket.destroy();
        return;
      }
      if (this.#out.size >= this.#max && !this.#paused) {
        this.#paused = true;
        socket.pause();
      }
    });
    // An error (ECONNRESET when the engine drops the connection) ends the channel like a close does.
    let failure: Error | undefined;
    socket.on('error', (error: Error) => {
      failure ??= error;
    });
    this.#closed = new Promise((resolve) => {
      socket.once('close', () => {
        this.#writable = false;
        if (broken) this.#out.fail(broken);
        else {
          stdout.end(); // the last lines, when they have no newline
          stderr.end();
          this.#out.end();
        }
        options.onClose?.(broken ?? failure);
        resolve();
      });
    });
    // The engine ends its side when the container's output closes; nothing more will be read or written.
    socket.once('end', () => socket.destroy());
    socket.resume();
  }

  /** Whether the socket is still open. */
  get open(): boolean {
    return this.#writable;
  }

  /** Whether reading is paused because `maxBufferedLines` lines wait to be read. */
  get paused(): boolean {
    return this.#paused;
  }

  /** Stdout lines waiting to be read. */
  get bufferedLines(): number {
    return this.#out.size;
  }

  /**
   * Writes `line` and a newline to the worker's stdin. Resolves once the socket handed it to the operating
   * system, so a caller that awaits each send never buffers more than one line however slow the worker
   * reads. Rejects with `LAUNCHER_IO_CLOSED` once the channel closed, and when it closes before the line
   * was written.
   */
  send(line: string): Promise<void> {
    if (!this.#writable || this.#socket.destroyed) {
      return Promise.reject(new WorkerIoClosedError(this.#workerId));
    }
    return new Promise((resolve, reject) => {
      this.#socket.write(`${line}\n`, (error) => {
        // A write cut short by destroy() is called back without an error, so check `destroyed` too.
        if (error || this.#socket.destroyed) {
          reject(new WorkerIoClosedError(this.#workerId, error ? { cause: error } : {}));
        } else resolve();
      });
    });
  }

  /** The worker's stdout lines, in order; ends when its stdout closed (or the channel was closed). */
  lines(): AsyncIterable<string> {
    return this.#out;
  }

  /** Destroys the socket; resolves once it is closed and `lines()` has ended. */
  close(): Promise<void> {
    this.#socket.destroy();
    return this.#closed;
  }

  #maybeResume(): void {
    if (this.#paused && this.#out.size <= this.#max / 2) {
      this.#paused = false;
      this.#socket.resume();
    }
  }
}
