const EMPTY = Buffer.alloc(0);

/**
 * Collects one stream of a command's output up to a byte limit, dropping (but still reading) the rest,
 * until the sentinel `marker` + exit status + newline arrives. The marker is searched across chunk
 * boundaries, and also after the limit is reached.
 */
export class OutputCollector {
  readonly #marker: Buffer;
  readonly #limit: number;
  readonly #chunks: Buffer[] = [];
  #kept = 0;
  #pending: Buffer = EMPTY;
  /** Whether output past the limit was dropped. */
  truncated = false;
  /** Whether the sentinel has arrived. */
  done = false;
  /** The exit status the sentinel carried. */
  status = -1;

  constructor(marker: Buffer, limit: number) {
    this.#marker = marker;
    this.#limit = limit;
  }

  /** Takes a chunk; returns true when it completed the sentinel. */
  push(chunk: Buffer): boolean {
    if (this.done) return false;
    const buffer = this.#pending.length > 0 ? Buffer.concat([this.#pending, chunk]) : chunk;
    let from = 0;
    for (;;) {
      const at = buffer.indexOf(this.#marker, from);
      if (at === -1) {
        // Hold back a tail that could be the start of the marker.
        const held = Math.max(from, buffer.length - (this.#marker.length - 1));
        this.#keep(buffer.subarray(0, held));
        this.#pending = Buffer.from(buffer.subarray(held));
        return false;
      }
      const digits = at + this.#marker.length;
      let end = digits;
      while (end < buffer.length && (buffer[end] as number) >= 0x30 && (buffer[end] as number) <= 0x39) end++;
      if (end === buffer.length) {
        // The status may still be arriving.
        this.#keep(buffer.subarray(0, at));
        this.#pending = Buffer.from(buffer.subarray(at));
        return false;
      }
      if (buffer[end] === 0x0a && end > digits) {
        this.#keep(buffer.subarray(0, at));
        this.status = Number(buffer.subarray(digits, end).toString('latin1'));
        this.#pending = EMPTY;
        this.done = true;
        return true;
      }
      // The marker without `<digits>\n` after it is output, not a sentinel: look further.
      from = at + 1;
    }
  }

  /** The kept output as UTF-8 text. */
  text(): string {
    return Buffer.concat(this.#chunks).toString('utf8');
  }

  #keep(bytes: Buffer): void {
    if (bytes.length === 0) return;
    const room = this.#limit - this.#kept;
    if (bytes.length > room) this.truncated = true;
    if (room <= 0) return;
    const taken = bytes.length > room ? bytes.subarray(0, room) : bytes;
    this.#chunks.push(Buffer.from(taken));
    this.#kept += taken.length;
  }
}
