import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { unifiedDiffBytes } from '../src/index.js';
import { applyAll, type FilePair, gitDiffs, hunkProblems, scratch } from './diffFixtures.js';

/** Line bodies: repeated tokens (so changes can slide), code, unicode, invalid UTF-8, long lines. */
const body = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom('a', 'b', 'c', '', '}', '  x', '\tfoo();', '    return 1;') },
  { weight: 2, arbitrary: fc.constantFrom('int main() {', 'function f(a) {', '_init:', '$x = 1', '# title') },
  { weight: 1, arbitrary: fc.constantFrom('héllo wörld', '日本語のテキスト', 'emoji 😀 here', 'Ünïcödé') },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      Buffer.from([0xe9, 0x74, 0xe9]), // Latin-1 "été"
      Buffer.from([0x93, 0x71, 0x94]), // Windows-1252 quotes
      Buffer.from([0x66, 0xff, 0xfe, 0x80]),
      Buffer.from('caf\xe9 cr\xe8me', 'latin1'),
    ),
  },
  {
    weight: 1,
    arbitrary: fc.oneof(
      fc.integer({ min: 81, max: 400 }).map((n) => `long ${'x'.repeat(n)}`),
      fc.integer({ min: 30, max: 60 }).map((n) => `fn${'é'.repeat(n)}`),
    ),
  },
);
const ending = fc.constantFrom('\n', '\n', '\n', '\n', '\n', '\r\n', '\r\n', '\rx\n');
const line = fc
  .tuple(body, ending)
  .map(([b, e]) => Buffer.concat([typeof b === 'string' ? Buffer.from(b) : b, Buffer.from(e)]));

/** A file: lines, with or without its final newline; sometimes long. */
const file = fc.record({
  lines: fc.oneof(
    { weight: 4, arbitrary: fc.array(line, { maxLength: 40 }) },
    { weight: 1, arbitrary: fc.array(line, { minLength: 200, maxLength: 500 }) },
  ),
  finalNewline: fc.boolean(),
});

/** An edit: insert, delete or replace a run of lines (runs longer than any window too). */
const edit = fc.record({
  kind: fc.constantFrom('insert', 'delete', 'replace'),
  at: fc.nat(),
  length: fc.oneof(
    { weight: 5, arbitrary: fc.integer({ min: 1, max: 5 }) },
    { weight: 1, arbitrary: fc.integer({ min: 60, max: 320 }) },
  ),
  lines: fc.array(line, { minLength: 1, maxLength: 8 }),
});

const join = (lines: readonly Buffer[], finalNewline: boolean) => {
  const bytes = Buffer.concat(lines);
  return !finalNewline && bytes.at(-1) === 10 ? bytes.subarray(0, -1) : bytes;
};

type Edit = { kind: string; at: number; length: number; lines: Buffer[] };

function applyEdits(lines: readonly Buffer[], edits: readonly Edit[]) {
  const out = [...lines];
  for (const e of edits) {
    const at = out.length ? e.at % (out.length + 1) : 0;
    const run = Array.from({ length: e.length }, (_, k) => e.lines[k % e.lines.length] as Buffer);
    if (e.kind === 'insert') out.splice(at, 0, ...run);
    else if (e.kind === 'delete') out.splice(at, e.length);
    else out.splice(at, e.length, ...run.slice(0, Math.max(1, e.length >> 1)));
  }
  return out;
}

/** A change of one file: before (maybe absent), after (maybe absent), from random edits. */
const pair = fc
  .record({
    base: file,
    edits: fc.array(edit, { minLength: 1, maxLength: 6 }),
    after: fc.record({ finalNewline: fc.boolean() }),
    presence: fc.constantFrom('both', 'both', 'both', 'both', 'both', 'created', 'deleted'),
  })
  .map(({ base, edits, after, presence }) => ({
    before: presence === 'created' ? null : join(base.lines, base.finalNewline),
    after:
      presence === 'deleted'
        ? null
        : join(
            applyEdits(base.lines, edits),
            presence === 'created' ? base.finalNewline : after.finalNewline,
          ),
  }))
  .filter(({ before, after }) => !(before && after && before.equals(after)));

describe('diffs of random files and edits, applied by the real git apply and GNU patch', () => {
  it(
    'reproduce the new bytes exactly, with sound hunk headers, equal to git diff --no-index',
    { timeout: 120_000 },
    async () => {
      await using tmp = await scratch();
      await fc.assert(
        fc.asyncProperty(fc.array(pair, { minLength: 30, maxLength: 40 }), async (cases) => {
          const pairs: FilePair[] = cases.map((c, k) => ({
            path: k % 7 === 3 ? `c${k}/my file.txt` : `c${k}/f.txt`,
            ...c,
          }));
          const patches = await Promise.all(pairs.map((p) => unifiedDiffBytes(p.path, p.before, p.after)));
          for (const [k, patch] of patches.entries()) {
            expect(patch.length, pairs[k]?.path).toBeGreaterThan(0);
            expect(hunkProblems(patch), pairs[k]?.path).toEqual([]);
          }
          const git = await applyAll(tmp.dir, pairs, Buffer.concat(patches), 'git');
          expect(git.failure).toBeUndefined();
          expect(git.wrong, 'git apply').toEqual([]);
          // GNU patch cannot name a file from a hunk-less git header (an empty file created or deleted) whose
          // path has a space; git's own output is the same there, so such files go to git apply only.
          const hunkless = (k: number) => !(patches[k] as Buffer).includes('\n@@ ');
          const forPatch = pairs.filter((p, k) => !(p.path.includes(' ') && hunkless(k)));
          const input = Buffer.concat(forPatch.map((p) => patches[pairs.indexOf(p)] as Buffer));
          const patch = await applyAll(tmp.dir, forPatch, input, 'patch');
          expect(patch.failure).toBeUndefined();
          expect(patch.wrong, 'GNU patch').toEqual([]);
          const reference = await gitDiffs(tmp.dir, pairs);
          for (const [k, p] of pairs.entries()) {
            expect((patches[k] as Buffer).toString('latin1'), p.path).toBe(
              reference.get(p.path)?.toString('latin1'),
            );
          }
        }),
        { numRuns: Number(process.env.RUNS ?? 6) },
      );
    },
  );
});
