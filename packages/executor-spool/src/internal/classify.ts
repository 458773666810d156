import { indexLines, type LineIndex } from './lineIndex.js';

const NL = 10;
const FNV_OFFSET = -2128831035;
const FNV_PRIME = 16777619;
/** How far (in lines of the old side) a re-synchronisation looks for the line just read from the new side. */
const RESYNC_WINDOW = 8;

/** Both sides indexed, with a class per line: equal bytes, equal class (xdiff's classifier). */
export interface Classified {
  a: LineIndex;
  b: LineIndex;
  classA: Int32Array;
  classB: Int32Array;
  /** How often each class occurs on each side. */
  countA: Int32Array;
  countB: Int32Array;
}

/** An open-addressing table from line hash to class, growing as classes are added. */
class ClassTable {
  #table: Int32Array;
  #mask: number;
  hash: Int32Array;
  /** The first line of each class: side (0 old, 1 new) and index. */
  side: Uint8Array;
  line: Int32Array;
  count = 0;

  constructor(expected: number) {
    let size = 16;
    while (size < expected * 2) size *= 2;
    this.#table = new Int32Array(size);
    this.#mask = size - 1;
    this.hash = new Int32Array(Math.max(16, expected));
    this.side = new Uint8Array(this.hash.length);
    this.line = new Int32Array(this.hash.length);
  }

  /** The class of a line with hash `h`; `same(side, line)` says whether a class's first line equals it. */
  classOf(h: number, side: number, line: number, same: (side: number, line: number) => boolean): number {
    let slot = (h ^ (h >>> 15)) & this.#mask;
    for (;;) {
      const entry = this.#table[slot] as number;
      if (entry === 0) break;
      const id = entry - 1;
      if (this.hash[id] === h && same(this.side[id] as number, this.line[id] as number)) return id;
      slot = (slot + 1) & this.#mask;
    }
    const id = this.count++;
    if (id >= this.hash.length) this.#grow();
    this.hash[id] = h;
    this.side[id] = side;
    this.line[id] = line;
    if (this.count * 2 > this.#table.length) this.#rehash();
    else this.#table[slot] = id + 1;
    return id;
  }

  #grow(): void {
    const n = this.hash.length * 2;
    const hash = new Int32Array(n);
    hash.set(this.hash);
    const side = new Uint8Array(n);
    side.set(this.side);
    const line = new Int32Array(n);
    line.set(this.line);
    this.hash = hash;
    this.side = side;
    this.line = line;
  }

  #rehash(): void {
    const size = this.#table.length * 2;
    this.#table = new Int32Array(size);
    this.#mask = size - 1;
    for (let id = 0; id < this.count; id++) {
      const h = this.hash[id] as number;
      let slot = (h ^ (h >>> 15)) & this.#mask;
      while (this.#table[slot] !== 0) slot = (slot + 1) & this.#mask;
      this.#table[slot] = id + 1;
    }
  }
}

/** Equal bytes of `a` from `pa` and `b` from `pb`, compared in blocks with memcmp. */
function commonBytes(a: Buffer, pa: number, b: Buffer, pb: number): number {
  const max = Math.min(a.length - pa, b.length - pb);
  let n = 0;
  let block = 64 * 1024;
  while (n < max) {
    const len = Math.min(block, max - n);
    if (a.compare(b, pb + n, pb + n + len, pa + n, pa + n + len) === 0) n += len;
    else if (len <= 64) {
      while (a[pa + n] === b[pb + n]) n++;
      return n;
    } else block = Math.max(64, len >> 3);
  }
  return n;
}

