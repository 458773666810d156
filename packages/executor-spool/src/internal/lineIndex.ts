/** The lines of a byte buffer, indexed once: line `k` is bytes `starts[k]` to `starts[k + 1]`, with its `\n`. */
export interface LineIndex {
  readonly buffer: Buffer;
  /** `count + 1` offsets; the last is `buffer.length`. */
  readonly starts: Int32Array;
  /** A 32-bit hash of each line's bytes (its `\n` included). */
  readonly hashes: Int32Array;
  readonly count: number;
}

const NL = 10;

/**
 * Splits `buffer` into lines and hashes each (FNV-1a over its bytes), in one pass over the bytes. A last
 * line without `\n` is a line of its own, so `a` and `a\n` differ, as in git.
 */
export function indexLines(buffer: Buffer): LineIndex {
  const size = buffer.length;
  let starts = new Int32Array(Math.max(16, (size >> 5) + 2));
  let hashes = new Int32Array(starts.length);
  let count = 0;
  let pos = 0;
  while (pos < size) {
    if (count + 2 > starts.length) {
      const grown = new Int32Array(starts.length * 2);
      grown.set(starts);
      starts = grown;
      const grownHashes = new Int32Array(grown.length);
      grownHashes.set(hashes);
      hashes = grownHashes;
    }
    starts[count] = pos;
    let h = -2128831035;
    let c = 0;
    do {
      c = buffer[pos++] as number;
      h = Math.imul(h ^ c, 16777619);
    } while (c !== NL && pos < size);
    hashes[count] = h;
    count++;
  }
  starts[count] = size;
  return { buffer, starts: starts.subarray(0, count + 1), hashes: hashes.subarray(0, count), count };
}
