import { readdir, readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { createSpool } from '../src/index.js';
import { tempTree } from './spoolFixtures.js';

// The test-only `afterReplace` hook marks the last moment of a rename commit: every file in place, the
// commit's journal not removed yet (a crash there is rolled back by the next recovery).
describe('the afterReplace test hook', () => {
  it('runs once, with every file of the commit in place and the journal still on disk', async () => {
    await using tree = await tempTree({ 'a.txt': 'old a\n', 'd.txt': 'old d\n' });
    const seen: Array<{ a: string; added: string; dExists: boolean; journal: string[] }> = [];
    await using spool = createSpool({
      root: tree.dir,
      testHooks: {
        afterReplace: async () => {
          seen.push({
            a: await readFile(tree.file('a.txt'), 'utf8'),
            added: await readFile(tree.file('b/added.txt'), 'utf8'),
            dExists: (await readdir(tree.dir)).includes('d.txt'),
            journal: (await readdir(tree.file('.ordo-spool'))).filter((n) => n.endsWith('.json')),
          });
        },
      },
    });
    await spool.write('a.txt', 'new a\n');
    await spool.write('b/added.txt', 'added\n');
    await spool.remove('d.txt');
    await spool.commit();
    expect(seen).toEqual([{ a: 'new a\n', added: 'added\n', dExists: false, journal: [expect.any(String)] }]);
    expect(await readdir(tree.dir)).not.toContain('.ordo-spool');
  });

  it('is not called in in-place mode', async () => {
    await using tree = await tempTree({ 'a.txt': 'old a\n' });
    let calls = 0;
    await using spool = createSpool({
      root: tree.dir,
      commitMode: 'in-place',
      testHooks: { afterReplace: () => void calls++ },
    });
    await spool.write('a.txt', 'new a\n');
    await spool.commit();
    expect(await readFile(tree.file('a.txt'), 'utf8')).toBe('new a\n');
    expect(calls).toBe(0);
  });
});
