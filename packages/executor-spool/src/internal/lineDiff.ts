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

/** Equal lines that end a region of changes when the region was diffed on truncated windows. */
const RESYNC_LINES = 8;
const FIRST_WINDOW = 64;

/**
 * The changes that turn lines `a` into lines `b`, or `undefined` when a region needs more than
 * `maxEditLength` edits (the caller then replaces the whole window).
 *
 * It walks both sides while their lines are equal; at each difference it diffs a window that grows (64, 256,
 * 1024 … lines) with jsdiff until the changes are followed by {@link RESYNC_LINES} equal lines, keeps those
 * changes and walks on. So scattered edits in a long file cost O(lines + edits²) instead of Myers' O(lines ×
 * edits), and every result is a valid edit script; it is Myers' minimal one inside each region, and the same
 * as jsdiff's whole-text diff whenever the regions are more than a few lines apart.
 */
export function lineChanges(
  a: readonly string[],
  b: readonly string[],
  bounds: LineDiffBounds,
): LineChange[] | undefined {
  const changes: LineChange[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    if (a[i] === b[j]) {
      i++;
      j++;
      continue;
    }
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
        i += x;
        j += y;
        if (whole) {
          i = a.length;
          j = b.length;
        }
        break;
      }
      width *= 4;
    }
  }
  if (i < a.length || j < b.length) changes.push({ i1: i, n1: a.length - i, i2: j, n2: b.length - j });
  return changes;
}
