/**
 * An unbounded-until-`max` queue of lines read by one async iterator; the oldest lines are dropped past
 * `max` so a worker that prints and is never read cannot grow memory without end. A producer that can
 * pause instead (an attach socket) passes `max = Infinity`, watches `size` and resumes in `onTake`.
 */
export class LineQueue {
  readonly #max: number;
  readonly #onTake: (() => void) | undefined;
  #lines: string[] = [];
  #ended = false;
  #error: Error | undefined;
  #wake: (() => void) | undefined;

  /**
   * @param max how many unread lines to keep before dropping the oldest.
   * @param onTake called after the reader took a line (to resume a paused producer).
   */
  constructor(max: number, onTake?: () => void) {
    this.#max = max;
    this.#onTake = onTake;
  }

  /** Unread lines. */
  get size(): number {
    return this.#lines.length;
  }

  push(line: string): void {
    if (this.#ended) return;
    this.#lines.push(line);
    if (this.#lines.length > this.#max) this.#lines.shift();
    this.#wake?.();
  }

  /** No more lines: the reader ends once it has read the buffered ones. */
  end(): void {
    this.#ended = true;
    this.#wake?.();
  }

  /** Like {@link end}, but the reader then throws `error`. */
  fail(error: Error): void {
    if (this.#ended) return;
    this.#error = error;
    this.end();
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<string> {
    for (;;) {
      const line = this.#lines.shift();
      if (line !== undefined) {
        this.#onTake?.();
        yield line;
        continue;
      }
      if (this.#ended) {
        if (this.#error) throw this.#error;
        return;
      }
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
      });
      this.#wake = undefined;
    }
  }
}
