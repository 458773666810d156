import { diffArrays } from 'diff';

/** One change of an edit script: `n1` lines of the old side at `i1` replaced by `n2` lines of the new at `i2`. */
export interface LineChange {
  i1: number;
  n1: number;
  i2: number;
  n2: number;
}

/** Bounds on the line diff. */
export interface LineDiffBounds {
  /** Give up (and replace the whole window) past this many inserted plus deleted lines in one region. */
  maxEditLength: number;
  /** jsdiff's own time limit per call, in milliseconds. */
  timeoutMs?: number | undefined;
}

const NL = 10;

/** The lines of a buffer, indexed once (line `k` is bytes `starts[k]` to `starts[k + 1]`, with its `\n`). */
export class BufferLines {
  readonly buffer: Buffer;
  readonly starts: number[] = [0];

  constructor(buffer: Buffer) {
    this.buffer = buffer;
    for (let nl = buffer.indexOf(NL); nl !== -1; nl = buffer.indexOf(NL, nl + 1)) this.starts.push(nl + 1);
    if (this.starts.at(-1) !== buffer.length) this.starts.push(buffer.length);
  }

  get length(): number {
    return this.starts.length - 1;
  }

  /** Line `k` as latin1 text (one char per byte), with its `\n` when it has one. */
  line(k: number): string {
    return this.buffer.toString('latin1', this.starts[k], this.starts[k + 1]);
  }

  /** The first byte of line `k`. */
  firstByte(k: number): number | undefined {
    return this.buffer[this.starts[k] as number];
  }

  slice(from: number, to: number): string[] {
    const out: string[] = [];
    for (let k = from; k < to; k++) out.push(this.line(k));
    return out;
  }
}

/** Equal bytes of `a` from `pa` and `b` from `pb`, compared in blocks with memcmp. */
function commonBytes(a: Buffer, pa: number, b: Buffer, pb: number): number {
  const max = Math.min(a.length - pa, b.length - pb);
  let n = 0;
  let block = 64 * 1024;
  while (n < max) {
    const len = Math.min(block, max - n);
    if (a.compare(b, pb + n, pb + n + len, pa + n, pa + n + len) === 0) {
      n += len;
    } else if (len <= 64) {
      while (a[pa + n] === b[pb + n]) n++;
      return n;
    } else {
      block = Math.max(64, len >> 3);
    }
  }
  return n;
}

/** The index of the last line start at or before `pos` (binary search). */
function lineAt(starts: readonly number[], pos: number): number {
  let lo = 0;
  let hi = starts.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if ((starts[mid] as number) <= pos) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

/** Equal lines that end a region of changes when the region was diffed on truncated windows. */
const RESYNC_LINES = 8;
const FIRST_WINDOW = 64;

/**
 * The changes that turn lines `a` into lines `b`, or `undefined` when a region needs more than
 * `maxEditLength` edits (the caller then replaces the whole window).
 *
 * Equal runs are skipped with memcmp over the bytes; at each difference it diffs a window of lines that grows
 * (64, 256, 1024 … lines) with jsdiff until the changes are followed by {@link RESYNC_LINES} equal lines,
 * keeps those changes and skips on. So scattered edits in a long file cost about one memcmp of the file plus
 * a few small diffs, instead of Myers' O(lines × edits). Every result is a valid edit script; it is Myers'
 * minimal one inside each region, and the same as a whole-text diff whenever regions are apart.
 */
export function lineChanges(
  a: BufferLines,
  b: BufferLines,
  bounds: LineDiffBounds,
): LineChange[] | undefined {
  const changes: LineChange[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    const pa = a.starts[i] as number;
    const pb = b.starts[j] as number;
    const same = commonBytes(a.buffer, pa, b.buffer, pb);
    // Lines wholly inside the equal bytes are equal; a last line without `\n` only if both sides end there.
    let m = lineAt(a.starts, pa + same);
    const bothEnd = pa + same === a.buffer.length && pb + same === b.buffer.length;
    if (m === a.length && a.buffer[a.buffer.length - 1] !== NL && !bothEnd) m--;
    j += m - i;
    i = m;
    if (i >= a.length || j >= b.length) break;
    let width = FIRST_WINDOW;
    for (;;) {
      const endA = Math.min(a.length, i + width);
      const endB = Math.min(b.length, j + width);
      const whole = endA === a.length && endB === b.length;
      const parts = diffArrays(a.slice(i, endA), b.slice(j, endB), {
        maxEditLength: bounds.maxEditLength,
        ...(bounds.timeoutMs === undefined ? {} : { timeout: bounds.timeoutMs }),
      });
      if (!parts) return undefined;
      let x = 0;
      let y = 0;
      let pending: LineChange | undefined;
      let cut = false;
      for (const part of parts) {
        const count = part.count ?? part.value.length;
        if (part.removed || part.added) {
          pending ??= { i1: i + x, n1: 0, i2: j + y, n2: 0 };
          if (part.removed) {
            pending.n1 += count;
            x += count;
          } else {
            pending.n2 += count;
            y += count;
          }
          continue;
        }
        if (pending) changes.push(pending);
        pending = undefined;
        if (!whole && count >= RESYNC_LINES) {
          cut = true;
          break;
        }
        x += count;
        y += count;
      }
      if (cut || whole) {
        if (pending) changes.push(pending);
        i = whole ? a.length : i + x;
        j = whole ? b.length : j + y;
        break;
      }
      width *= 4;
    }
  }
  if (i < a.length || j < b.length) changes.push({ i1: i, n1: a.length - i, i2: j, n2: b.length - j });
  return changes;
}
