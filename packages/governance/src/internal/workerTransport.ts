/** How a worker's process or container ended, as its transport reports it. */
export interface TransportExit {
  /** The exit code, `null` when it was killed by a signal or the code is unknown. */
  code: number | null;
  /** The signal that ended it, if known. */
  signal: string | null;
  /** Why the launcher says it ended (`exit code 3; last output: …`), if it says. */
  reason?: string | undefined;
  /** The last lines it wrote on stderr (or its logs), if the transport kept them. */
  stderr?: readonly string[] | undefined;
}

/** What a transport reports to the pool about its worker. */
export interface TransportEvents {
  /** A line the worker printed on stdout (a protocol message, or plain text). */
  line(line: string): void;
  /** A stdout line longer than the limit was dropped. */
  overflow(length: number): void;
  /** A line the worker printed on stderr. */
  stderr(line: string): void;
  /** The worker is gone (called once, after the last `line`). */
  exit(exit: TransportExit): void;
}

/**
 * The pool's handle on one worker, however it was started (a child process of its own, or a contracts
 * `Launcher`'s worker with its `WorkerIo`).
 */
export interface WorkerTransport {
  /** The worker's process id, when it is a local process. */
  readonly pid: number | undefined;
  /**
   * Starts delivering the worker's lines and exit to the events. The pool calls it once it holds the
   * transport, so a line that was already buffered (a READY) never arrives before the pool can answer it.
   */
  listen(): void;
  /** Sends one protocol line (without newline); a failure is the worker's end, reported through `exit`. */
  send(line: string): void;
  /** After SHUTDOWN was sent: lets the worker exit on its own (ends its input). */
  shutdown(): void;
  /** Ends the worker at once, with what it started (its process group, or its container). */
  kill(): void;
}
