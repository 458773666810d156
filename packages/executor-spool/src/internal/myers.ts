import { type Classified, classifySides } from './classify.js';
import { compactChanges } from './indentHeuristic.js';
import type { LineIndex } from './lineIndex.js';

/** One change of an edit script: `n1` lines of the old side at `i1` replaced by `n2` lines of the new at `i2`. */
export interface LineChange {
  i1: number;
  n1: number;
  i2: number;
  n2: number;
}

// The constants of git's xdiff (xdiffi.c, xprepare.c).
const MAX_COST_MIN = 256;
const HEUR_MIN_COST = 256;
const LINE_MAX = 0x7fffffff;
const SNAKE_CNT = 20;
const K_HEUR = 4;
const KPDIS_RUN = 4;
const MAX_EQLIMIT = 1024;
const SIMSCAN_WINDOW = 100;

/** xdiff's integer square root approximation. */
function bogosqrt(n: number): number {
  let i = 1;
  for (; n > 0; n = Math.floor(n / 4)) i *= 2;
  return i;
}

/** One side as xdiff prepares it: classes, changed marks (with sentinels), the lines kept for Myers. */
export interface Side {
  /** Line count. */
  nrec: number;
  /** Class of each line. */
  ha: Int32Array;
  /** `changed[k + 1]` marks line `k`; `changed[0]` and `changed[nrec + 1]` stay 0. */
  changed: Uint8Array;
  /** The lines given to Myers (those not discarded) and their classes. */
  rindex: Int32Array;
  rha: Int32Array;
  nreff: number;
}

/** xdl_clean_mmatch: whether a line with many matches sits in a run of lines without match. */
function cleanMmatch(dis: Uint8Array, i: number, s: number, e: number): boolean {
  if (i - s > SIMSCAN_WINDOW) s = i - SIMSCAN_WINDOW;
  if (e - i > SIMSCAN_WINDOW) e = i + SIMSCAN_WINDOW;
  let r: number;
  let rdis0 = 0;
  let rpdis0 = 1;
  for (r = 1; i - r >= s; r++) {
    const d = dis[i - r];
    if (d === 0) rdis0++;
    else if (d === 2) rpdis0++;
    else break;
  }
  if (rdis0 === 0) return false;
  let rdis1 = 0;
  let rpdis1 = 1;
  for (r = 1; i + r <= e; r++) {
    const d = dis[i + r];
    if (d === 0) rdis1++;
    else if (d === 2) rpdis1++;
    else break;
  }
  if (rdis1 === 0) return false;
  rdis1 += rdis0;
  rpdis1 += rpdis0;
  return rpdis1 * KPDIS_RUN < rpdis1 + rdis1;
}

/** xdl_trim_ends and xdl_cleanup_records: drops the common ends and the lines that cannot match. */
function prepare({ a, b, classA, classB, countA, countB }: Classified): [Side, Side] {
  const n1 = a.count;
  const n2 = b.count;
  let lim = Math.min(n1, n2);
  let start = 0;
  while (start < lim && classA[start] === classB[start]) start++;
  lim -= start;
  let tail = 0;
  while (tail < lim && classA[n1 - 1 - tail] === classB[n2 - 1 - tail]) tail++;
  const make = (ha: Int32Array, nrec: number, other: Int32Array): Side => {
    const changed = new Uint8Array(nrec + 2);
    const end = nrec - tail - 1;
    const mlim = Math.min(bogosqrt(nrec), MAX_EQLIMIT);
    const dis = new Uint8Array(nrec + 1);
    for (let i = start; i <= end; i++) {
      const nm = other[ha[i] as number] as number;
      dis[i] = nm === 0 ? 0 : nm >= mlim ? 2 : 1;
    }
    const rindex = new Int32Array(Math.max(0, end - start + 1));
    const rha = new Int32Array(rindex.length);
    let nreff = 0;
    for (let i = start; i <= end; i++) {
      if (dis[i] === 1 || (dis[i] === 2 && !cleanMmatch(dis, i, start, end))) {
        rindex[nreff] = i;
        rha[nreff] = ha[i] as number;
        nreff++;
      } else changed[i + 1] = 1;
    }
    return { nrec, ha, changed, rindex, rha, nreff };
  };
  return [make(classA, n1, countB), make(classB, n2, countA)];
}

interface Split {
  i1: number;
  i2: number;
  minLo: boolean;
  minHi: boolean;
}

/**
 * xdl_split: the middle snake of the box (off1, off2)–(lim1, lim2), Myers' forward and backward search
 * with xdiff's heuristics that cut an expensive search short.
 */
