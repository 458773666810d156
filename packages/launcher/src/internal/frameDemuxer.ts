/** The stream a frame of the engine's multiplexed output belongs to. */
export type FrameStream = 'stdout' | 'stderr';

/** The size of a frame header. */
export const HEADER_BYTES = 8;

/**
 * Splits the engine's multiplexed attach stream (a non-TTY container) into stdout and stderr payloads.
 * Each frame is an 8-byte header — stream (0 stdin, 1 stdout, 2 stderr), three zero bytes, payload size as
 * a big-endian uint32 — then the payload. Chunks may split a header or a payload anywhere; payload bytes
 * are handed on as they arrive, never buffered whole (a frame can be megabytes).
 */
export class FrameDemuxer {
  readonly #onPayload: (stream: FrameStream, bytes: Buffer) => void;
  readonly #header = Buffer.alloc(HEADER_BYTES);
  #headerFill = 0;
  #stream: FrameStream = 'stdout';
  #remaining = 0;

  /** @param onPayload receives each run of payload bytes with its stream, in order. */
  constructor(onPayload: (stream: FrameStream, bytes: Buffer) => void) {
    this.#onPayload = onPayload;
  }

  /**
   * Feeds the next chunk of the stream. Throws a `RangeError` naming the offending bytes when a header is
   * not a frame header (the stream is not multiplexed, or it is corrupt); nothing after it is read.
   */
  push(chunk: Buffer): void {
    let offset = 0;
    while (offset < chunk.length) {
      if (this.#remaining > 0) {
        const end = Math.min(chunk.length, offset + this.#remaining);
        this.#remaining -= end - offset;
        this.#onPayload(this.#stream, chunk.subarray(offset, end));
        offset = end;
        continue;
      }
      const take = Math.min(HEADER_BYTES - this.#headerFill, chunk.length - offset);
      chunk.copy(this.#header, this.#headerFill, offset, offset + take);
      this.#headerFill += take;
      offset += take;
      if (this.#headerFill < HEADER_BYTES) return;
      this.#headerFill = 0;
      this.#stream = parseStream(this.#header);
      this.#remaining = this.#header.readUInt32BE(4);
    }
  }
}

/**
 * The stream of the frame whose 8-byte header starts at `offset` of `bytes`, or `undefined` when those
 * bytes are not a frame header (stream 0, 1 or 2, then three zero bytes).
 */
export function frameStream(bytes: Buffer, offset = 0): FrameStream | undefined {
  const kind = bytes[offset];
  if ((kind !== 0 && kind !== 1 && kind !== 2) || bytes.readUIntBE(offset + 1, 3) !== 0) return undefined;
  // The engine never sends stdin frames back; if it did, they would be the worker's input echoed.
  return kind === 2 ? 'stderr' : 'stdout';
}

function parseStream(header: Buffer): FrameStream {
  const stream = frameStream(header);
  if (stream === undefined) throw new RangeError(`not a stream frame header: ${header.toString('hex')}`);
  return stream;
}
