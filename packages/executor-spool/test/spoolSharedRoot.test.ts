import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { createSpool, type SpoolCommitMode } from '../src/index.js';
import { tempTree } from './spoolFixtures.js';

/*
 * Many spools over one root commit at once, as the runtime does with one spool per task: each commit makes
 * the shared journal directory and removes it when it is empty again, so one commit's mkdir races another's
 * rmdir. Node's recursive mkdir then fails with ENOENT or ENOTDIR; a commit must retry, never fail for it.
 */
describe.each<SpoolCommitMode>([
  'rename',
  'in-place',
])('concurrent spools over one root (%s)', (commitMode) => {
  it('commits every spool although they share (and tidy away) the journal directory', async () => {
    await using tree = await tempTree({});
    for (let round = 0; round < 10; round++) {
      const spools = Array.from({ length: 40 }, () =>
        createSpool({ root: tree.dir, commitMode, fsync: false }),
      );
      try {
        await Promise.all(
          spools.map((spool, i) => spool.write(`r${round}/f${i}.txt`, `round ${round} file ${i}\n`)),
        );
        // Staggered starts, so that commits begin while others end (and remove the journal directory).
        const results = await Promise.allSettled(
          spools.map((spool, i) =>
            new Promise((resolve) => setTimeout(resolve, i % 8)).then(() => spool.commit()),
          ),
        );
        const failures = results.filter((r) => r.status === 'rejected').map((r) => String(r.reason));
        expect(failures).toEqual([]);
      } finally {
        await Promise.all(spools.map((spool) => spool.close()));
      }
      for (let i = 0; i < 40; i++) {
        expect(await readFile(path.join(tree.dir, `r${round}/f${i}.txt`), 'utf8')).toBe(
          `round ${round} file ${i}\n`,
        );
      }
    }
  });
});
