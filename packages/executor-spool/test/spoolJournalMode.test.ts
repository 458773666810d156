import { chmod, readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { tempDir } from '../../../vitest.tempDirs.js';
import { createSpool } from '../src/index.js';
import { tempTree } from './spoolFixtures.js';

/*
 * An in-place commit's rollback journal holds the old bytes of every file it overwrites, and was created
 * with the default mode (0666 less the umask, so 0644): the content of a 0600 file became readable by every
 * local user for as long as the commit ran, and after a crash until the next recovery. Journals (and the
 * marker) are now 0600, in a journal directory made 0700.
 */

describe('journals are private to their owner', () => {
  for (const commitMode of ['in-place', 'rename'] as const) {
    it(`${commitMode}: a 0600 file's old bytes are not readable by others in the journal`, async () => {
      await using tree = await tempTree({ 'private.txt': 'private key material\n' });
      await chmod(tree.file('private.txt'), 0o600);
      const keys = await tempDir('ordo-spool-keys-');
      const seen: Array<{ name: string; mode: number }> = [];
      const look = async () => {
        const dir = tree.file('.ordo-spool');
        seen.push({ name: '.ordo-spool/', mode: (await stat(dir)).mode & 0o777 });
        for (const name of await readdir(dir, { recursive: true })) {
          const info = await stat(path.join(dir, name));
          if (info.isFile()) seen.push({ name, mode: info.mode & 0o777 });
        }
      };
      const spool = createSpool({
        root: tree.dir,
        keyDir: path.join(keys, 'keys'),
        commitMode,
        testHooks: { afterPrepare: look },
      });
      try {
        await spool.write('private.txt', 'rotated\n');
        await spool.commit();
        expect(await readFile(tree.file('private.txt'), 'utf8')).toBe('rotated\n');
        expect(seen.length).toBeGreaterThan(1);
        // Nothing there that group or others may read (a backup is a hard link: the file's own 0600).
        for (const { name, mode } of seen) expect({ name, mode: mode & 0o077 }).toEqual({ name, mode: 0 });
      } finally {
        await spool.close();
        const { rm } = await import('node:fs/promises');
        await rm(keys, { recursive: true, force: true });
      }
    });
  }
});
