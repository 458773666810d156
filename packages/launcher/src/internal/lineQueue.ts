/**
 * An unbounded-until-`max` queue of lines read by one async iterator; the oldest lines are dropped past
 * `max` so a worker that prints and is never read cannot grow memory without end.
 */
export class LineQueue {
  readonly #max: number;
  #lines: string[] = [];
  #ended = false;
  #wake: (() => void) | undefined;

  constructor(max: number) {
    this.#max = max;
  }

  push(line: string): void {
    this.#lines.push(line);
    if (this.#lines.length > this.#max) this.#lines.shift();
    this.#wake?.();
  }

  end(): void {
    this.#ended = true;
    this.#wake?.();
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<string> {
    for (;;) {
      const line = this.#lines.shift();
      if (line !== undefined) {
        yield line;
        continue;
      }
      if (this.#ended) return;
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
      });
      this.#wake = undefined;
    }
  }
}