/** The index of the last line start at or before `pos`, searching lines `from` to `count`. */
function lineAt(starts: Int32Array, from: number, count: number, pos: number): number {
  let lo = from;
  let hi = count;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if ((starts[mid] as number) <= pos) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

/**
 * Indexes and classifies both sides. The old side is split and hashed line by line. The new side is
 * walked against it: where its bytes equal the old side's at the current alignment (checked with memcmp a
 * block at a time), its lines take the old lines' starts and classes without being hashed; elsewhere each
 * line is hashed and classified, and the walk looks for that line among the old side's next and previous
 * few lines to align again. The result is the same as classifying every line, only faster when the sides
 * share long runs (the usual edit).
 */
export function classifySides(bufA: Buffer, bufB: Buffer): Classified {
  const a = indexLines(bufA);
  const nA = a.count;
  const startsA = a.starts;
  const table = new ClassTable(nA + 64);
  const classA = new Int32Array(nA);
  let startsB = new Int32Array(Math.max(16, nA + 2));
  let classB = new Int32Array(startsB.length);
  const sameA = (side: number, line: number) =>
    side === 0 &&
    sameBytes(bufA, startsA[line] as number, startsA[line + 1] as number, bufA, curStart, curEnd);
  let curStart = 0;
  let curEnd = 0;
  for (let k = 0; k < nA; k++) {
    curStart = startsA[k] as number;
    curEnd = startsA[k + 1] as number;
    classA[k] = table.classOf(a.hashes[k] as number, 0, k, sameA);
  }
  const sameB = (side: number, line: number) =>
    side === 0
      ? sameBytes(bufA, startsA[line] as number, startsA[line + 1] as number, bufB, curStart, curEnd)
      : sameBytes(bufB, startsB[line] as number, startsB[line + 1] as number, bufB, curStart, curEnd);
  const sizeA = bufA.length;
  const sizeB = bufB.length;
  const room = (n: number) => {
    if (n < startsB.length) return;
    let size = startsB.length * 2;
    while (size <= n) size *= 2;
    const s = new Int32Array(size);
    s.set(startsB);
    startsB = s;
    const c = new Int32Array(size);
    c.set(classB);
    classB = c;
  };
  let i = 0;
  let j = 0;
  let pb = 0;
  let aligned = true;
  while (pb < sizeB) {
    if (aligned && i < nA) {
      aligned = false;
      const pa = startsA[i] as number;
      const same = commonBytes(bufA, pa, bufB, pb);
      let m = lineAt(startsA, i, nA, pa + same);
      // A last old line without `\n` is equal only where the new side ends there too.
      if (m === nA && bufA[sizeA - 1] !== NL && pb + (sizeA - pa) !== sizeB) m--;
      if (m > i) {
        room(j + (m - i) + 1);
        const shift = pb - pa;
        for (let t = i; t < m; t++, j++) {
          startsB[j] = (startsA[t] as number) + shift;
          classB[j] = classA[t] as number;
        }
        pb = (startsA[m] as number) + shift;
        i = m;
        if (pb >= sizeB) break;
      }
    }
    // One line of the new side, hashed.
    room(j + 2);
    curStart = pb;
    let h = FNV_OFFSET;
    let c = 0;
    do {
      c = bufB[pb++] as number;
      h = Math.imul(h ^ c, FNV_PRIME);
    } while (c !== NL && pb < sizeB);
    curEnd = pb;
    startsB[j] = curStart;
    const id = table.classOf(h, 1, j, sameB);
    classB[j] = id;
    j++;
    for (let d = 0; d < RESYNC_WINDOW && !aligned; d++) {
      if (i + d < nA && classA[i + d] === id) {
        i += d + 1;
        aligned = true;
      } else if (d > 0 && i - d >= 0 && classA[i - d] === id) {
        i += 1 - d;
        aligned = true;
      }
    }
    // Not near: a line first seen further down the old side (a block was replaced or inserted) aligns there.
    if (!aligned && table.side[id] === 0 && (table.line[id] as number) >= i + RESYNC_WINDOW) {
      i = (table.line[id] as number) + 1;
      aligned = true;
    }
  }
  startsB[j] = sizeB;
  const b: LineIndex = {
    buffer: bufB,
    starts: startsB.subarray(0, j + 1),
    hashes: new Int32Array(0),
    count: j,
  };
  const countA = new Int32Array(table.count);
  const countB = new Int32Array(table.count);
  for (let k = 0; k < nA; k++) (countA[classA[k] as number] as number)++;
  for (let k = 0; k < j; k++) (countB[classB[k] as number] as number)++;
  return { a, b, classA, classB: classB.subarray(0, j), countA, countB };
}

/** Whether bytes `x[xs, xe)` equal `y[ys, ye)`. */
function sameBytes(x: Buffer, xs: number, xe: number, y: Buffer, ys: number, ye: number): boolean {
  const len = xe - xs;
  if (ye - ys !== len) return false;
  if (len > 24) return x.compare(y, ys, ye, xs, xe) === 0;
  for (let k = 0; k < len; k++) if (x[xs + k] !== y[ys + k]) return false;
  return true;
}
