import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { createSpool, DiffCache, type SpoolChange, type SpoolValidationError } from '../src/index.js';
import { tempTree } from './spoolFixtures.js';

const noTabs = async (change: SpoolChange) => {
  const text = (await change.text()) ?? '';
  return text
    .split('\n')
    .flatMap((line, i) =>
      line.includes('\t') ? [{ message: 'tab found; indent with spaces', line: i + 1 }] : [],
    );
};

describe('validators and the commit gate', () => {
  it('blocks the commit with SPOOL_VALIDATION_FAILED listing every issue by path, and writes nothing', async () => {
    await using tree = await tempTree({ 'a.txt': 'a\n' });
    const order: string[] = [];
    const first = (change: SpoolChange) => {
      order.push(`first ${change.path}`);
      return change.kind === 'deleted' ? ['deleting is not allowed here'] : [];
    };
    const second = (change: SpoolChange) => {
      order.push(`second ${change.path}`);
      return [];
    };
    await using spool = createSpool({ root: tree.dir, validators: [first, noTabs, second] });
    await spool.write('z.txt', 'ok\n\tbad\n');
    await spool.write('b.txt', '\tbad\n');
    await spool.remove('a.txt');
    const error = (await spool.commit().catch((e: unknown) => e)) as SpoolValidationError;
    expect(error.code).toBe('SPOOL_VALIDATION_FAILED');
    expect(error.issues).toEqual([
      { path: 'a.txt', message: 'deleting is not allowed here', source: 'first' },
      { path: 'b.txt', message: 'tab found; indent with spaces', line: 1, source: 'noTabs' },
      { path: 'z.txt', message: 'tab found; indent with spaces', line: 2, source: 'noTabs' },
    ]);
    expect(error.message).toContain('z.txt:2: tab found');
    expect(order).toEqual([
      'first a.txt',
      'first b.txt',
      'first z.txt',
      'second a.txt',
      'second b.txt',
      'second z.txt',
    ]);
    expect(await readFile(tree.file('a.txt'), 'utf8')).toBe('a\n');
    expect(await spool.validate()).toEqual(error.issues);
  });

  it('asks the gate with a summary after the validators pass; false blocks the commit', async () => {
    await using tree = await tempTree();
    const summaries: unknown[] = [];
    let allow = false;
    await using spool = createSpool({
      root: tree.dir,
      commitGate: async (summary) => {
        summaries.push(summary);
        return allow;
      },
    });
    await spool.write('a.txt', 'abc');
    const error = (await spool.commit().catch((e: unknown) => e)) as SpoolValidationError;
    expect(error.code).toBe('SPOOL_VALIDATION_FAILED');
    expect(error.issues[0]?.source).toBe('commitGate');
    expect(summaries).toEqual([
      { changes: [{ path: 'a.txt', kind: 'added', size: 3, baseSize: 0 }], bytes: 3 },
    ]);
    allow = true;
    await spool.commit();
    expect(await readFile(tree.file('a.txt'), 'utf8')).toBe('abc');
  });

  it('rejects a validator that does not return an array', async () => {
    await using tree = await tempTree();
    await using spool = createSpool({ root: tree.dir, validators: [() => 'oops' as never] });
    await spool.write('a.txt', 'x');
    await expect(spool.validate()).rejects.toMatchObject({ code: 'SPOOL_INVALID_ARGUMENT' });
  });
});

describe('memoization', () => {
  it('never diffs or validates an unchanged file twice (observed through the counters)', async () => {
    await using tree = await tempTree({ 'a.txt': 'a\n', 'b.txt': 'b\n' });
    let calls = 0;
    const counting = (change: SpoolChange) => {
      calls++;
      return change.diff().then(() => []);
    };
    await using spool = createSpool({ root: tree.dir, validators: [counting] });
    await spool.write('a.txt', 'A\n');
    await spool.write('b.txt', 'B\n');
    const first = await spool.diff();
    expect(spool.stats()).toMatchObject({ diffsComputed: 2, diffHits: 0 });
    expect(await spool.diff()).toBe(first);
    expect(await spool.diff('a.txt')).toBe(first.slice(0, first.indexOf('diff --git a/b.txt')));
    expect(spool.stats()).toMatchObject({ diffsComputed: 2, diffHits: 3 });
    await spool.validate();
    await spool.validate();
    expect(calls).toBe(2);
    expect(spool.stats()).toMatchObject({ validationsRun: 2, validationHits: 2, diffsComputed: 2 });
    await spool.write('a.txt', 'A2\n');
    await spool.validate();
    expect(calls).toBe(3);
    await spool.write('a.txt', 'A\n');
    await spool.validate();
    expect(calls).toBe(3);
  });

  it('shares a DiffCache between spools; diffCache: false turns the memo off', async () => {
    await using tree = await tempTree({ 'a.txt': 'a\n' });
    const diffCache = new DiffCache({ maxBytes: 1024 });
    await using one = createSpool({ root: tree.dir, diffCache });
    await using two = createSpool({ root: tree.dir, diffCache });
    await one.write('a.txt', 'b\n');
    await two.write('a.txt', 'b\n');
    expect(await two.diff()).toBe(await one.diff());
    expect(diffCache.stats).toMatchObject({ diffsComputed: 1, diffHits: 1 });
    await using none = createSpool({ root: tree.dir, diffCache: false });
    await none.write('a.txt', 'b\n');
    await none.diff();
    await none.diff();
    expect(none.stats()).toMatchObject({ diffsComputed: 2, diffHits: 0 });
  });
});

describe('diffs of large, spilled files', () => {
  it('streams the diff of files above the spill threshold, and it applies back', async () => {
    const base = Array.from({ length: 20_000 }, (_, i) => `line ${i}`);
    await using tree = await tempTree({ 'big.txt': `${base.join('\n')}\n` });
    await using spool = createSpool({ root: tree.dir, spillThresholdBytes: 4096 });
    const next = [...base];
    next[5] = 'edited near the start';
    next[19_990] = 'edited near the end';
    async function* edited() {
      for (let i = 0; i < next.length; i += 1000) yield `${next.slice(i, i + 1000).join('\n')}\n`;
    }
    await spool.write('big.txt', edited());
    const chunks: string[] = [];
    for await (const chunk of spool.diffStream('big.txt')) chunks.push(chunk);
    expect(chunks.length).toBe(3);
    const { applyPatch } = await import('diff');
    expect(applyPatch(`${base.join('\n')}\n`, chunks.join(''))).toBe(`${next.join('\n')}\n`);
    expect(chunks[1]).toMatch(/^@@ -3,7 \+3,7 @@ line 1\n/);
    expect(chunks[2]).toMatch(/^@@ -19988,7 \+19988,7 @@ line 19986\n/);
  });
});
