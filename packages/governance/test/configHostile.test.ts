import { execFile, execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { isOrdoError } from '@ordo/contracts';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { isCollection, isPair, parseDocument, stringify } from 'yaml';
import { z } from 'zod';
import { findUnsafeKey, measureYaml, parseBoundedYaml, readBoundedText } from '../src/boundedYaml.js';
import { configSchema, MAX_DURATION_MS } from '../src/config.js';
import { ConfigInvalidError, loadConfig } from '../src/index.js';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'ordo-config-hostile-'));
  dirs.push(dir);
  return dir;
}

function configFile(text: string): string {
  const file = join(tempDir(), 'ordo.yaml');
  writeFileSync(file, text);
  return file;
}

async function invalid(promise: Promise<unknown>): Promise<ConfigInvalidError> {
  const error = await promise.catch((e: unknown) => e);
  expect(error).toBeInstanceOf(ConfigInvalidError);
  expect(isOrdoError(error, 'CONFIG_INVALID')).toBe(true);
  return error as ConfigInvalidError;
}

const prototypeNames = Object.getOwnPropertyNames(Object.prototype).sort();
const originalToString = Object.prototype.toString;

/** Object.prototype exactly as it was: no new key, toString untouched, a fresh object clean. */
function expectPrototypeUntouched(): void {
  expect(Object.getOwnPropertyNames(Object.prototype).sort()).toEqual(prototypeNames);
  expect(Object.prototype.toString).toBe(originalToString);
  const fresh: Record<string, unknown> = {};
  expect(fresh.polluted).toBeUndefined();
  expect(String(fresh)).toBe('[object Object]');
}

