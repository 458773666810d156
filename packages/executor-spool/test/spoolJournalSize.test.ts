import { mkdir, stat, truncate, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { createSpool, recoverSpool } from '../src/index.js';
import { codeOf, tempTree } from './spoolFixtures.js';

/*
 * A journal planted as a sparse file of gigabytes (no disk used) made every operation of the next spool over
 * the root fail with a RangeError from Buffer.allocUnsafe (not an OrdoError), and one under 4 GiB cost its
 * size in memory and reading time. Recovery now refuses a journal larger than any commit can write, unread.
 */

describe('journals larger than a commit can write', () => {
  for (const [name, head] of [
    ['x.rollback', 'ordo-spool-rollback 2\n{"pid":1,'],
    ['mx7m6gbk-6b46354bd136.json', '{"version":3,'],
  ] as const) {
    it(`refuses a 10 GiB sparse ${name} unread, with SPOOL_JOURNAL_UNTRUSTED`, async () => {
      await using tree = await tempTree({ 'a.txt': 'a\n' });
      await using keys = await tempTree();
      const keyDir = path.join(keys.dir, 'keys');
      await mkdir(tree.file('.ordo-spool'));
      const journal = tree.file(`.ordo-spool/${name}`);
      await writeFile(journal, head);
      await truncate(journal, 10 * 2 ** 30);
      const spool = createSpool({ root: tree.dir, keyDir });
      try {
        const started = process.memoryUsage().rss;
        expect(await codeOf(spool.read('a.txt'))).toBe('SPOOL_JOURNAL_UNTRUSTED');
        expect(await codeOf(recoverSpool(tree.dir, { keyDir }))).toBe('SPOOL_JOURNAL_UNTRUSTED');
        // Nothing of it was read into memory (a read of it would have cost gigabytes).
        expect(process.memoryUsage().rss - started).toBeLessThan(512 * 2 ** 20);
        // Left in place for the user to inspect, as every untrusted journal.
        expect((await stat(journal)).size).toBe(10 * 2 ** 30);
      } finally {
        await spool.close();
      }
    });
  }
});
