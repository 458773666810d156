import { isUtf8 } from 'node:buffer';
import { binaryPatchBody } from './internal/binaryPatch.js';
import { ABSENT_ID, type ByteSource, blobId } from './internal/content.js';
import { indexLines, type LineIndex } from './internal/lineIndex.js';
import { diffLines, type LineChange } from './internal/myers.js';

/** Options of {@link unifiedDiff} and of the spool's diffs. */
export interface UnifiedDiffOptions {
  /**
   * Lines of context around each change, as `git diff -U<n>`. Changes at most twice this many lines apart
   * share a hunk, as in git.
   * @default 3
   */
  context?: number | undefined;
  /**
   * @deprecated Ignored. Diffs used to fall back to one replacement hunk past this many edits; they now use
   * git's own Myers with its cost heuristics, which bound the time without giant hunks.
   */
  maxEditLength?: number | undefined;
  /** @deprecated Ignored, as `maxEditLength`. */
  timeoutMs?: number | undefined;
  /**
   * Most bytes (both sides together) diffed in memory. Files up to it are diffed whole, exactly as
   * `git diff` does. Larger files are streamed: only the changed window between their common prefix and
   * suffix (plus a margin) is read and diffed, and a window larger than this is shown as one replacement
   * hunk streamed from both sides, without being held.
   * @default 33554432 (32 MiB)
   */
  maxWindowBytes?: number | undefined;
}

/** One side of a file diff: its bytes (or `null` when the file is absent), its git blob id and its mode. */
export interface DiffSide {
  source: ByteSource | null;
  id: string;
  mode: number;
}

const CHUNK = 1 << 20;
const BINARY_PROBE = 8000;
/** Git's core.bigFileThreshold: larger files are shown as binary. */
const BIG_FILE_THRESHOLD = 512 * 1024 * 1024;
const NL = 10;
const OUT_CHUNK = 1 << 20;
/** Lines (and bytes) kept around the changed window of a streamed large file. */
const MARGIN_LINES = 160;
const MARGIN_BYTES = 64 * 1024;

const sideOf = (content: string | Uint8Array | null, mode: number): DiffSide => {
  if (content === null) return { source: null, id: ABSENT_ID, mode };
  const buffer =
    typeof content === 'string'
      ? Buffer.from(content, 'utf8')
      : Buffer.from(content.buffer, content.byteOffset, content.byteLength);
  return { source: memorySource(buffer), id: blobId(buffer), mode };
};

const memorySource = (buffer: Buffer): ByteSource => ({
  size: buffer.length,
  read: async (pos, len) => buffer.subarray(pos, pos + len),
  close: async () => {},
});

/**
 * The git-compatible unified diff of one file as bytes, exactly as `git diff --no-index` prints it:
 * `diff --git` and `index` lines with blob ids, `/dev/null` for adds and deletes, `Binary files … differ`
 * when either side has a NUL byte in its first 8,000 bytes, `\ No newline at end of file`, and the lines'
 * own bytes whatever their encoding (Latin-1, Windows-1252, CRLF). Empty when both sides are equal.
 *
 * When to use: when the patch is applied or stored (`git apply`, `patch`): it is exact for any encoding.
 *
 * @example
 * ```ts
 * const patch = await unifiedDiffBytes('src/a.ts', before, after);
 * await writeFile('change.patch', patch);
 * ```
 */
export async function unifiedDiffBytes(
  path: string,
  before: string | Uint8Array | null,
  after: string | Uint8Array | null,
  options: UnifiedDiffOptions & { mode?: number | undefined } = {},
): Promise<Buffer> {
  const mode = options.mode ?? 0o644;
  const parts: Buffer[] = [];
  for await (const chunk of unifiedDiffChunks(path, sideOf(before, mode), sideOf(after, mode), options))
    parts.push(chunk);
  return Buffer.concat(parts);
}

/**
 * {@link unifiedDiffBytes} as text: the same diff decoded as UTF-8 when it is valid UTF-8 (every diff of
 * UTF-8 or ASCII files). A file whose diff is not (Latin-1 or Windows-1252 text) is shown as a
 * `GIT binary patch` (plain ASCII, full blob ids), which `git apply` turns into the exact bytes, so the
 * text never silently loses bytes. Use {@link unifiedDiffBytes} for the text diff of such files.
 *
 * @example
 * ```ts
 * const patch = await unifiedDiff('src/a.ts', 'let a = 1;\n', 'let a = 2;\n');
 * // diff --git a/src/a.ts b/src/a.ts … @@ -1 +1 @@ …
 * ```
 */