describe('prototype pollution is refused (CONFIG_INVALID naming the path)', () => {
  const files: Array<[name: string, text: string, path: string]> = [
    ['top-level __proto__', '__proto__:\n  toString: pwned\n', '__proto__'],
    ['top-level __proto__, polluted key', '__proto__:\n  polluted: 1\n', '__proto__'],
    ['nested __proto__', 'workers:\n  __proto__:\n    polluted: 1\n', 'workers.__proto__'],
    ['double-quoted "__proto__"', '"__proto__":\n  polluted: 1\n', '__proto__'],
    ['single-quoted', "'__proto__': { polluted: 1 }\n", '__proto__'],
    ['escaped in a double-quoted key', '"\\x5f_proto__": { polluted: 1 }\n', '__proto__'],
    ['flow mapping', '{ workers: { __proto__: { polluted: 1 } } }\n', 'workers.__proto__'],
    ['JSON text', '{"memory": {"__proto__": {"polluted": 1}}}', 'memory.__proto__'],
    ['explicit key', '? __proto__\n: polluted: 1\n', '__proto__'],
    ['constructor.prototype', 'constructor:\n  prototype:\n    polluted: 1\n', 'constructor'],
    [
      'nested constructor',
      'workers:\n  constructor:\n    prototype: { polluted: 1 }\n',
      'workers.constructor',
    ],
    ['prototype key', 'breaker:\n  backoff:\n    prototype: 1\n', 'breaker.backoff.prototype'],
    ['through an alias', 'x: &p { polluted: 1 }\nworkers: { __proto__: *p }\n', 'workers.__proto__'],
    ['<< merge key (YAML 1.2)', 'workers:\n  <<: { __proto__: { polluted: 1 } }\n', 'workers.<<.__proto__'],
    [
      '<< merge key (YAML 1.1 merges)',
      '%YAML 1.1\n---\nbase: &b\n  __proto__: { polluted: 1 }\nworkers:\n  <<: *b\n',
      'base.__proto__',
    ],
    ['inside a sequence', 'workers: [ { __proto__: { polluted: 1 } } ]\n', 'workers.0.__proto__'],
  ];
  it.each(files)('%s', async (_name, text, path) => {
    const error = await invalid(loadConfig({ file: configFile(text), env: {} }));
    expect(error.issues.map((i) => i.path)).toContain(path);
    expect(error.message).toContain('refused');
    expectPrototypeUntouched();
  });

  it('names the line of a refused key in the file', async () => {
    const file = configFile('workers:\n  max: 2\n  __proto__:\n    polluted: 1\n');
    const error = await invalid(loadConfig({ file, env: {} }));
    expect(error.issues[0]?.source).toMatch(new RegExp(`^${file}:\\d+$`));
    expectPrototypeUntouched();
  });

  const values: Array<[name: string, value: unknown, path: string]> = [
    ['JSON.parse top-level', JSON.parse('{"__proto__":{"polluted":1,"toString":"pwned"}}'), '__proto__'],
    ['JSON.parse nested', { workers: JSON.parse('{"__proto__":{"polluted":1}}') }, 'workers.__proto__'],
    ['constructor.prototype', { constructor: { prototype: { polluted: 1 } } }, 'constructor'],
    ['nested constructor', { memory: { constructor: { prototype: { polluted: 1 } } } }, 'memory.constructor'],
    ['prototype leaf', { queue: { prototype: 1 } }, 'queue.prototype'],
  ];
  it.each(values)('values: %s', async (_name, value, path) => {
    const error = await invalid(loadConfig({ values: value, env: {} }));
    expect(error.issues.map((i) => i.path)).toContain(path);
    expect(error.issues[0]?.source).toBe('values');
    expectPrototypeUntouched();
  });

  it('values: a cycle or a very deep object is refused, not a stack overflow', async () => {
    const cycle: Record<string, unknown> = { workers: {} };
    (cycle.workers as Record<string, unknown>).self = cycle;
    await invalid(loadConfig({ values: cycle, env: {} }));
    let deep: Record<string, unknown> = {};
    for (let i = 0; i < 100_000; i++) deep = { a: deep };
    const error = await invalid(loadConfig({ values: deep, env: {} }));
    expect(error.message).toContain('nested deeper than');
  });

  it('values: a throwing getter or Proxy is CONFIG_INVALID, not a raw error', async () => {
    const getter = Object.defineProperty({}, 'workers', {
      enumerable: true,
      get() {
        throw new Error('boom');
      },
    });
    const proxy = new Proxy(
      {},
      {
        ownKeys() {
          throw new Error('trap');
        },
      },
    );
    for (const values of [getter, proxy]) {
      const error = await invalid(loadConfig({ values, env: {} }));
      expect(error.message).toContain('cannot be read as plain data');
    }
  });

  it('a document with thousands of bad keys gives a bounded message that still counts them all', async () => {
    const keys = Array.from({ length: 2_000 }, (_, i) => `${'k'.repeat(300)}${i}: 1`).join('\n');
    const error = await invalid(loadConfig({ file: configFile(keys), env: {} }));
    expect(error.issues).toHaveLength(2_000);
    expect(error.message.length).toBeLessThan(50_000);
    expect(error.message).toContain('and 1950 more');
  });

  const variables: Array<[name: string, path: string]> = [
    ['ORDO_CONSTRUCTOR__PROTOTYPE__POLLUTED', 'constructor'],
    ['ORDO_WORKERS__CONSTRUCTOR__PROTOTYPE', 'workers.constructor'],
    ['ORDO_PROTOTYPE__POLLUTED', 'prototype'],
    ['ORDO_MEMORY__THRESHOLDS__CONSTRUCTOR', 'memory.thresholds.constructor'],
    ['ORDO_WORKERS__PROTOTYPE', 'workers.prototype'],
  ];
  it.each(variables)('env %s', async (name, path) => {
    const error = await invalid(loadConfig({ env: { [name]: '1' } }));
    expect(error.issues).toContainEqual(expect.objectContaining({ path, source: `env ${name}` }));
    expectPrototypeUntouched();
  });

  it('inherited names are unknown keys, not merge targets (hasOwnProperty, toString, valueOf)', async () => {
    const error = await invalid(
      loadConfig({ file: configFile('hasOwnProperty: 1\nworkers:\n  toString: 2\n  valueOf: 3\n'), env: {} }),
    );
    expect(error.issues.map((i) => i.path).sort()).toEqual([
      'hasOwnProperty',
      'workers.toString',
      'workers.valueOf',
    ]);
    expectPrototypeUntouched();
  });

  it('property: any mix of known and hostile keys leaves Object.prototype untouched', async () => {
    const key = fc.constantFrom(
      '__proto__',
      'constructor',
      'prototype',
      'workers',
      'max',
      'memory',
      'thresholds',
      'toString',
      'polluted',
      '<<',
    );
    const leaf = fc.oneof(fc.integer(), fc.constant('pwned'), fc.constant(null));
    const tree = fc.letrec((tie) => ({
      node: fc.oneof(
        { depthSize: 'small' },
        leaf,
        fc.array(fc.tuple(key, tie('node')), { maxLength: 4 }).map((pairs) => {
          const out: Record<string, unknown> = {};
          for (const [k, v] of pairs)
            Object.defineProperty(out, k, { value: v, enumerable: true, configurable: true, writable: true });
          return out;
        }),
      ),
    })).node;
    await fc.assert(
      fc.asyncProperty(tree, async (value) => {
        const text = JSON.stringify(value) ?? 'null';
        await loadConfig({ file: configFile(text), env: {} }).catch((e: unknown) => {
          if (!isOrdoError(e, 'CONFIG_INVALID')) throw e;
        });
        await loadConfig({ values: JSON.parse(text), env: {} }).catch((e: unknown) => {
          if (!isOrdoError(e, 'CONFIG_INVALID')) throw e;
        });
        expectPrototypeUntouched();
      }),
      { numRuns: 150 },
    );
  });
});

