import { chmod, mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { applyPatch } from 'diff';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createSpool, unifiedDiff } from '../src/index.js';
import { gitDiff, tempTree } from './spoolFixtures.js';

/** Stages `after` over `before` in a spool, and writes both under left/ and right/ for git. */
async function compare(
  p: string,
  before: string | Uint8Array | null,
  after: string | Uint8Array | null,
  mode?: number,
) {
  await using tree = await tempTree();
  const root = path.join(tree.dir, 'root');
  for (const side of ['root', 'left', 'right'])
    await mkdir(path.join(tree.dir, side, path.dirname(p)), { recursive: true });
  if (before !== null) {
    for (const side of ['root', 'left']) {
      await writeFile(path.join(tree.dir, side, p), before);
      if (mode !== undefined) await chmod(path.join(tree.dir, side, p), mode);
    }
  }
  if (after !== null) {
    await writeFile(path.join(tree.dir, 'right', p), after);
    if (mode !== undefined) await chmod(path.join(tree.dir, 'right', p), mode);
  }
  await using spool = createSpool({ root });
  if (after === null) await spool.remove(p);
  else await spool.write(p, after);
  return { ours: await spool.diff(), git: await gitDiff(tree.dir) };
}

const lines = (n: number, f: (i: number) => string = (i) => `line ${i}`) =>
  Array.from({ length: n }, (_, i) => `${f(i + 1)}\n`).join('');

describe('spool diffs equal git diff --no-index', () => {
  const cases: Array<[string, string, string | Uint8Array | null, string | Uint8Array | null]> = [
    ['a modified line', 'f.txt', lines(20), lines(20).replace('line 10\n', 'line ten\n')],
    ['an added file', 'dir/new.txt', null, 'hello\nworld\n'],
    ['a deleted file', 'gone.txt', 'bye\n', null],
    ['an added empty file', 'empty.txt', null, ''],
    ['a file emptied', 'f.txt', 'a\nb\n', ''],
    ['a file filled', 'f.txt', '', 'a\nb\n'],
    ['no trailing newline before', 'f.txt', 'a\nb', 'a\nc\n'],
    ['no trailing newline after', 'f.txt', 'a\nb\n', 'a\nb'],
    [
      'no trailing newline on both sides',
      'f.txt',
      `${lines(10)}last`,
      `${lines(10).replace('line 2\n', 'two\n')}last`,
    ],
    ['a change in the last unterminated line', 'f.txt', `${lines(10)}last`, `${lines(10)}LAST`],
    ['a deleted file without a trailing newline', 'gone', 'bye', null],
    ['binary content', 'b.bin', new Uint8Array([1, 0, 2, 3]), new Uint8Array([1, 0, 2, 4])],
    ['a binary add', 'b.bin', null, new Uint8Array([0, 0, 1])],
    ['text becoming binary', 'b.bin', 'text\n', new Uint8Array([0, 1])],
    [
      'two distant hunks',
      'f.txt',
      lines(40),
      lines(40).replace('line 3\n', 'x\n').replace('line 35\n', 'y\n'),
    ],
    [
      'two hunks close enough to merge',
      'f.txt',
      lines(40),
      lines(40).replace('line 10\n', 'x\n').replace('line 16\n', 'y\n'),
    ],
    [
      'two hunks just too far to merge',
      'f.txt',
      lines(40),
      lines(40).replace('line 10\n', 'x\n').replace('line 17\n', 'y\n'),
    ],
    [
      'inserted and deleted blocks',
      'f.txt',
      lines(30),
      lines(30).replace('line 5\n', '').replace('line 20\n', 'line 20\nnew a\nnew b\n'),
    ],
    [
      'function names in hunk headers',
      'f.c',
      `int main() {\n${lines(10, (i) => `  x${i};`)}}\nvoid g() {\n${lines(10, (i) => `  y${i};`)}}\n`,
      `int main() {\n${lines(10, (i) => `  x${i};`)}}\nvoid g() {\n${lines(10, (i) => (i === 8 ? '  changed;' : `  y${i};`))}}\n`,
    ],
    ['a path with a space', 'my file.txt', 'a\n', 'b\n'],
    ['a non-ASCII path', 'dir/héllo.txt', 'a\n', 'b\n'],
    ['a deleted non-ASCII path with a space', 'dir/héllo x.txt', 'a', null],
    ['a path with a quote and a tab', 'q"\tx', 'a\n', 'b\n'],
    ['CRLF lines', 'f.txt', 'a\r\nb\r\nc\r\n', 'a\r\nB\r\nc\r\n'],
    ['UTF-8 content', 'f.txt', 'héllo\nwörld\n', 'héllo\nwelt\n'],
  ];
  for (const [name, p, before, after] of cases) {
    it(name, async () => {
      const { ours, git } = await compare(p, before, after);
      expect(git).not.toBe('');
      expect(ours).toBe(git);
    });
  }

  it('keeps the mode in the index line (executable file)', async () => {
    const { ours, git } = await compare('run.sh', '#!/bin/sh\necho a\n', '#!/bin/sh\necho b\n', 0o755);
    expect(ours).toContain(' 100755\n');
    expect(ours).toBe(git);
  });

  it('is empty when nothing is staged', async () => {
    await using tree = await tempTree({ 'a.txt': 'a\n' });
    await using spool = createSpool({ root: tree.dir });
    expect(await spool.diff()).toBe('');
    expect(await spool.diff('a.txt')).toBe('');
  });
});

describe('unifiedDiff', () => {
  it('applies back to the staged content for random line edits (jsdiff applyPatch)', async () => {
    const line = fc.constantFrom('a', 'b', 'c', 'd', '', '  x', '}', 'fn()');
    await fc.assert(
      fc.asyncProperty(
        fc.array(line, { maxLength: 40 }),
        fc.array(line, { maxLength: 40 }),
        fc.boolean(),
        fc.boolean(),
        async (a, b, endA, endB) => {
          const before = a.join('\n') + (endA && a.length ? '\n' : '');
          const after = b.join('\n') + (endB && b.length ? '\n' : '');
          const patch = await unifiedDiff('f.txt', before, after);
          if (before === after) expect(patch).toBe('');
          else expect(applyPatch(before, patch)).toBe(after);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('applies back for scattered edits of a long file, diffed region by region', async () => {
    const base = Array.from({ length: 3000 }, (_, i) => `row ${i % 50} ${i}`);
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(fc.nat(2999), fc.constantFrom('edit', 'delete', 'insert')), {
          minLength: 1,
          maxLength: 30,
        }),
        async (edits) => {
          const next = [...base];
          for (const [at, kind] of edits.sort((x, y) => y[0] - x[0])) {
            if (kind === 'edit') next[at] = `edited ${at}`;
            else if (kind === 'delete') next.splice(at, 1);
            else next.splice(at, 0, `inserted ${at}`, `inserted ${at} again`);
          }
          const before = `${base.join('\n')}\n`;
          const after = `${next.join('\n')}\n`;
          expect(applyPatch(before, await unifiedDiff('f.txt', before, after))).toBe(after);
        },
      ),
      { numRuns: 60 },
    );
  });
});