export async function unifiedDiff(
  path: string,
  before: string | Uint8Array | null,
  after: string | Uint8Array | null,
  options: UnifiedDiffOptions & { mode?: number | undefined } = {},
): Promise<string> {
  const mode = options.mode ?? 0o644;
  let out = '';
  for await (const chunk of unifiedDiffText(path, sideOf(before, mode), sideOf(after, mode), options))
    out += chunk;
  return out;
}

/**
 * The diff of one file as text chunks: {@link unifiedDiffChunks} decoded as UTF-8, or, when the diff is not
 * valid UTF-8, the file as a `GIT binary patch` (see {@link unifiedDiff}).
 */
export async function* unifiedDiffText(
  path: string,
  a: DiffSide,
  b: DiffSide,
  options: UnifiedDiffOptions = {},
): AsyncGenerator<string> {
  const parts: Buffer[] = [];
  for await (const chunk of unifiedDiffChunks(path, a, b, options)) parts.push(chunk);
  if (parts.every((part) => isUtf8(part))) {
    for (const part of parts) yield part.toString('utf8');
    return;
  }
  yield diffTextFallback(path, a, b);
}

/**
 * The file's diff as a `GIT binary patch` with full blob ids (see {@link unifiedDiff}).
 * @internal
 */
export async function diffTextFallback(path: string, a: DiffSide, b: DiffSide): Promise<string> {
  const whole = async (s: ByteSource | null) => (s ? Buffer.from(await s.read(0, s.size)) : Buffer.alloc(0));
  const head = headerOf(path, a, b, true);
  return `${head.header}${binaryPatchBody(await whole(a.source), await whole(b.source))}`;
}

/** The `diff --git`, mode and `index` lines, and the `---`/`+++` labels. */
function headerOf(path: string, a: DiffSide, b: DiffSide, fullIndex = false) {
  const nameA = quotePath(`a/${path}`);
  const nameB = quotePath(`b/${path}`);
  const id = (x: string) => (fullIndex ? x : x.slice(0, 7));
  let header = `diff --git ${nameA} ${nameB}\n`;
  if (!a.source) header += `new file mode ${gitMode(b.mode)}\nindex ${id(ABSENT_ID)}..${id(b.id)}\n`;
  else if (!b.source) header += `deleted file mode ${gitMode(a.mode)}\nindex ${id(a.id)}..${id(ABSENT_ID)}\n`;
  else if (gitMode(a.mode) !== gitMode(b.mode)) {
    header += `old mode ${gitMode(a.mode)}\nnew mode ${gitMode(b.mode)}\nindex ${id(a.id)}..${id(b.id)}\n`;
  } else header += `index ${id(a.id)}..${id(b.id)} ${gitMode(a.mode)}\n`;
  return {
    header,
    labelA: a.source ? nameA : '/dev/null',
    labelB: b.source ? nameB : '/dev/null',
    nameA,
    nameB,
  };
}

/**
 * Yields the unified diff of one file as bytes in chunks (the headers, then about 1 MiB at a time).
 * Files up to `maxWindowBytes` (both sides) are diffed whole, as git does; larger ones are never held whole:
 * the common prefix and suffix are found by streaming both sides, and only the changed window between them
 * (with a margin of context) is read into memory and diffed.
 */