describe('hostile YAML cannot abort the host', () => {
  it('deep nesting after a tab-indented file gives CONFIG_INVALID in the same process, no SIGABRT', async () => {
    const child = fileURLToPath(new URL('./configHostileChild.ts', import.meta.url));
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ['--conditions=@ordo/source', '--import', 'tsx', child],
      { maxBuffer: 1 << 20, timeout: 60_000 },
    );
    expect(JSON.parse(stdout)).toEqual({
      tabs: 'CONFIG_INVALID',
      brackets: 'CONFIG_INVALID',
      braces: 'CONFIG_INVALID',
      dashes: 'CONFIG_INVALID',
      questions: 'CONFIG_INVALID',
      indents: 'CONFIG_INVALID',
      mixed: 'CONFIG_INVALID',
      laughs: 'CONFIG_INVALID',
    });
  }, 90_000);

  it('an alias bomb is CONFIG_INVALID about aliases, not a raw ReferenceError', async () => {
    const lines = ['a: &a [x, x, x, x, x, x, x, x, x, x]'];
    for (let i = 1; i < 9; i++) {
      const [name, previous] = [String.fromCharCode(97 + i), String.fromCharCode(96 + i)];
      lines.push(`${name}: &${name} [${Array(10).fill(`*${previous}`).join(', ')}]`);
    }
    const error = await invalid(loadConfig({ file: configFile(lines.join('\n')), env: {} }));
    expect(error.message).toMatch(/alias/i);
  });

  it('a self-referencing alias (a cycle) is refused', async () => {
    const error = await invalid(loadConfig({ file: configFile('workers: &w\n  max: [*w]\n'), env: {} }));
    expect(error.issues).toHaveLength(1);
  });

  it('a file larger than 1 MiB is CONFIG_INVALID before it is parsed', async () => {
    const file = configFile(`# ${'x'.repeat(1_100_000)}\nworkers: { max: 2 }\n`);
    const error = await invalid(loadConfig({ file, env: {} }));
    expect(error.message).toContain('1048576 bytes');
  });

  it('loadConfig on a FIFO answers CONFIG_UNREADABLE at once instead of hanging', async () => {
    const fifo = join(tempDir(), 'ordo.yaml');
    execFileSync('mkfifo', [fifo]);
    const error = await loadConfig({ file: fifo, env: {} }).catch((e: unknown) => e);
    expect(isOrdoError(error, 'CONFIG_UNREADABLE')).toBe(true);
    expect((error as Error).message).toContain('FIFO');
  });

  it('loadConfig on a directory answers CONFIG_UNREADABLE, not a raw EISDIR', async () => {
    const dir = join(tempDir(), 'ordo.yaml');
    mkdirSync(dir);
    const error = await loadConfig({ file: dir, env: {} }).catch((e: unknown) => e);
    expect(isOrdoError(error, 'CONFIG_UNREADABLE')).toBe(true);
    expect((error as Error).message).toContain('a directory, not a regular file');
  });

  it('readBoundedText stops at maxBytes even when the size said less', async () => {
    const file = configFile('x'.repeat(100));
    expect(await readBoundedText(file, 99)).toMatchObject({ ok: false, code: 'EFBIG' });
    expect(await readBoundedText(file, 100)).toEqual({ ok: true, text: 'x'.repeat(100) });
  });
});

