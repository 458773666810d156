/** Options for {@link LineSplitter}. */
export interface LineSplitterOptions {
  /**
   * The longest line kept, in UTF-16 units. A longer line is dropped whole (up to its newline) and reported
   * through `onOverflow`, so a peer printing megabytes without a newline cannot exhaust memory.
   * @default Infinity
   */
  maxLineLength?: number | undefined;
  /** Called with the length of each dropped line. @default ignore */
  onOverflow?: ((length: number) => void) | undefined;
  /** Whether empty lines are left out. @default false */
  skipEmpty?: boolean | undefined;
}

/**
 * Cuts a stream into lines: text chunks, or bytes decoded as UTF-8 (a multi-byte character cut between two
 * chunks is decoded whole). A trailing `\r` is dropped (`\r\n` line ends); `end()` emits a last line that
 * has no newline. The one line framing of ordo: IPC v1 on both sides, a launcher's stdout and stderr.
 *
 * @example
 * ```ts
 * const splitter = new LineSplitter((line) => lines.push(line), { maxLineLength: 1 << 20 });
 * child.stdout.on('data', (bytes: Buffer) => splitter.push(bytes));
 * child.stdout.on('end', () => splitter.end());
 * ```
 */
export class LineSplitter {
  readonly #onLine: (line: string) => void;
  readonly #max: number;
  readonly #onOverflow: (length: number) => void;
  readonly #skipEmpty: boolean;
  #decoder: InstanceType<typeof TextDecoder> | undefined;
  #pending = '';
  #dropping = 0;

  /** @param onLine receives each complete line, without its line end. */
  constructor(onLine: (line: string) => void, options: LineSplitterOptions = {}) {
    this.#onLine = onLine;
    this.#max = options.maxLineLength ?? Number.POSITIVE_INFINITY;
    this.#onOverflow = options.onOverflow ?? (() => {});
    this.#skipEmpty = options.skipEmpty ?? false;
  }

  /** Feeds the next text or bytes; calls `onLine` for each complete line. */
  push(chunk: string | Uint8Array): void {
    let text: string;
    if (typeof chunk === 'string') text = chunk;
    else {
      this.#decoder ??= new TextDecoder();
      text = this.#decoder.decode(chunk, { stream: true });
    }
    let start = 0;
    for (let nl = text.indexOf('\n'); nl !== -1; nl = text.indexOf('\n', start)) {
      const piece = text.slice(start, nl);
      start = nl + 1;
      if (this.#dropping > 0) {
        this.#onOverflow(this.#dropping + piece.length);
        this.#dropping = 0;
        continue;
      }
      const line = this.#pending === '' ? piece : this.#pending + piece;
      this.#pending = '';
      if (line.length > this.#max) this.#onOverflow(line.length);
      else this.#emit(line);
    }
    const rest = text.slice(start);
    if (rest === '') return;
    if (this.#dropping > 0) this.#dropping += rest.length;
    else if (this.#pending.length + rest.length > this.#max) {
      this.#dropping = this.#pending.length + rest.length;
      this.#pending = '';
    } else this.#pending += rest;
  }

  /** Flushes an unfinished last line at the end of the stream. */
  end(): void {
    const tail = this.#decoder?.decode() ?? '';
    if (tail !== '') this.push(tail);
    if (this.#dropping > 0) this.#onOverflow(this.#dropping);
    else if (this.#pending !== '') this.#emit(this.#pending);
    this.#pending = '';
    this.#dropping = 0;
  }

  #emit(line: string): void {
    const trimmed = line.endsWith('\r') ? line.slice(0, -1) : line;
    if (trimmed !== '' || !this.#skipEmpty) this.#onLine(trimmed);
  }
}