function split(
  h1: Int32Array,
  off1: number,
  lim1: number,
  h2: Int32Array,
  off2: number,
  lim2: number,
  kvdf: Int32Array,
  kvdb: Int32Array,
  base: number,
  needMin: boolean,
  mxcost: number,
  spl: Split,
): void {
  const dmin = off1 - lim2;
  const dmax = lim1 - off2;
  const fmid = off1 - off2;
  const bmid = lim1 - lim2;
  const odd = ((fmid - bmid) & 1) !== 0;
  let fmin = fmid;
  let fmax = fmid;
  let bmin = bmid;
  let bmax = bmid;
  kvdf[base + fmid] = off1;
  kvdb[base + bmid] = lim1;
  for (let ec = 1; ; ec++) {
    let gotSnake = false;
    if (fmin > dmin) kvdf[base + --fmin - 1] = -1;
    else ++fmin;
    if (fmax < dmax) kvdf[base + ++fmax + 1] = -1;
    else --fmax;
    for (let d = fmax; d >= fmin; d -= 2) {
      let i1: number;
      const lo = kvdf[base + d - 1] as number;
      const hi = kvdf[base + d + 1] as number;
      if (lo >= hi) i1 = lo + 1;
      else i1 = hi;
      const prev1 = i1;
      let i2 = i1 - d;
      while (i1 < lim1 && i2 < lim2 && h1[i1] === h2[i2]) {
        i1++;
        i2++;
      }
      if (i1 - prev1 > SNAKE_CNT) gotSnake = true;
      kvdf[base + d] = i1;
      if (odd && bmin <= d && d <= bmax && (kvdb[base + d] as number) <= i1) {
        spl.i1 = i1;
        spl.i2 = i2;
        spl.minLo = spl.minHi = true;
        return;
      }
    }
    if (bmin > dmin) kvdb[base + --bmin - 1] = LINE_MAX;
    else ++bmin;
    if (bmax < dmax) kvdb[base + ++bmax + 1] = LINE_MAX;
    else --bmax;
    for (let d = bmax; d >= bmin; d -= 2) {
      let i1: number;
      const lo = kvdb[base + d - 1] as number;
      const hi = kvdb[base + d + 1] as number;
      if (lo < hi) i1 = lo;
      else i1 = hi - 1;
      const prev1 = i1;
      let i2 = i1 - d;
      while (i1 > off1 && i2 > off2 && h1[i1 - 1] === h2[i2 - 1]) {
        i1--;
        i2--;
      }
      if (prev1 - i1 > SNAKE_CNT) gotSnake = true;
      kvdb[base + d] = i1;
      if (!odd && fmin <= d && d <= fmax && i1 <= (kvdf[base + d] as number)) {
        spl.i1 = i1;
        spl.i2 = i2;
        spl.minLo = spl.minHi = true;
        return;
      }
    }
    if (needMin) continue;
    if (gotSnake && ec > HEUR_MIN_COST) {
      let best = 0;
      for (let d = fmax; d >= fmin; d -= 2) {
        const dd = d > fmid ? d - fmid : fmid - d;
        const i1 = kvdf[base + d] as number;
        const i2 = i1 - d;
        const v = i1 - off1 + (i2 - off2) - dd;
        if (
          v > K_HEUR * ec &&
          v > best &&
          off1 + SNAKE_CNT <= i1 &&
          i1 < lim1 &&
          off2 + SNAKE_CNT <= i2 &&
          i2 < lim2
        ) {
          for (let k = 1; h1[i1 - k] === h2[i2 - k]; k++) {
            if (k === SNAKE_CNT) {
              best = v;
              spl.i1 = i1;
              spl.i2 = i2;
              break;
            }
          }
        }
      }
      if (best > 0) {
        spl.minLo = true;
        spl.minHi = false;
        return;
      }
      for (let d = bmax; d >= bmin; d -= 2) {
        const dd = d > bmid ? d - bmid : bmid - d;
        const i1 = kvdb[base + d] as number;
        const i2 = i1 - d;
        const v = lim1 - i1 + (lim2 - i2) - dd;
        if (
          v > K_HEUR * ec &&
          v > best &&
          off1 < i1 &&
          i1 <= lim1 - SNAKE_CNT &&
          off2 < i2 &&
          i2 <= lim2 - SNAKE_CNT
        ) {
          for (let k = 0; h1[i1 + k] === h2[i2 + k]; k++) {
            if (k === SNAKE_CNT - 1) {
              best = v;
              spl.i1 = i1;
              spl.i2 = i2;
              break;
            }
          }
        }
      }
      if (best > 0) {
        spl.minLo = false;
        spl.minHi = true;
        return;
      }
    }
    if (ec >= mxcost) {
      let fbest = -1;
      let fbest1 = -1;
      for (let d = fmax; d >= fmin; d -= 2) {
        let i1 = Math.min(kvdf[base + d] as number, lim1);
        let i2 = i1 - d;
        if (lim2 < i2) {
          i1 = lim2 + d;
          i2 = lim2;
        }
        if (fbest < i1 + i2) {
          fbest = i1 + i2;
          fbest1 = i1;
        }
      }
      let bbest = LINE_MAX;
      let bbest1 = LINE_MAX;
      for (let d = bmax; d >= bmin; d -= 2) {
        let i1 = Math.max(off1, kvdb[base + d] as number);
        let i2 = i1 - d;
        if (i2 < off2) {
          i1 = off2 + d;
          i2 = off2;
        }
        if (i1 + i2 < bbest) {
          bbest = i1 + i2;
          bbest1 = i1;
        }
      }
      if (lim1 + lim2 - bbest < fbest - (off1 + off2)) {
        spl.i1 = fbest1;
        spl.i2 = fbest - fbest1;
        spl.minLo = true;
        spl.minHi = false;
      } else {
        spl.i1 = bbest1;
        spl.i2 = bbest - bbest1;
        spl.minLo = false;
        spl.minHi = true;
      }
      return;
    }
  }
}