/** The nesting depth of a composed yaml node (a scalar is 0). */
function nodeDepth(node: unknown): number {
  if (isPair(node)) return Math.max(nodeDepth(node.key), nodeDepth(node.value));
  if (isCollection(node)) return 1 + Math.max(0, ...node.items.map(nodeDepth));
  return 0;
}

/** The real nesting depth of a plain value (a scalar is 0). */
function depthOf(value: unknown): number {
  if (typeof value !== 'object' || value === null) return 0;
  const children = Object.values(value);
  return 1 + (children.length === 0 ? 0 : Math.max(...children.map(depthOf)));
}

describe('measureYaml (the pre-parse depth bound)', () => {
  it('never under-counts: a value nested d deep is refused with maxDepth d-1 in block, flow and JSON form', () => {
    const json = fc.letrec((tie) => ({
      node: fc.oneof(
        { depthSize: 'medium', maxDepth: 12 },
        fc.oneof(fc.integer(), fc.string({ maxLength: 6 }), fc.boolean()),
        fc.array(tie('node'), { minLength: 1, maxLength: 3 }),
        fc.dictionary(fc.stringMatching(/^[a-z]{1,5}$/), tie('node'), { minKeys: 1, maxKeys: 3 }),
      ),
    })).node;
    fc.assert(
      fc.property(json, (value) => {
        const depth = depthOf(value);
        fc.pre(depth >= 1);
        for (const text of [
          stringify(value),
          JSON.stringify(value),
          stringify(value, { collectionStyle: 'flow' }),
        ]) {
          expect(measureYaml(text, { maxBytes: 1 << 20, maxDepth: depth - 1 })).toMatchObject({
            kind: 'depth',
          });
        }
      }),
      { numRuns: 300 },
    );
  }, 90_000);

  it('parseBoundedYaml never composes a document deeper than maxDepth, even broken ones (fuzz)', () => {
    const piece = fc.constantFrom(
      ...['[', ']', '{', '}', '- ', '-', ' ', '  ', '\n', ': ', ':', 'a', '? ', ',', '"', "'", '#'],
      ...['|', '>', '\t', '&a ', '*a', '!t ', '---\n', '...\n', 'b: ', '\n  ', '\n    ', '\n- '],
    );
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 120 }), (parts) => {
        const text = parts.join('');
        const depth = nodeDepth(parseDocument(text).contents);
        fc.pre(depth >= 1);
        const parsed = parseBoundedYaml(text, { maxBytes: 1 << 20, maxDepth: depth - 1 });
        expect(parsed.ok ? 'composed' : parsed.kind, JSON.stringify(text)).toBe('depth');
      }),
      { numRuns: 3_000 },
    );
  }, 60_000);

  it('does not count brackets inside quoted, block or plain scalars and comments', () => {
    const text = [
      'a: "[[[[[[[[[[[[[[[[[[[["',
      "b: '{{{{{{{{{{{{{{{{{{{{'",
      'c: x[[[[[[[[[[[[[[[[[[[[[',
      '# [[[[[[[[[[[[[[[[[[[[[[[[',
      'd: |',
      '  [[[[[[[[[[[[[[[[[[[[[[[[',
      '  - - - - - - - - - - - - - - - - - - - -',
      'e: >-',
      '  {{{{{{{{{{{{{{{{{{{{{{{',
      'f: [1, [2, [3]]]',
    ].join('\n');
    // The estimate counts `f:` as a level of its own (an upper bound); the syntax tree's count is exact.
    expect(measureYaml(text, { maxBytes: 1 << 20, maxDepth: 5 })).toBeUndefined();
    expect(measureYaml(text, { maxBytes: 1 << 20, maxDepth: 4 })).toMatchObject({ kind: 'depth', line: 10 });
    expect(parseBoundedYaml(text, { maxBytes: 1 << 20, maxDepth: 4 }).ok).toBe(true);
    expect(parseBoundedYaml(text, { maxBytes: 1 << 20, maxDepth: 3 })).toMatchObject({ kind: 'depth' });
  });

  it('findUnsafeKey finds forbidden keys in arrays too and stops cycles', () => {
    expect(findUnsafeKey([{ a: [JSON.parse('{"__proto__":1}')] }], 10)?.path).toEqual([
      '0',
      'a',
      '0',
      '__proto__',
    ]);
    const cycle: unknown[] = [];
    cycle.push(cycle);
    expect(findUnsafeKey(cycle, 10)).toMatchObject({ kind: 'depth' });
  });
});

