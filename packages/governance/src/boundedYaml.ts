import { constants } from 'node:fs';
import { open } from 'node:fs/promises';
import { lazyModule } from '@ordo/contracts';
import type * as Yaml from 'yaml';
import type { Document, LineCounter } from 'yaml';

/** yaml, loaded on the first parse: importing it costs about 30 ms, which a host that never parses should not pay. */
export const yaml = lazyModule<typeof Yaml>(import.meta.url, 'yaml');

/**
 * Keys that are never copied out of a parsed document or an options object: assigning them on a plain
 * object reaches `Object.prototype` (prototype pollution).
 */
export const FORBIDDEN_KEYS: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype']);

/** The limits {@link parseBoundedYaml} enforces before and while parsing. */
export interface YamlBounds {
  /** The longest document accepted, in UTF-8 bytes. */
  maxBytes: number;
  /** The deepest nesting accepted (block and flow collections together, counted before parsing). */
  maxDepth: number;
  /**
   * How many alias expansions `toJS` may make before giving up (the yaml library's `maxAliasCount`; an
   * alias bomb, "billion laughs", needs thousands).
   * @default 100
   */
  maxAliases?: number | undefined;
}

/** Why a text was refused: a short reason and, when known, its 1-based line. */
export interface YamlRefusal {
  ok: false;
  /** `syntax`: not YAML; `size`, `depth`, `alias`: past a bound; `key`: a refused key (see `path`). */
  kind: 'syntax' | 'size' | 'depth' | 'alias' | 'key';
  reason: string;
  line?: number | undefined;
  /** The key path of a refused key or of too deep a nesting, when the plain value was walked. */
  path?: string[] | undefined;
}

/** A document that was parsed within bounds: the yaml `Document`, its plain value and its line counter. */
export interface YamlParsed {
  ok: true;
  doc: Document;
  value: unknown;
  lineCounter: LineCounter;
}

/**
 * Parses YAML (or JSON, which is YAML) without letting hostile text hurt the process: the size and the
 * nesting depth are measured first with the yaml library's own non-recursive lexer (a document nested
 * 100,000 levels deep makes the recursive composer abort V8, which no `try` can catch), aliases are
 * bounded, and the plain value is walked for keys that would pollute `Object.prototype` and for depth
 * (an alias can make a cycle). Never throws for bad input: it answers `{ ok: false, reason, line }`, so
 * each caller raises its own error (`CONFIG_INVALID`, `PLAN_INVALID`).
 *
 * @example
 * ```ts
 * const parsed = parseBoundedYaml(text, { maxBytes: 1 << 20, maxDepth: 32 });
 * if (!parsed.ok) throw new Error(`line ${parsed.line}: ${parsed.reason}`);
 * ```
 */
export function parseBoundedYaml(text: string, bounds: YamlBounds): YamlParsed | YamlRefusal {
  // The lexer's estimate (which may count a level or two too many) stops absurd nesting cheaply; the
  // syntax tree's exact depth then enforces the bound before the recursive composer runs.
  const refused =
    measureYaml(text, { ...bounds, maxDepth: bounds.maxDepth * 2 + 8 }) ??
    measureSyntaxTree(text, bounds.maxDepth);
  if (refused) return refused;
  const lineCounter = new (yaml().LineCounter)();
  const doc = yaml().parseDocument(text, { lineCounter, uniqueKeys: true });
  const [error] = doc.errors;
  if (error) {
    return {
      ok: false,
      kind: 'syntax',
      reason: error.message.split('\n')[0] ?? 'syntax error',
      line: error.linePos?.[0].line,
    };
  }
  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: bounds.maxAliases ?? 100 });
  } catch (cause) {
    // The yaml library throws a ReferenceError for an alias bomb or an unresolved alias.
    return {
      ok: false,
      kind: 'alias',
      reason: `aliases refused: ${cause instanceof Error ? cause.message : String(cause)}`,
    };
  }
  const bad = findUnsafeKey(value, bounds.maxDepth);
  if (bad)
    return {
      ok: false,
      kind: bad.kind,
      reason: bad.reason,
      path: bad.path,
      line: lineOf(doc, lineCounter, bad.path),
    };
  return { ok: true, doc, value, lineCounter };
}

/**
 * The exact nesting of the yaml library's concrete syntax tree (built by its non-recursive parser), which
 * is what the recursive composer walks: the second guard, after the lexer's estimate, before composing.
 */
