import { ABSENT_ID, type ByteSource, blobId, openSource } from './internal/content.js';
import { BufferLines, type LineChange, lineChanges } from './internal/lineDiff.js';

/** Options of {@link unifiedDiff} and of the spool's diffs. */
export interface UnifiedDiffOptions {
  /**
   * Lines of context around each change, as `git diff -U<n>`.
   * @default 3
   */
  context?: number | undefined;
  /**
   * Most inserted plus deleted lines jsdiff may consider in one region of changes. Past it the region is shown
   * as one replacement hunk (all old lines removed, all new lines added), so a huge rewrite costs milliseconds,
   * not seconds.
   * @default 2000
   */
  maxEditLength?: number | undefined;
  /**
   * jsdiff's own time limit for one region, in milliseconds; past it the region becomes a replacement hunk.
   * @default undefined (no limit besides maxEditLength)
   */
  timeoutMs?: number | undefined;
  /**
   * Largest changed window (both sides together, in bytes) read into memory. A larger one (a huge rewrite)
   * is streamed out as one replacement hunk without being diffed or held.
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
const LOOKBEHIND = 64 * 1024;
const BINARY_PROBE = 8000;
const NL = 10;

/**
 * A git-compatible unified diff of one file between `before` and `after` (`null` = the file is absent),
 * the same text `git diff --no-index` prints: `diff --git` and `index` lines with blob ids, `/dev/null` for adds
 * and deletes, `Binary files … differ` when either side has a NUL byte in its first 8,000 bytes, and
 * `\ No newline at end of file`. Returns `''` when both sides are equal.
 *
 * When to use: for content in memory. A spool's `diff()` streams large files instead.
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
  const side = async (content: string | Uint8Array | null): Promise<DiffSide> => {
    if (content === null) return { source: null, id: ABSENT_ID, mode: options.mode ?? 0o644 };
    const buffer = typeof content === 'string' ? Buffer.from(content, 'utf8') : Buffer.from(content);
    return {
      source: await openSource({ size: buffer.length, buffer }),
      id: blobId(buffer),
      mode: options.mode ?? 0o644,
    };
  };
  let out = '';
  for await (const chunk of unifiedDiffChunks(path, await side(before), await side(after), options))
    out += chunk;
  return out;
}

/**
 * Yields the unified diff of one file in chunks (the headers, then one chunk per hunk). Large files are
 * never held whole: the common prefix and suffix are found by streaming both sides, and only the lines
 * between them (the changed window) are read into memory and diffed.
 */
export async function* unifiedDiffChunks(
  path: string,
  a: DiffSide,
  b: DiffSide,
  options: UnifiedDiffOptions = {},
): AsyncGenerator<string> {
  if (a.id === b.id && (a.source === null) === (b.source === null)) return;
  const context = options.context ?? 3;
  const nameA = quotePath(`a/${path}`);
  const nameB = quotePath(`b/${path}`);
  let header = `diff --git ${nameA} ${nameB}\n`;
  if (!a.source)
    header += `new file mode ${gitMode(b.mode)}\nindex ${ABSENT_ID.slice(0, 7)}..${b.id.slice(0, 7)}\n`;
  else if (!b.source)
    header += `deleted file mode ${gitMode(a.mode)}\nindex ${a.id.slice(0, 7)}..${ABSENT_ID.slice(0, 7)}\n`;
  else if (gitMode(a.mode) !== gitMode(b.mode)) {
    header += `old mode ${gitMode(a.mode)}\nnew mode ${gitMode(b.mode)}\nindex ${a.id.slice(0, 7)}..${b.id.slice(0, 7)}\n`;
  } else header += `index ${a.id.slice(0, 7)}..${b.id.slice(0, 7)} ${gitMode(a.mode)}\n`;
  const labelA = a.source ? nameA : '/dev/null';
  const labelB = b.source ? nameB : '/dev/null';
  const srcA = a.source ?? EMPTY;
  const srcB = b.source ?? EMPTY;
  if ((await isBinary(srcA)) || (await isBinary(srcB))) {
    yield `${header}Binary files ${labelA} and ${labelB} differ\n`;
    return;
  }
  if (srcA.size === 0 && srcB.size === 0) {
    yield header;
    return;
  }
  const tab = path.includes(' ') ? '\t' : '';
  yield `${header}--- ${labelA}${a.source ? tab : ''}\n+++ ${labelB}${b.source ? tab : ''}\n`;
  yield* hunks(srcA, srcB, context, options);
}

const EMPTY: ByteSource = { size: 0, read: async () => Buffer.alloc(0), close: async () => {} };

/** Git's mode string: 100755 when the owner may execute, else 100644. */
function gitMode(mode: number): string {
  return mode & 0o100 ? '100755' : '100644';
}

async function isBinary(source: ByteSource): Promise<boolean> {
  if (source.size === 0) return false;
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

/** Splits latin1 text into lines, each with its `\n` when it has one. */
function splitLines(text: string): string[] {
  const lines: string[] = [];
  let start = 0;
  while (start < text.length) {
    const end = text.indexOf('\n', start);
    if (end === -1) {
      lines.push(text.slice(start));
      break;
    }
    lines.push(text.slice(start, end + 1));
    start = end + 1;
  }
  return lines;
}

const latin1 = async (source: ByteSource, from: number, to: number): Promise<string> =>
  to > from ? (await source.read(from, to - from)).toString('latin1') : '';

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

/** Bytes of the common suffix that starts at a line start on both sides, at most `limit`. */
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

/** Up to `count` lines starting at byte `from`. */
async function linesAfter(source: ByteSource, from: number, count: number): Promise<string[]> {
  const lines: string[] = [];
  let partial = '';
  for (let at = from; at < source.size && lines.length < count; at += CHUNK) {
    const text = partial + (await latin1(source, at, Math.min(source.size, at + CHUNK)));
    const split = splitLines(text);
    partial = split.at(-1)?.endsWith('\n') ? '' : (split.pop() ?? '');
    lines.push(...split);
  }
  if (partial && lines.length < count) lines.push(partial);
  return lines.slice(0, count);
}

/** The last lines before byte `end` (a line start): at least `min` of them when there are, within reason. */
async function linesBefore(source: ByteSource, end: number, min: number): Promise<string[]> {
  for (let span = LOOKBEHIND; ; span *= 4) {
    const start = Math.max(0, end - span);
    const lines = splitLines(await latin1(source, start, end));
    if (start > 0) lines.shift();
    if (lines.length >= min || start === 0) return lines;
  }
}

function emit(prefix: string, line: string): string {
  return line.endsWith('\n') ? `${prefix}${line}` : `${prefix}${line}\n\\ No newline at end of file\n`;
}

async function* hunks(
  a: ByteSource,
  b: ByteSource,
  context: number,
  options: UnifiedDiffOptions,
): AsyncGenerator<string> {
  const prefix = await commonPrefix(a, b);
  const suffix = await commonSuffix(a, b, prefix.bytes);
  const before = await linesBefore(a, prefix.bytes, Math.min(context, prefix.lines));
  const after = await linesAfter(a, a.size - suffix, context);
  const firstLine = prefix.lines - before.length;
  const windowBytes = a.size + b.size - 2 * (prefix.bytes + suffix);
  if (windowBytes > (options.maxWindowBytes ?? 32 * 1024 * 1024)) {
    yield* streamedReplacement(a, b, { from: prefix.bytes, suffix, firstLine, before, after, context });
    return;
  }
  const windowA = new BufferLines(await a.read(prefix.bytes, a.size - suffix - prefix.bytes));
  const windowB = new BufferLines(await b.read(prefix.bytes, b.size - suffix - prefix.bytes));
  const changes: LineChange[] = (
    lineChanges(windowA, windowB, {
      maxEditLength: options.maxEditLength ?? 2000,
      timeoutMs: options.timeoutMs,
    }) ?? [{ i1: 0, n1: windowA.length, i2: 0, n2: windowB.length }]
  ).map((c) => ({ ...c, i1: c.i1 + before.length, i2: c.i2 + before.length }));
  // Lines are addressed as [lookbehind | window | first lines of the suffix].
  const end = before.length + windowA.length;
  const countA = end + after.length;
  const countB = before.length + windowB.length + after.length;
  const lineA = (k: number): string =>
    k < before.length
      ? (before[k] as string)
      : k < end
        ? windowA.line(k - before.length)
        : (after[k - end] as string);
  const lineB = (k: number): string =>
    k < before.length
      ? (before[k] as string)
      : k < before.length + windowB.length
        ? windowB.line(k - before.length)
        : (after[k - before.length - windowB.length] as string);
  const startsName = (k: number) =>
    isNameStart(
      k < before.length || k >= end ? lineA(k).charCodeAt(0) : windowA.firstByte(k - before.length),
    );

  let funcLine = '';
  let funcLimit = -1;
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
    const s2 = s1 + (first.i2 - first.i1);
    const tail = Math.min(context, countA - (final.i1 + final.n1), countB - (final.i2 + final.n2));
    const e1 = final.i1 + final.n1 + tail;
    const e2 = final.i2 + final.n2 + tail;
    funcLine = funcName(startsName, lineA, s1 - 1, funcLimit) ?? funcLine;
    funcLimit = s1 - 1;
    const c1 = e1 - s1;
    const c2 = e2 - s2;
    let text = hunkHeader(firstLine + s1, c1, firstLine + s2, c2, funcLine);
    let pos = s1;
    for (let c = k; c <= last; c++) {
      const change = changes[c] as LineChange;
      for (; pos < change.i1; pos++) text += emit(' ', lineA(pos));
      for (let l = change.i1; l < change.i1 + change.n1; l++) {
        text += emit('-', lineA(l));
        if (text.length > OUT_CHUNK) {
          yield flush(text);
          text = '';
        }
      }
      for (let l = change.i2; l < change.i2 + change.n2; l++) {
        text += emit('+', lineB(l));
        if (text.length > OUT_CHUNK) {
          yield flush(text);
          text = '';
        }
      }
      pos = change.i1 + change.n1;
    }
    for (; pos < e1; pos++) text += emit(' ', lineA(pos));
    yield flush(text);
    k = last + 1;
  }
}

const OUT_CHUNK = 1024 * 1024;

/** Latin1 diff text (whole lines) as the UTF-8 string it encodes. */
const flush = (text: string): string => Buffer.from(text, 'latin1').toString('utf8');

const isNameStart = (c: number | undefined) =>
  c !== undefined && ((c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95 || c === 36);

/**
 * Git's default function-name rule: the nearest line above the hunk (from `from` down to, not including,
 * `limit`, the previous hunk's start) that starts with a letter, `_` or `$`, cut to 80 bytes and trimmed.
 */
function funcName(
  startsName: (k: number) => boolean,
  line: (k: number) => string,
  from: number,
  limit: number,
): string | undefined {
  for (let l = from; l !== limit && l >= 0; l--) {
    if (startsName(l))
      return line(l)
        .slice(0, 80)
        .replace(/[ \t\n\v\f\r]+$/, '');
  }
  return undefined;
}

/** `@@ -start,count +start,count @@ name` with 0-based starts, as git prints it. */
function hunkHeader(s1: number, c1: number, s2: number, c2: number, name: string): string {
  const range = (start: number, count: number) =>
    `${count ? start + 1 : start}${count === 1 ? '' : `,${count}`}`;
  return `@@ -${range(s1, c1)} +${range(s2, c2)} @@${name ? ` ${name}` : ''}\n`;
}

/** Lines (latin1, with their `\n`) of bytes `from` to `to`, a chunk at a time. */
async function* streamLines(source: ByteSource, from: number, to: number): AsyncGenerator<string[]> {
  let partial = '';
  for (let at = from; at < to; at += CHUNK) {
    const lines = splitLines(partial + (await latin1(source, at, Math.min(to, at + CHUNK))));
    partial = lines.at(-1)?.endsWith('\n') ? '' : (lines.pop() ?? '');
    yield lines;
  }
  if (partial) yield [partial];
}

async function countLines(source: ByteSource, from: number, to: number): Promise<number> {
  let count = 0;
  for await (const lines of streamLines(source, from, to)) count += lines.length;
  return count;
}

/** One hunk replacing the whole window, streamed from both sides: for windows too big to diff in memory. */
async function* streamedReplacement(
  a: ByteSource,
  b: ByteSource,
  w: { from: number; suffix: number; firstLine: number; before: string[]; after: string[]; context: number },
): AsyncGenerator<string> {
  const { before, after } = w;
  const linesA = await countLines(a, w.from, a.size - w.suffix);
  const linesB = await countLines(b, w.from, b.size - w.suffix);
  const s1 = Math.max(before.length - w.context, 0);
  const name = funcName(
    (k) => isNameStart(before[k]?.charCodeAt(0)),
    (k) => before[k] as string,
    s1 - 1,
    -1,
  );
  const lead = before.length - s1;
  let text = hunkHeader(
    w.firstLine + s1,
    lead + linesA + after.length,
    w.firstLine + s1,
    lead + linesB + after.length,
    name ?? '',
  );
  for (const line of before.slice(s1)) text += emit(' ', line);
  for (const [source, sign] of [
    [a, '-'],
    [b, '+'],
  ] as const) {
    for await (const lines of streamLines(source, w.from, source.size - w.suffix)) {
      for (const line of lines) text += emit(sign, line);
      if (text.length > OUT_CHUNK) {
        yield flush(text);
        text = '';
      }
    }
  }
  for (const line of after) text += emit(' ', line);
  yield flush(text);
}