export async function* unifiedDiffChunks(
  path: string,
  a: DiffSide,
  b: DiffSide,
  options: UnifiedDiffOptions = {},
): AsyncGenerator<Buffer> {
  if (a.id === b.id && (a.source === null) === (b.source === null)) return;
  const context = Math.max(0, Math.floor(options.context ?? 3));
  const { header, labelA, labelB } = headerOf(path, a, b);
  const srcA = a.source ?? EMPTY;
  const srcB = b.source ?? EMPTY;
  const limit = options.maxWindowBytes ?? 32 * 1024 * 1024;
  // Files diffed whole are read once; the binary probe looks at the bytes already read.
  const whole = srcA.size + srcB.size <= limit;
  const bufA = whole ? await srcA.read(0, srcA.size) : undefined;
  const bufB = whole ? await srcB.read(0, srcB.size) : undefined;
  const binary = async (s: ByteSource, buf: Buffer | undefined) =>
    buf ? buf.subarray(0, BINARY_PROBE).includes(0) : isBinary(s);
  if ((await binary(srcA, bufA)) || (await binary(srcB, bufB))) {
    yield Buffer.from(`${header}Binary files ${labelA} and ${labelB} differ\n`, 'utf8');
    return;
  }
  if (srcA.size === 0 && srcB.size === 0) {
    yield Buffer.from(header, 'utf8');
    return;
  }
  const tab = path.includes(' ') ? '\t' : '';
  yield Buffer.from(
    `${header}--- ${labelA}${a.source ? tab : ''}\n+++ ${labelB}${b.source ? tab : ''}\n`,
    'utf8',
  );
  if (bufA && bufB) {
    const { a: la, b: lb, changes } = diffLines(bufA, bufB);
    yield* emitHunks(la, lb, changes, { context, lineOffset: 0 });
    return;
  }
  yield* windowedHunks(srcA, srcB, context, limit);
}

const EMPTY: ByteSource = { size: 0, read: async () => Buffer.alloc(0), close: async () => {} };

/** Git's mode string: 100755 when the owner may execute, else 100644. */
function gitMode(mode: number): string {
  return mode & 0o100 ? '100755' : '100644';
}

async function isBinary(source: ByteSource): Promise<boolean> {
  if (source.size === 0) return false;
  if (source.size > BIG_FILE_THRESHOLD) return true;
  return (await source.read(0, Math.min(BINARY_PROBE, source.size))).includes(0);
}

const C_ESCAPES: Record<number, string> = {
  7: 'a',
  8: 'b',
  9: 't',
  10: 'n',
  11: 'v',
  12: 'f',
  13: 'r',
  34: '"',
  92: '\\',
};

/** Git's `quote_c_style` with core.quotePath on: quoted when a byte is a control, `"`, `\` or non-ASCII. */
export function quotePath(name: string): string {
  const bytes = Buffer.from(name, 'utf8');
  if (!bytes.some((c) => c < 0x20 || c === 34 || c === 92 || c >= 0x7f)) return name;
  let out = '"';
  for (const c of bytes) {
    const escaped = C_ESCAPES[c];
    if (escaped) out += `\\${escaped}`;
    else if (c < 0x20 || c >= 0x7f) out += `\\${c.toString(8).padStart(3, '0')}`;
    else out += String.fromCharCode(c);
  }
  return `${out}"`;
}

/** A growable byte buffer for diff output. */
class Output {
  #buf = Buffer.allocUnsafe(1 << 16);
  length = 0;

  #room(n: number): void {
    if (this.length + n <= this.#buf.length) return;
    let size = this.#buf.length * 2;
    while (size < this.length + n) size *= 2;
    const grown = Buffer.allocUnsafe(size);
    this.#buf.copy(grown, 0, 0, this.length);
    this.#buf = grown;
  }

  ascii(text: string): void {
    this.#room(text.length);
    this.length += this.#buf.write(text, this.length, 'latin1');
  }

