const NEWLINE = 0x0a;
const CARRIAGE_RETURN = 0x0d;

/**
 * Turns a byte stream into UTF-8 lines. It splits on the `\n` byte before decoding, so a multi-byte
 * character cut between two chunks is decoded whole (`\n` never occurs inside a UTF-8 sequence), and a
 * long line costs one copy, not one per chunk. A trailing `\r` is dropped (`\r\n` line ends). `end()` emits
 * the last line when it has no newline.
 */
export class LineSplitter {
  readonly #onLine: (line: string) => void;
  #pending: Buffer[] = [];

  /** @param onLine receives each complete line, without its line end. */
  constructor(onLine: (line: string) => void) {
    this.#onLine = onLine;
  }

  /** Feeds the next bytes. */
  push(bytes: Buffer): void {
    let start = 0;
    for (let nl = bytes.indexOf(NEWLINE); nl !== -1; nl = bytes.indexOf(NEWLINE, start)) {
      this.#pending.push(bytes.subarray(start, nl));
      this.#emit();
      start = nl + 1;
    }
    // Copied: the caller may reuse its buffer, and a slice would pin a whole socket chunk.
    if (start < bytes.length) this.#pending.push(Buffer.from(bytes.subarray(start)));
  }

  /** Emits the last line if it did not end with a newline. */
  end(): void {
    if (this.#pending.some((b) => b.length > 0)) this.#emit();
    this.#pending = [];
  }

  #emit(): void {
    const line = this.#pending.length === 1 ? (this.#pending[0] as Buffer) : Buffer.concat(this.#pending);
    this.#pending = [];
    const end = line.at(-1) === CARRIAGE_RETURN ? line.length - 1 : line.length;
    this.#onLine(line.toString('utf8', 0, end));
  }
}