/** xdl_recs_cmp, with an explicit stack instead of recursion: marks the changed lines of both sides. */
function compare(x: Side, y: Side): void {
  const h1 = x.rha;
  const h2 = y.rha;
  const ndiags = x.nreff + y.nreff + 3;
  const kvdf = new Int32Array(ndiags + 1);
  const kvdb = new Int32Array(ndiags + 1);
  const base = y.nreff + 1;
  const mxcost = Math.max(bogosqrt(ndiags), MAX_COST_MIN);
  const spl: Split = { i1: 0, i2: 0, minLo: false, minHi: false };
  // Boxes still to do: off1, lim1, off2, lim2, needMin.
  const stack: number[] = [0, x.nreff, 0, y.nreff, 0];
  while (stack.length > 0) {
    const needMin = stack.pop() === 1;
    let lim2 = stack.pop() as number;
    let off2 = stack.pop() as number;
    let lim1 = stack.pop() as number;
    let off1 = stack.pop() as number;
    while (off1 < lim1 && off2 < lim2 && h1[off1] === h2[off2]) {
      off1++;
      off2++;
    }
    while (off1 < lim1 && off2 < lim2 && h1[lim1 - 1] === h2[lim2 - 1]) {
      lim1--;
      lim2--;
    }
    if (off1 === lim1) {
      for (; off2 < lim2; off2++) y.changed[(y.rindex[off2] as number) + 1] = 1;
    } else if (off2 === lim2) {
      for (; off1 < lim1; off1++) x.changed[(x.rindex[off1] as number) + 1] = 1;
    } else {
      split(h1, off1, lim1, h2, off2, lim2, kvdf, kvdb, base, needMin, mxcost, spl);
      const { i1, i2, minLo, minHi } = spl;
      // Low box done first, as xdiff does (the order does not change the marks).
      stack.push(i1, lim1, i2, lim2, minHi ? 1 : 0);
      stack.push(off1, i1, off2, i2, minLo ? 1 : 0);
    }
  }
}

/** xdl_build_script: the changed marks as a list of changes, in order. */
function buildScript(x: Side, y: Side): LineChange[] {
  const c1 = x.changed;
  const c2 = y.changed;
  const out: LineChange[] = [];
  let i1 = x.nrec;
  let i2 = y.nrec;
  while (i1 >= 0 || i2 >= 0) {
    if ((i1 > 0 && c1[i1] === 1) || (i2 > 0 && c2[i2] === 1)) {
      const l1 = i1;
      const l2 = i2;
      while (i1 > 0 && c1[i1] === 1) i1--;
      while (i2 > 0 && c2[i2] === 1) i2--;
      out.push({ i1, n1: l1 - i1, i2, n2: l2 - i2 });
    }
    i1--;
    i2--;
  }
  return out.reverse();
}

/**
 * The lines of `before` and `after` and the changes that turn one into the other, as `git diff` finds them
 * by default: xdiff's Myers (common ends trimmed, lines without a match discarded, the middle-snake search
 * with git's cost heuristics), then each group of changes slid as git does (aligned with the other side's
 * changes where it can be, else placed by the indent heuristic).
 */
export function diffLines(
  before: Buffer,
  after: Buffer,
): { a: LineIndex; b: LineIndex; changes: LineChange[] } {
  const sides = classifySides(before, after);
  const { a, b } = sides;
  if (a.count === 0 || b.count === 0) {
    const changes = a.count === 0 && b.count === 0 ? [] : [{ i1: 0, n1: a.count, i2: 0, n2: b.count }];
    return { a, b, changes };
  }
  const [x, y] = prepare(sides);
  compare(x, y);
  compactChanges(x, y, a);
  compactChanges(y, x, b);
  return { a, b, changes: buildScript(x, y) };
}
