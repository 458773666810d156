import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { createSpool, unifiedDiff, unifiedDiffBytes } from '../src/index.js';
import { applyAll, type FilePair, gitDiffs, hunkProblems, scratch } from './diffFixtures.js';

const lines = (n: number, f: (i: number) => string = (i) => `line ${i}`) =>
  Array.from({ length: n }, (_, i) => `${f(i + 1)}\n`).join('');
const bytes = (x: string | Buffer) => (typeof x === 'string' ? Buffer.from(x, 'utf8') : x);

/** Our diff of each case as bytes, git's, and whether git apply and GNU patch rebuild `after`. */
async function check(cases: Array<[string, string | Buffer | null, string | Buffer | null]>) {
  await using tmp = await scratch();
  const pairs: FilePair[] = cases.map(([p, before, after]) => ({
    path: p,
    before: before === null ? null : bytes(before),
    after: after === null ? null : bytes(after),
  }));
  const ours = await Promise.all(pairs.map((p) => unifiedDiffBytes(p.path, p.before, p.after)));
  const git = await gitDiffs(tmp.dir, pairs);
  const all = Buffer.concat(ours);
  return {
    ours,
    git: pairs.map((p) => git.get(p.path)),
    gitApply: await applyAll(tmp.dir, pairs, all, 'git'),
    patch: await applyAll(tmp.dir, pairs, all, 'patch'),
  };
}

describe('diffs git would print, for the edits that used to break', () => {
  const cases: Array<[string, string, string | Buffer | null, string | Buffer | null]> = [
    // The issue's reproduction: one changed line, then 63 added ones (changes used to be emitted twice).
    ['a changed first line and a long append', 'f.txt', 'x\nsame\n', `X\nsame\n${lines(63)}`],
    [
      'a release section added at the top of a changelog',
      'CHANGELOG.md',
      `# Changelog\n\n${lines(400, (i) => (i % 20 === 1 ? `## 1.${400 - i}.0` : i % 20 === 2 ? '' : `- fix ${i}`))}`,
      `# Changelog\n\n## 2.0.0\n\n${lines(70, (i) => `- new ${i}`)}\n${lines(400, (i) => (i % 20 === 1 ? `## 1.${400 - i}.0` : i % 20 === 2 ? '' : `- fix ${i}`))}`,
    ],
    [
      'one insertion plus a far edit (no giant hunk)',
      'f.txt',
      lines(3000),
      `${lines(3000).replace('line 5\n', 'line 5\ninserted\n').replace('line 2900\n', 'changed\n')}`,
    ],
    [
      'half of a file replaced in blocks',
      'f.txt',
      lines(2000),
      lines(2000, (i) => (Math.floor(i / 50) % 2 ? `new ${i}` : `line ${i}`)),
    ],
    [
      'a function name cut at 80 bytes inside a character',
      'f.c',
      `f${'é'.repeat(60)}\n${lines(10)}`,
      `f${'é'.repeat(60)}\n${lines(10).replace('line 8', 'eight')}`,
    ],
    [
      'a function name with Latin-1 bytes',
      'f.c',
      Buffer.concat([Buffer.from('void caf\xe9(void) {\n', 'latin1'), Buffer.from(lines(10))]),
      Buffer.concat([
        Buffer.from('void caf\xe9(void) {\n', 'latin1'),
        Buffer.from(lines(10).replace('line 8', 'eight')),
      ]),
    ],
    [
      'a function name ending in a vertical tab and a form feed',
      'f.c',
      `int main() \v\f\n${lines(10)}`,
      `int main() \v\f\n${lines(10).replace('line 8', 'eight')}`,
    ],
    [
      'Latin-1 text',
      'ChangeLog',
      Buffer.from(
        lines(20, (i) => `entr\xe9e ${i}`),
        'latin1',
      ),
      Buffer.from(
        lines(20, (i) => (i === 7 ? 'r\xe9vis\xe9e' : `entr\xe9e ${i}`)),
        'latin1',
      ),
    ],
    [
      'Windows-1252 quotes',
      'a.txt',
      Buffer.from([0x93, 0x61, 0x94, 10]),
      Buffer.from([0x93, 0x62, 0x94, 10]),
    ],
    ['lone CRs', 'f.txt', 'a\rb\nc\rd\n', 'a\rb\nc\rD\n'],
    ['a line gaining a CR', 'f.txt', 'a\nb\nc\n', 'a\nb\r\nc\n'],
    [
      'an indented block added (indent heuristic)',
      'f.py',
      'def f():\n    a\n\ndef g():\n    b\n',
      'def f():\n    a\n\ndef h():\n    c\n\ndef g():\n    b\n',
    ],
  ];
  it('equal git diff --no-index byte for byte and apply with git apply and GNU patch', async () => {
    const { ours, git, gitApply, patch } = await check(cases.map(([, p, a, b], k) => [`${k}/${p}`, a, b]));
    for (const [k, [name]] of cases.entries()) {
      expect(ours[k]?.toString('latin1'), name).toBe(git[k]?.toString('latin1'));
      expect(hunkProblems(ours[k] as Buffer), name).toEqual([]);
    }
    expect(gitApply).toEqual({ wrong: [] });
    expect(patch).toEqual({ wrong: [] });
  });

  it('keeps one insertion and a far edit in two small hunks', async () => {
    const patch = await unifiedDiff(
      'f.txt',
      lines(3000),
      lines(3000).replace('line 5\n', 'line 5\nnew\n').replace('line 2900\n', 'x\n'),
    );
    expect(patch.match(/^@@/gm)).toHaveLength(2);
    expect(patch.match(/^[-+]/gm)).toHaveLength(5);
  });
});