function measureSyntaxTree(text: string, maxDepth: number): YamlRefusal | undefined {
  const deep: YamlRefusal = {
    ok: false,
    kind: 'depth',
    reason: `the document nests deeper than ${maxDepth} levels; flatten it`,
  };
  try {
    // [node, depth, whether node is an item of a flow collection (a `key: value` item there is one more
    // level: the composer makes it a one-pair map)]
    const stack: Array<[node: unknown, depth: number, flowItem: boolean]> = [];
    for (const token of new (yaml().Parser)().parse(text)) stack.push([token, 0, false]);
    for (let next = stack.pop(); next !== undefined; next = stack.pop()) {
      const [node, depth, flowItem] = next;
      if (typeof node !== 'object' || node === null) continue;
      if (Array.isArray(node)) {
        for (const child of node) stack.push([child, depth, false]);
        continue;
      }
      const level = depth + ('items' in node ? 1 : 0) + (flowItem && isPairItem(node) ? 1 : 0);
      if (level > maxDepth) return deep;
      const flow = (node as { type?: unknown }).type === 'flow-collection';
      for (const [key, child] of Object.entries(node)) {
        if (typeof child !== 'object' || child === null) continue;
        if (flow && key === 'items' && Array.isArray(child))
          for (const item of child) stack.push([item, level, true]);
        else stack.push([child, level, false]);
      }
    }
  } catch {
    return deep; // the parser ran out of stack: deeper than anything legitimate
  }
  return undefined;
}

/** Whether a flow collection's item is (or may be) a `key: value` pair rather than a lone value. */
function isPairItem(item: object): boolean {
  if ('sep' in item || 'key' in item) return true;
  const start = (item as { start?: unknown }).start;
  return Array.isArray(start) && start.some((t) => (t as { type?: unknown })?.type === 'explicit-key-ind');
}

/** The line of the deepest node of `path` present in the document. */
function lineOf(doc: Document, lineCounter: LineCounter, path: readonly string[]): number | undefined {
  for (let depth = path.length; depth >= 0; depth--) {
    const node = doc.getIn(path.slice(0, depth), true);
    if (yaml().isNode(node) && node.range) return lineCounter.linePos(node.range[0]).line;
  }
  return undefined;
}

/**
 * Measures a YAML text's size and nesting depth without parsing it, using the yaml library's lexer (a
 * flat state machine): an upper bound of the depth the parser would reach. `undefined` when within bounds.
 */
export function measureYaml(text: string, bounds: YamlBounds): YamlRefusal | undefined {
  if (text.length > bounds.maxBytes || Buffer.byteLength(text, 'utf8') > bounds.maxBytes) {
    return {
      ok: false,
      kind: 'size',
      reason: `the document is larger than ${bounds.maxBytes} bytes; split it or remove what is not needed`,
    };
  }
  const indents: number[] = [];
  let flow = 0;
  // Levels opened by indicators inside each open flow collection, and their sum.
  const flowExtras: number[] = [];
  let extras = 0;
  let column = 0;
  let line = 1;
  let atLineStart = true;
  let scalarNext = false;
  for (const token of new (yaml().Lexer)().lex(text)) {
    if (scalarNext) {
      scalarNext = false;
      moveOver(token);
      continue;
    }
    switch (token) {
      case '\x02': // a document starts
        indents.length = 0;
        flow = 0;
        flowExtras.length = 0;
        extras = 0;
        continue;
      case '\x1f': // the next token is a plain or block scalar's text
        lineStart(column);
        scalarNext = true;
        continue;
      case '\ufeff':
        continue;
      case '\n':
      case '\r\n':
        line++;
        column = 0;
        atLineStart = true;
        continue;
      default:
    }
    if (/^[ \t]+$/.test(token) || token.startsWith('#') || token === '') {
      column += token.length;
      continue;
    }
    lineStart(column);
    if (token === '[' || token === '{') {
      flow++;
      flowExtras.push(0);
    } else if ((token === ']' || token === '}') && flow > 0) {
      flow--;
      extras -= flowExtras.pop() as number;
    } else if (token === ',' && flow > 0) {
      extras -= flowExtras.at(-1) as number;
      flowExtras[flowExtras.length - 1] = 0;
    } else if (token === '-' || token === '?' || token === ':') {
      // An indicator can open a level: a block one at its column, or (in flow, an error the parser still
      // nests) one more until the next `,` or bracket.
      if (flow === 0) indents.push(column + 1);
      else {
        flowExtras[flowExtras.length - 1] = (flowExtras.at(-1) as number) + 1;
        extras++;
      }
    }
    if (indents.length + flow + extras > bounds.maxDepth) {
      return {
        ok: false,
        kind: 'depth',
        reason: `the document nests deeper than ${bounds.maxDepth} levels; flatten it`,
        line,
      };
    }
    moveOver(token);
  }
  return undefined;

  function lineStart(indent: number): void {
    if (!atLineStart) return;
    atLineStart = false;
    if (flow > 0) return;
    while (indents.length > 0 && (indents.at(-1) as number) >= indent) indents.pop();
    indents.push(indent);
  }

  function moveOver(token: string): void {
    const last = token.lastIndexOf('\n');
    if (last === -1) {
      column += token.length;
      return;
    }
    for (let i = token.indexOf('\n'); i !== -1; i = token.indexOf('\n', i + 1)) line++;
    column = token.length - last - 1;
    atLineStart = column === 0;
  }
}

