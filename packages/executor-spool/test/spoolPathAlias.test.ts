import { readdir } from 'node:fs/promises';
import path from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { tempDir } from '../../../vitest.tempDirs.js';
import { createSpool } from '../src/index.js';
import { normalizeSpoolPath } from '../src/internal/paths.js';
import { codeOf, tempTree } from './spoolFixtures.js';

/*
 * A path with a lone UTF-16 surrogate has no UTF-8 form: Node writes it as U+FFFD, so 'a\uD800' and
 * 'a\uDBFF' were two spool paths (two staged entries, two diffs) naming ONE file, and a commit of both
 * silently kept one of them. Such a path is SPOOL_INVALID_ARGUMENT now, for every operation.
 */

describe('paths that name the same file by two strings', () => {
  it('a lone surrogate is SPOOL_INVALID_ARGUMENT for every operation, and nothing is written', async () => {
    await using tree = await tempTree({ 'a.txt': 'a\n' });
    const keys = await tempDir('ordo-spool-keys-');
    await using spool = createSpool({ root: tree.dir, keyDir: path.join(keys, 'keys') });
    try {
      for (const p of ['a\uD800', 'a\uDBFF', 'x/\uDC00/y', '\uDFFF.txt']) {
        expect(await codeOf(spool.write(p, 'x'))).toBe('SPOOL_INVALID_ARGUMENT');
        expect(await codeOf(spool.read(p))).toBe('SPOOL_INVALID_ARGUMENT');
        expect(await codeOf(spool.exists(p))).toBe('SPOOL_INVALID_ARGUMENT');
        expect(await codeOf(spool.remove(p))).toBe('SPOOL_INVALID_ARGUMENT');
        expect(await codeOf(spool.batch([{ op: 'write', path: p, data: 'x' }]))).toBe(
          'SPOOL_INVALID_ARGUMENT',
        );
      }
      expect(spool.touched()).toEqual([]);
      await spool.commit();
      expect(await readdir(tree.dir)).toEqual(['a.txt']);
      // A well-formed pair is a normal character.
      await spool.write('😀.txt', 'smile\n');
      await spool.commit();
      expect((await readdir(tree.dir)).sort()).toEqual(['a.txt', '😀.txt']);
    } finally {
      const { rm } = await import('node:fs/promises');
      await rm(keys, { recursive: true, force: true });
    }
  });

  it('property: two accepted paths that differ as strings differ as UTF-8 bytes', () => {
    const accepted = (p: string) => {
      try {
        return normalizeSpoolPath(p);
      } catch {
        return undefined;
      }
    };
    fc.assert(
      fc.property(
        fc.string({ unit: 'binary', maxLength: 12 }),
        fc.string({ unit: 'binary', maxLength: 12 }),
        (a, b) => {
          const na = accepted(a);
          const nb = accepted(b);
          if (na === undefined || nb === undefined || na === nb) return;
          expect(Buffer.from(na).equals(Buffer.from(nb))).toBe(false);
        },
      ),
      { numRuns: 2000 },
    );
    // The pair that collided before the fix, directly.
    expect(accepted('a\uD800')).toBeUndefined();
  });
});