describe('the text API', () => {
  it('is the UTF-8 decoding of the bytes for UTF-8 files', async () => {
    const before = 'héllo\nwörld\n';
    const after = 'héllo\nwelt 😀\n';
    expect(await unifiedDiff('f.txt', before, after)).toBe(
      (await unifiedDiffBytes('f.txt', before, after)).toString('utf8'),
    );
  });

  it('shows a file whose diff is not UTF-8 as a GIT binary patch that git apply turns into the exact bytes', async () => {
    const before = Buffer.from(
      lines(30, (i) => `caf\xe9 ${i}`),
      'latin1',
    );
    const after = Buffer.from(
      lines(30, (i) => (i === 12 ? 'cr\xe8me' : `caf\xe9 ${i}`)),
      'latin1',
    );
    const text = await unifiedDiff('menu.txt', before, after);
    expect(text).toContain('GIT binary patch\nliteral ');
    expect(text).not.toContain('\ufffd');
    await using tmp = await scratch();
    expect(await applyAll(tmp.dir, [{ path: 'menu.txt', before, after }], Buffer.from(text), 'git')).toEqual({
      wrong: [],
    });
  });

  it('is the same in a spool: diff() falls back per file, diffBytes() is exact', async () => {
    await using tmp = await scratch();
    const before = Buffer.from('na\xefve\n', 'latin1');
    const after = Buffer.from('na\xefvet\xe9\n', 'latin1');
    await writeFile(path.join(tmp.dir, 'l1.txt'), before);
    await writeFile(path.join(tmp.dir, 'u8.txt'), 'a\n');
    await using spool = createSpool({ root: tmp.dir });
    await spool.write('l1.txt', after);
    await spool.write('u8.txt', 'b\n');
    const text = await spool.diff();
    expect(text).toContain('GIT binary patch');
    expect(text).toContain('-a\n+b\n');
    const exact = await spool.diffBytes('l1.txt');
    expect(exact.includes(Buffer.concat([Buffer.from('+'), after]))).toBe(true);
    expect(exact).toEqual(await unifiedDiffBytes('l1.txt', before, after));
    let streamed = '';
    for await (const chunk of spool.diffStream()) streamed += chunk;
    expect(streamed).toBe(text);
  });
});

describe('files larger than maxWindowBytes', () => {
  const big = lines(20_000, (i) => `${i % 9 ? ' ' : 'fn'} row ${i}`);
  it('diff only the changed window, with the hunks git prints', async () => {
    const after = big
      .replace(' row 5001\n', ' row 5001 edited\n')
      .replace('fn row 5004\n', 'fn row 5004\nadded\n');
    const ours = await unifiedDiffBytes('f.txt', big, after, { maxWindowBytes: 100_000 });
    const { git } = await check([['f.txt', big, after]]);
    expect(ours.toString()).toBe(git[0]?.toString());
  });

  it('stream a window larger than that as one replacement hunk that git apply and GNU patch accept', async () => {
    const after = `${big.replace(/row (1\d{3})\n/g, 'other $1\n')}tail without newline`;
    const ours = await unifiedDiffBytes('f.txt', big, after, { maxWindowBytes: 1000 });
    expect(ours.toString().match(/^@@/gm)).toHaveLength(1);
    expect(ours.toString()).toContain('\n\\ No newline at end of file\n');
    expect(hunkProblems(ours)).toEqual([]);
    await using tmp = await scratch();
    const pairs = [{ path: 'f.txt', before: Buffer.from(big), after: Buffer.from(after) }];
    expect(await applyAll(tmp.dir, pairs, ours, 'git')).toEqual({ wrong: [] });
    expect(await applyAll(tmp.dir, pairs, ours, 'patch')).toEqual({ wrong: [] });
  });
});
