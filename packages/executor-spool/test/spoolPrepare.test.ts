import { mkdir, readdir, readFile, rename as renameFile, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSpool } from '../src/index.js';
import { codeOf, everything, tempTree } from './spoolFixtures.js';

/*
 * spool.prepare() writes a commit's journal and temp files ahead of the commit (the runtime does it while
 * other tasks commit). What it must never change: what a commit writes, that a stale or tampered
 * preparation writes nothing, and that nothing of it is left behind.
 */

/** Where the journal key lives in these tests: outside every tree a test looks at. */
let keys: Awaited<ReturnType<typeof tempTree>>;
beforeAll(async () => {
  keys = await tempTree();
});
afterAll(async () => {
  await keys[Symbol.asyncDispose]();
});

const temps = (names: string[]) => names.filter((n) => n.endsWith('.tmp') || n.includes('.ordo-spool'));

describe('spool.prepare()', () => {
  it('writes nothing visible; the commit then puts exactly the staged files in place and leaves nothing', async () => {
    await using tree = await tempTree({ 'a.txt': 'old a\n', 'd.txt': 'old d\n' });
    await using spool = createSpool({ root: tree.dir, keyDir: keys.file('k') });
    await spool.write('a.txt', 'new a\n');
    await spool.write('sub/b.txt', 'new b\n');
    await spool.remove('d.txt');
    await spool.prepare();
    // Prepared: a journal and two temp files, no file of the tree changed.
    const prepared = await everything(tree.dir);
    expect(prepared.filter((n) => n.endsWith('.tmp'))).toHaveLength(2);
    expect(prepared).toContain('.ordo-spool');
    expect(await readFile(tree.file('a.txt'), 'utf8')).toBe('old a\n');
    expect(await readFile(tree.file('d.txt'), 'utf8')).toBe('old d\n');
    const { committed } = await spool.commit();
    expect(committed.map((c) => c.path)).toEqual(['a.txt', 'd.txt', 'sub/b.txt']);
    expect(await readFile(tree.file('a.txt'), 'utf8')).toBe('new a\n');
    expect(await readFile(tree.file('sub/b.txt'), 'utf8')).toBe('new b\n');
    expect(await everything(tree.dir)).toEqual(['a.txt', 'sub', 'sub/b.txt']);
  });

  it('a new edit after prepare voids the preparation: the commit writes the new content, no temp file stays', async () => {
    await using tree = await tempTree({ 'a.txt': 'old\n' });
    await using spool = createSpool({ root: tree.dir, keyDir: keys.file('k') });
    await spool.write('a.txt', 'first\n');
    await spool.prepare();
    await spool.write('a.txt', 'second\n');
    await spool.commit();
    expect(await readFile(tree.file('a.txt'), 'utf8')).toBe('second\n');
    expect(await everything(tree.dir)).toEqual(['a.txt']);
  });

  it('close() removes an unused preparation, directories it made included', async () => {
    await using tree = await tempTree({ 'a.txt': 'old\n' });
    const spool = createSpool({ root: tree.dir, keyDir: keys.file('k') });
    await spool.write('a.txt', 'new\n');
    await spool.write('deep/er/b.txt', 'b\n');
    await spool.prepare();
    await spool.prepare(); // a second preparation replaces the first: neither is left behind
    await spool.close();
    expect(await everything(tree.dir)).toEqual(['a.txt']);
    expect(await readFile(tree.file('a.txt'), 'utf8')).toBe('old\n');
  });

  it('a file changed on disk after prepare: SPOOL_CONFLICT, nothing written, nothing left', async () => {
    await using tree = await tempTree({ 'a.txt': 'old\n', 'b.txt': 'old b\n' });
    await using spool = createSpool({ root: tree.dir, keyDir: keys.file('k') });
    await spool.write('a.txt', 'mine\n');
    await spool.write('b.txt', 'mine b\n');
    await spool.prepare();
    await writeFile(tree.file('a.txt'), 'theirs\n');
    expect(await codeOf(spool.commit())).toBe('SPOOL_CONFLICT');
    expect(await readFile(tree.file('a.txt'), 'utf8')).toBe('theirs\n');
    expect(await readFile(tree.file('b.txt'), 'utf8')).toBe('old b\n');
    expect(temps(await everything(tree.dir))).toEqual([]);
  });

  it('a prepared temp file rewritten or replaced before the commit is never renamed into place', async () => {
    for (const attack of ['rewrite', 'replace', 'symlink'] as const) {
      await using tree = await tempTree({ 'a.txt': 'old\n' });
      await using outside = await tempTree({ 'secret.txt': 'secret\n' });
      await using spool = createSpool({ root: tree.dir, keyDir: keys.file('k') });
      await spool.write('a.txt', 'mine\n');
      await spool.prepare();
      const tmp = (await readdir(tree.dir)).find((n) => n.endsWith('.tmp')) as string;
      if (attack === 'rewrite') await writeFile(tree.file(tmp), 'evil\n');
      if (attack === 'replace') {
        await writeFile(tree.file('x'), 'evil!\n');
        await renameFile(tree.file('x'), tree.file(tmp));
      }
      if (attack === 'symlink') {
        await symlink(outside.file('secret.txt'), tree.file('x'));
        await renameFile(tree.file('x'), tree.file(tmp));
      }
      expect(await codeOf(spool.commit()), attack).toBe('SPOOL_COMMIT_FAILED');
      expect(await readFile(tree.file('a.txt'), 'utf8'), attack).toBe('old\n');
      expect(await readFile(outside.file('secret.txt'), 'utf8')).toBe('secret\n');
      expect(temps(await everything(tree.dir)), attack).toEqual([]);
      // The staged edit is kept: committing again writes it.
      await spool.commit();
      expect(await readFile(tree.file('a.txt'), 'utf8'), attack).toBe('mine\n');
    }
  });

  it('a directory swapped for a symlink after prepare: SPOOL_PATH_ESCAPE, nothing written outside', async () => {
    await using tree = await tempTree({ 'sub/a.txt': 'old\n' });
    await using outside = await tempTree({ 'a.txt': 'outside\n' });
    await using spool = createSpool({ root: tree.dir, keyDir: keys.file('k') });
    await spool.write('sub/a.txt', 'mine\n');
    await spool.prepare();
    await renameFile(tree.file('sub'), tree.file('moved'));
    await symlink(outside.dir, tree.file('sub'));
    const code = await codeOf(spool.commit());
    expect(code === 'SPOOL_PATH_ESCAPE' || code === 'SPOOL_CONFLICT').toBe(true);
    expect(await readFile(outside.file('a.txt'), 'utf8')).toBe('outside\n');
    expect((await readdir(outside.dir)).sort()).toEqual(['a.txt']);
  });

  it('in-place mode: prepare is a no-op and the commit works as before', async () => {
    await using tree = await tempTree({ 'a.txt': 'old\n' });
    await using spool = createSpool({ root: tree.dir, commitMode: 'in-place', keyDir: keys.file('k') });
    await spool.write('a.txt', 'new\n');
    await spool.prepare();
    expect(await everything(tree.dir)).toEqual(['a.txt']);
    await spool.commit();
    expect(await readFile(tree.file('a.txt'), 'utf8')).toBe('new\n');
  });

  it('property: any interleaving of edits, prepares and commits gives the tree of the same edits without prepare', async () => {
    const op = fc.oneof(
      fc.record({
        kind: fc.constant('write' as const),
        file: fc.constantFrom('a', 'b', 'd/c'),
        text: fc.string({ maxLength: 8 }),
      }),
      fc.record({ kind: fc.constant('remove' as const), file: fc.constantFrom('a', 'b', 'd/c') }),
      fc.record({ kind: fc.constant('prepare' as const) }),
      fc.record({ kind: fc.constant('commit' as const) }),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(op, { maxLength: 14 }), async (ops) => {
        const run = async (withPrepare: boolean) => {
          await using tree = await tempTree({ a: 'A\n', 'd/c': 'C\n' });
          await mkdir(tree.file('d'), { recursive: true });
          await using spool = createSpool({ root: tree.dir, fsync: false, keyDir: keys.file('k') });
          const outcomes: (string | undefined)[] = [];
          for (const o of ops) {
            if (o.kind === 'write') await spool.write(o.file, o.text);
            else if (o.kind === 'remove') outcomes.push(await codeOf(spool.remove(o.file)));
            else if (o.kind === 'prepare') {
              if (withPrepare) await spool.prepare();
            } else outcomes.push(await codeOf(spool.commit()));
          }
          outcomes.push(await codeOf(spool.commit()));
          await spool.close();
          const names = await everything(tree.dir);
          const files: Record<string, string> = {};
          for (const n of names) {
            const content = await readFile(path.join(tree.dir, n), 'utf8').catch(() => undefined);
            if (content !== undefined) files[n] = content;
          }
          return { names, files, outcomes };
        };
        const plain = await run(false);
        const prepared = await run(true);
        expect(prepared).toEqual(plain);
        expect(temps(prepared.names)).toEqual([]);
      }),
      { numRuns: 40 },
    );
  }, 60_000);
});