/** Where an unsafe key or too deep a nesting was found in a plain value. */
export interface UnsafeKey {
  /** The key path, e.g. `['workers', '__proto__']`. */
  path: string[];
  /** `key`: a refused key; `depth`: nested too deep. */
  kind: 'key' | 'depth';
  /** What is wrong, in words. */
  reason: string;
}

/**
 * Walks a plain value (objects and arrays, own enumerable keys only) and returns the first key that must
 * never be merged (`__proto__`, `constructor`, `prototype`), or the first place nested deeper than
 * `maxDepth` (which also stops a cycle). `undefined` when the value is safe to copy.
 */
export function findUnsafeKey(value: unknown, maxDepth: number): UnsafeKey | undefined {
  try {
    return walk(value, maxDepth);
  } catch (cause) {
    // A getter or a Proxy trap threw: such a value cannot be copied safely either.
    const reason = cause instanceof Error ? cause.message : String(cause);
    return { path: [], kind: 'key', reason: `the value cannot be read as plain data (${reason})` };
  }
}

function walk(value: unknown, maxDepth: number): UnsafeKey | undefined {
  const stack: Array<{ node: unknown; path: string[] }> = [{ node: value, path: [] }];
  for (let next = stack.pop(); next !== undefined; next = stack.pop()) {
    const { node, path } = next;
    if (typeof node !== 'object' || node === null) continue;
    if (path.length >= maxDepth) {
      return {
        path,
        kind: 'depth',
        reason: `nested deeper than ${maxDepth} levels (or a cycle); flatten it`,
      };
    }
    const keys = Array.isArray(node) ? node.map((_, i) => String(i)) : Object.keys(node);
    // Pushed last to first, so the walk (a stack) reports the first bad key in document order.
    for (const key of keys.reverse()) {
      if (FORBIDDEN_KEYS.has(key)) {
        return {
          path: [...path, key],
          kind: 'key',
          reason: `the key "${key}" is refused anywhere: merging it could change every object in the process`,
        };
      }
      stack.push({ node: (node as Record<string, unknown>)[key], path: [...path, key] });
    }
  }
  return undefined;
}

/** The answer of {@link readBoundedText}: the text, or why it could not be read. */
export type BoundedRead =
  | { ok: true; text: string }
  | {
      ok: false;
      /** `'ENOTREG'` for a FIFO, directory, socket or device; `'EFBIG'` past `maxBytes`; else the system's code (`ENOENT`, …). */
      code: string;
      /** What went wrong, naming the file. */
      message: string;
      cause?: unknown;
    };

/**
 * Reads a UTF-8 text file of at most `maxBytes` bytes without ever blocking on it: it is opened with
 * `O_NONBLOCK` (a FIFO with no writer cannot hang the call, nor starve libuv's thread pool), must be a
 * regular file (`fstat` after the open, so a swap between a check and the open cannot fool it), and is
 * read no further than `maxBytes + 1` bytes. Never throws for a bad file (only `signal.reason`).
 */
export async function readBoundedText(
  file: string,
  maxBytes: number,
  signal?: AbortSignal | undefined,
): Promise<BoundedRead> {
  signal?.throwIfAborted();
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    handle = await open(file, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (cause) {
    return { ok: false, code: (cause as NodeJS.ErrnoException).code ?? 'EIO', message: String(cause), cause };
  }
  try {
    const stat = await handle.stat();
    if (!stat.isFile()) {
      return { ok: false, code: 'ENOTREG', message: `${file} is ${describeKind(stat)}, not a regular file` };
    }
    const tooLarge = {
      ok: false,
      code: 'EFBIG',
      message: `${file} is larger than the ${maxBytes} bytes allowed`,
    } as const;
    if (stat.size > maxBytes) return tooLarge;
    const chunks: Buffer[] = [];
    let length = 0;
    for (;;) {
      signal?.throwIfAborted();
      const chunk = Buffer.allocUnsafe(
        Math.min(maxBytes + 1 - length, Math.max(stat.size - length + 1, 65_536)),
      );
      const { bytesRead } = await handle.read(chunk, 0, chunk.length, length);
      if (bytesRead === 0) break;
      chunks.push(chunk.subarray(0, bytesRead));
      length += bytesRead;
      if (length > maxBytes) return tooLarge;
    }
    return { ok: true, text: Buffer.concat(chunks, length).toString('utf8') };
  } catch (cause) {
    if (signal?.aborted) throw signal.reason;
    return { ok: false, code: (cause as NodeJS.ErrnoException).code ?? 'EIO', message: String(cause), cause };
  } finally {
    await handle.close();
  }
}

function describeKind(stat: import('node:fs').Stats): string {
  if (stat.isDirectory()) return 'a directory';
  if (stat.isFIFO()) return 'a FIFO (named pipe)';
  if (stat.isSocket()) return 'a socket';
  if (stat.isCharacterDevice() || stat.isBlockDevice()) return 'a device';
  return 'not a regular file';
}
