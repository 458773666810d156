import { readFile } from 'node:fs/promises';
import { isOrdoError } from '@ordo/contracts';
import { expect, it } from 'vitest';
import { createSpool, type SpoolChange } from '../src/index.js';
import { tempTree } from './spoolFixtures.js';

it('runs the README snippet', async () => {
  await using tree = await tempTree({ 'src/a.ts': 'var a = 1;\n' });
  const root = tree.dir;
  const logs: string[] = [];
  const log = (line: string) => logs.push(line);

  // --- README snippet ---
  const noVar = async (change: SpoolChange) =>
    (await change.text())?.includes('var ') ? ['use let or const'] : [];

  await using spool = createSpool({
    root,
    validators: [noVar],
    commitGate: ({ bytes }) => bytes < 1_000_000,
  });
  await spool.replace('src/a.ts', (text = '') => text.replace('var ', 'let '));
  await spool.write('src/b.ts', 'export const b = 2;\n');
  log(await spool.diff()); // git-style: diff --git a/src/a.ts b/src/a.ts …
  try {
    const { committed, bytesWritten } = await spool.commit();
    log(`${committed.length} files, ${bytesWritten} bytes`);
  } catch (error) {
    if (isOrdoError(error, 'SPOOL_CONFLICT')) log(`someone else changed ${error.details?.path}`);
    else throw error;
  }
  // --- end of README snippet ---

  expect(logs[0]).toContain('-var a = 1;\n+let a = 1;\n');
  expect(logs[1]).toBe('2 files, 31 bytes');
  expect(await readFile(tree.file('src/a.ts'), 'utf8')).toBe('let a = 1;\n');
});