  bytes(from: Buffer, start: number, end: number): void {
    this.#room(end - start);
    from.copy(this.#buf, this.length, start, end);
    this.length += end - start;
  }

  /** One diff line: `sign`, the line's bytes, and git's marker when it has no `\n`. */
  line(sign: number, from: LineIndex, k: number): void {
    const start = from.starts[k] as number;
    const end = from.starts[k + 1] as number;
    this.#room(end - start + 32);
    this.#buf[this.length++] = sign;
    from.buffer.copy(this.#buf, this.length, start, end);
    this.length += end - start;
    if (end === start || from.buffer[end - 1] !== NL) this.ascii(NO_NEWLINE);
  }

  take(): Buffer {
    const out = Buffer.from(this.#buf.subarray(0, this.length));
    this.length = 0;
    return out;
  }
}

const NO_NEWLINE = '\n\\ No newline at end of file\n';
const SPACE = 32;
const MINUS = 45;
const PLUS = 43;

/** Git's default function-name rule (xemit.c def_ff): a line starting with a letter, `_` or `$`. */
const isNameStart = (c: number | undefined) =>
  c !== undefined && ((c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95 || c === 36);

/** git's isspace: space, tab, `\n` and `\r` only. */
const isGitSpace = (c: number) => c === 32 || c === 9 || c === 10 || c === 13;

/**
 * Length of the longest prefix of `bytes[start, end)` made of whole valid UTF-8 characters, as git's
 * utf8_width walks it (no overlongs, surrogates, U+FFFE/U+FFFF or code points above U+10FFFF).
 */
function validUtf8Prefix(bytes: Buffer, start: number, end: number): number {
  let p = start;
  while (p < end) {
    const c = bytes[p] as number;
    const left = end - p;
    const cont = (k: number) => ((bytes[p + k] as number) & 0xc0) === 0x80;
    if (c < 0x80) p += 1;
    else if ((c & 0xe0) === 0xc0) {
      if (left < 2 || !cont(1) || (c & 0xfe) === 0xc0) break;
      p += 2;
    } else if ((c & 0xf0) === 0xe0) {
      const c1 = bytes[p + 1] as number;
      if (
        left < 3 ||
        !cont(1) ||
        !cont(2) ||
        (c === 0xe0 && (c1 & 0xe0) === 0x80) ||
        (c === 0xed && (c1 & 0xe0) === 0xa0) ||
        (c === 0xef && c1 === 0xbf && ((bytes[p + 2] as number) & 0xfe) === 0xbe)
      )
        break;
      p += 3;
    } else if ((c & 0xf8) === 0xf0) {
      const c1 = bytes[p + 1] as number;
      if (
        left < 4 ||
        !cont(1) ||
        !cont(2) ||
        !cont(3) ||
        (c === 0xf0 && (c1 & 0xf0) === 0x80) ||
        (c === 0xf4 && c1 > 0x8f) ||
        c > 0xf4
      )
        break;
      p += 4;
    } else break;
  }
  return p - start;
}

/**
 * The function name git prints after a hunk header: the nearest line above the hunk, from `from` down to
 * (not including) `limit`, that starts with a letter, `_` or `$`, cut to 80 bytes with trailing white
 * space removed; `undefined` when there is none (git then keeps the previous hunk's).
 */
function funcName(lines: LineIndex, from: number, limit: number): [number, number] | undefined {
  for (let l = from; l !== limit && l >= 0 && l < lines.count; l--) {
    const start = lines.starts[l] as number;
    if (!isNameStart(lines.buffer[start])) continue;
    let end = Math.min(lines.starts[l + 1] as number, start + 80);
    while (end > start && isGitSpace(lines.buffer[end - 1] as number)) end--;
    return [start, end];
  }
  return undefined;
}

/** `@@ -start,count +start,count @@ name` (starts 0-based), cut where git cuts it, with its `\n`. */
function writeHunkHeader(
  out: Output,
  s1: number,
  c1: number,
  s2: number,
  c2: number,
  func: { lines: LineIndex; range: [number, number] } | undefined,
): void {
  const range = (start: number, count: number) =>
    `${count ? start + 1 : start}${count === 1 ? '' : `,${count}`}`;
  const head = `@@ -${range(s1, c1)} +${range(s2, c2)} @@`;
  out.ascii(head);
  if (func) {
    const [start, end] = func.range;
    if (end > start) {
      // xdiff's 128-byte header buffer, then diff.c's cut at the first byte that is not valid UTF-8.
      const len = Math.min(end - start, 128 - head.length - 2);
      out.ascii(' ');
      out.bytes(func.lines.buffer, start, start + validUtf8Prefix(func.lines.buffer, start, start + len));
    }
  }
  out.ascii('\n');
}

/**
 * Emits the hunks of `changes` (between lines `a` and `b`) as git's xdl_emit_diff does: `context` lines
 * around each change, changes at most `2 × context` lines apart in one hunk, function names from the old
 * side. `lineOffset` is the line number of `a`'s and `b`'s first line (a window of a larger file).
 */
function* emitHunks(
  a: LineIndex,
  b: LineIndex,
  changes: readonly LineChange[],
  w: { context: number; lineOffset: number },
): Generator<Buffer> {
  const { context } = w;
  const out = new Output();
  let func: { lines: LineIndex; range: [number, number] } | undefined;
  let funcPrev = -1;
  for (let k = 0; k < changes.length; ) {
    let last = k;
    while (last + 1 < changes.length) {
      const next = changes[last + 1] as LineChange;
      const prev = changes[last] as LineChange;
      if (next.i1 - (prev.i1 + prev.n1) > 2 * context) break;
      last++;
    }
    const first = changes[k] as LineChange;
    const final = changes[last] as LineChange;
    const s1 = Math.max(first.i1 - context, 0);
    const s2 = Math.max(first.i2 - context, 0);
    const tail = Math.min(context, a.count - (final.i1 + final.n1), b.count - (final.i2 + final.n2));
    const e1 = final.i1 + final.n1 + tail;
    const e2 = final.i2 + final.n2 + tail;
    const found = funcName(a, s1 - 1, funcPrev);
    if (found) func = { lines: a, range: found };
    funcPrev = s1 - 1;
    writeHunkHeader(out, w.lineOffset + s1, e1 - s1, w.lineOffset + s2, e2 - s2, func);
    let pos = s1;
    for (let c = k; c <= last; c++) {
      const change = changes[c] as LineChange;
      for (; pos < change.i1; pos++) out.line(SPACE, a, pos);
      for (let l = change.i1; l < change.i1 + change.n1; l++) {
        out.line(MINUS, a, l);
        if (out.length > OUT_CHUNK) yield out.take();
      }
      for (let l = change.i2; l < change.i2 + change.n2; l++) {
        out.line(PLUS, b, l);
        if (out.length > OUT_CHUNK) yield out.take();
      }
      pos = change.i1 + change.n1;
    }
    for (; pos < e1; pos++) out.line(SPACE, a, pos);
    // One chunk per hunk (a long hunk in chunks of about 1 MiB).
    yield out.take();
    k = last + 1;
  }
  if (out.length > 0) yield out.take();
}

/** Bytes of the common prefix cut back to a line start, and the lines in it. */
async function commonPrefix(a: ByteSource, b: ByteSource): Promise<{ bytes: number; lines: number }> {
  const limit = Math.min(a.size, b.size);
  let pos = 0;
  let lines = 0;
  let lineStart = 0;
  while (pos < limit) {
    const n = Math.min(CHUNK, limit - pos);
    const [ca, cb] = await Promise.all([a.read(pos, n), b.read(pos, n)]);
    let same = n;
    if (!ca.equals(cb)) {
      same = 0;
      while (ca[same] === cb[same]) same++;
    }
    for (let nl = ca.indexOf(NL); nl !== -1 && nl < same; nl = ca.indexOf(NL, nl + 1)) {
      lines++;
      lineStart = pos + nl + 1;
    }
    pos += same;
    if (same < n) break;
  }
  return { bytes: lineStart, lines };
}

/** Bytes of the common suffix that starts at a line start on both sides, not reaching into `floor`. */
async function commonSuffix(a: ByteSource, b: ByteSource, floor: number): Promise<number> {
  const limit = Math.min(a.size, b.size) - floor;
  let suffix = 0;
  while (suffix < limit) {
    const n = Math.min(CHUNK, limit - suffix);
    const [ca, cb] = await Promise.all([a.read(a.size - suffix - n, n), b.read(b.size - suffix - n, n)]);
    let k = 0;
    while (k < n && ca[n - 1 - k] === cb[n - 1 - k]) k++;
    suffix += k;
    if (k < n) break;
  }
  const lineStart = async (s: ByteSource, at: number) => at === floor || (await s.read(at - 1, 1))[0] === NL;
  if ((await lineStart(a, a.size - suffix)) && (await lineStart(b, b.size - suffix))) return suffix;
  for (let at = a.size - suffix; at < a.size; at += CHUNK) {
    const nl = (await a.read(at, CHUNK)).indexOf(NL);
    if (nl !== -1) return a.size - (at + nl + 1);
  }
  return 0;
}

/** A line start at or before `end` (a line start) with {@link MARGIN_LINES} lines and {@link MARGIN_BYTES} before it, or 0. */
async function marginStart(source: ByteSource, end: number): Promise<number> {
  if (end === 0) return 0;
  for (let span = MARGIN_BYTES * 2; ; span *= 4) {
    const start = Math.max(0, end - span);
    const bytes = await source.read(start, end - start);
    // The byte before `end` is a `\n`: each earlier `\n` at p starts a line at p + 1.
    let lines = 1;
    for (
      let p = bytes.length >= 2 ? bytes.lastIndexOf(NL, bytes.length - 2) : -1;
      p !== -1;
      p = p > 0 ? bytes.lastIndexOf(NL, p - 1) : -1
    ) {
      if (lines >= MARGIN_LINES && bytes.length - (p + 1) >= MARGIN_BYTES) return start + p + 1;
      lines++;
    }
    if (start === 0) return 0;
  }
}

/** A line end at or after `from` (a line start) with {@link MARGIN_LINES} lines after, or the end. */
async function marginEnd(source: ByteSource, from: number): Promise<number> {
  let lines = 0;
  for (let at = from; at < source.size; at += CHUNK) {
    const bytes = await source.read(at, Math.min(CHUNK, source.size - at));
    for (let nl = bytes.indexOf(NL); nl !== -1; nl = bytes.indexOf(NL, nl + 1)) {
      if (++lines >= MARGIN_LINES && at + nl + 1 - from >= MARGIN_BYTES) return at + nl + 1;
    }
  }
  return source.size;
}

async function countLines(source: ByteSource, from: number, to: number): Promise<number> {
  let count = 0;
  let last = -1;
  for (let at = from; at < to; at += CHUNK) {
    const bytes = await source.read(at, Math.min(CHUNK, to - at));
    for (let nl = bytes.indexOf(NL); nl !== -1; nl = bytes.indexOf(NL, nl + 1)) count++;
    last = bytes[bytes.length - 1] as number;
  }
  return count + (to > from && last !== NL ? 1 : 0);
}

/** The hunks of files too large to diff whole: only the changed window (with a margin) is read. */
async function* windowedHunks(
  a: ByteSource,
  b: ByteSource,
  context: number,
  limit: number,
): AsyncGenerator<Buffer> {
  const prefix = await commonPrefix(a, b);
  const suffix = await commonSuffix(a, b, prefix.bytes);
  const windowBytes = a.size + b.size - 2 * (prefix.bytes + suffix);
  const start = await marginStart(a, prefix.bytes);
  const endA = await marginEnd(a, a.size - suffix);
  const tailBytes = a.size - endA;
  const firstLine = prefix.lines - (await countLines(a, start, prefix.bytes));
  if (windowBytes > limit) {
    yield* streamedReplacement(a, b, {
      start,
      from: prefix.bytes,
      suffix,
      endA,
      tailBytes,
      firstLine,
      context,
    });
    return;
  }
  const {
    a: la,
    b: lb,
    changes,
  } = diffLines(await a.read(start, endA - start), await b.read(start, b.size - tailBytes - start));
  yield* emitHunks(la, lb, changes, { context, lineOffset: firstLine });
}

/** One hunk replacing the whole window, streamed from both sides: for windows too big to diff in memory. */
async function* streamedReplacement(
  a: ByteSource,
  b: ByteSource,
  w: {
    start: number;
    from: number;
    suffix: number;
    endA: number;
    tailBytes: number;
    firstLine: number;
    context: number;
  },
): AsyncGenerator<Buffer> {
  const lead = indexLines(await a.read(w.start, w.from - w.start));
  const trail = indexLines(await a.read(a.size - w.suffix, w.endA - (a.size - w.suffix)));
  const linesA = await countLines(a, w.from, a.size - w.suffix);
  const linesB = await countLines(b, w.from, b.size - w.suffix);
  const s = Math.max(lead.count - w.context, 0);
  const after = Math.min(w.context, trail.count);
  const out = new Output();
  const found = funcName(lead, s - 1, -1);
  writeHunkHeader(
    out,
    w.firstLine + s,
    lead.count - s + linesA + after,
    w.firstLine + s,
    lead.count - s + linesB + after,
    found && { lines: lead, range: found },
  );
  for (let k = s; k < lead.count; k++) out.line(SPACE, lead, k);
  for (const [source, sign] of [
    [a, MINUS],
    [b, PLUS],
  ] as const) {
    const end = source.size - w.suffix;
    let carry = Buffer.alloc(0);
    for (let at = w.from; at < end; at += CHUNK) {
      const bytes = Buffer.concat([carry, await source.read(at, Math.min(CHUNK, end - at))]);
      const cut = at + CHUNK >= end ? bytes.length : bytes.lastIndexOf(NL) + 1;
      const lines = indexLines(bytes.subarray(0, cut));
      for (let k = 0; k < lines.count; k++) out.line(sign, lines, k);
      carry = Buffer.from(bytes.subarray(cut));
      if (out.length > OUT_CHUNK) yield out.take();
    }
  }
  for (let k = 0; k < after; k++) out.line(SPACE, trail, k);
  yield out.take();
}