/** Every number schema inside the config schema, with its dotted path. */
function numbersOf(schema: z.ZodType, path: string[] = []): Array<[string, z.ZodNumber]> {
  if (schema instanceof z.ZodNumber) return [[path.join('.'), schema]];
  if (schema instanceof z.ZodObject) {
    return Object.entries(schema.shape as Record<string, z.ZodType>).flatMap(([key, child]) =>
      numbersOf(child, [...path, key]),
    );
  }
  if (schema instanceof z.ZodUnion) {
    return (schema.options as z.ZodType[]).flatMap((option) => numbersOf(option, path));
  }
  return [];
}

describe('every number in the schema is bounded', () => {
  const numbers = numbersOf(configSchema as unknown as z.ZodType);

  it('finds the numeric keys (the enumeration itself works)', () => {
    expect(numbers.map(([path]) => path)).toEqual(
      expect.arrayContaining([
        'workers.heapMb',
        'memory.intervalMs',
        'memory.limitBytes',
        'breaker.backoff.maxMs',
      ]),
    );
    expect(numbers.length).toBeGreaterThanOrEqual(20);
  });

  it('each has a finite minimum and maximum; each duration at most 2^31-1 ms', () => {
    for (const [path, schema] of numbers) {
      expect(Number.isFinite(schema.maxValue), `${path} has no maximum`).toBe(true);
      expect(Number.isFinite(schema.minValue), `${path} has no minimum`).toBe(true);
      if (path.endsWith('Ms')) expect(schema.maxValue, path).toBeLessThanOrEqual(MAX_DURATION_MS);
    }
  });

  it('a duration above 2^31-1 ms is refused with a message naming the limit', async () => {
    const durations = numbers.map(([path]) => path).filter((path) => path.endsWith('Ms'));
    expect(durations.length).toBeGreaterThanOrEqual(7);
    for (const path of durations) {
      const env = { [`ORDO_${path.split('.').map(toEnv).join('__')}`]: '3000000000' };
      const error = await invalid(loadConfig({ env }));
      expect(error.issues[0]?.path, path).toBe(path);
      expect(error.issues[0]?.expected).toContain('2147483647');
    }
  });

  it('absurd sizes are refused: heapMb 1e12, maxDepth 1e15, limitBytes 1e300, a 1e9 breaker factor', async () => {
    const error = await invalid(
      loadConfig({
        values: {
          workers: { heapMb: 1e12, max: 1e9 },
          queue: { maxDepth: 1e15 },
          memory: { limitBytes: 1e300 },
          breaker: { backoff: { factor: 1e9 } },
        },
        env: {},
      }),
    );
    expect([...new Set(error.issues.map((i) => i.path))].sort()).toEqual([
      'breaker.backoff.factor',
      'memory.limitBytes',
      'queue.maxDepth',
      'workers.heapMb',
      'workers.max',
    ]);
  });
});

function toEnv(segment: string): string {
  return segment.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase();
}
