import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { expect, it } from 'vitest';
import { main } from '../src/main.js';

it('stages, diffs, refuses, gates, commits and reports a racing edit as SPOOL_CONFLICT', async () => {
  const lines: string[] = [];
  const demo = await main((line) => lines.push(line));

  expect(demo.diff).toContain('diff --git a/src/config.ts b/src/config.ts');
  expect(demo.diff).toContain('-export const retries = 3;\n+export const retries = 5;');
  expect(demo.diff).toContain('new file mode 100644');
  expect(demo.diff).toContain('deleted file mode 100644');

  expect(demo.issues).toEqual([
    expect.objectContaining({ path: 'src/client.ts', line: 1, message: 'use const or let' }),
    expect.objectContaining({ path: 'src/client.ts', message: 'remove console.log before committing' }),
  ]);
  expect(demo.gateRefused).toBe(true);
  expect(demo.committed).toEqual(['src/client.ts', 'src/config.ts', 'src/old.ts']);
  expect(demo.conflictPath).toBe('src/config.ts');
  // Both edits are there: the conflict made the racer re-stage instead of overwriting the first commit.
  expect(demo.finalConfig).toBe('export const retries = 5;\nexport const timeoutMs = 1000;\n');

  const output = lines.join('\n');
  expect(output).toContain('SPOOL_VALIDATION_FAILED: The commit was blocked by 2 issue(s)');
  expect(output).toContain('the commit gate refused the commit');
  expect(output).toContain('SPOOL_CONFLICT: src/config.ts changed on disk since it was staged');
});

it('runs as `pnpm start`', async () => {
  const { stdout } = await promisify(execFile)('pnpm', ['-s', 'start'], {
    cwd: join(import.meta.dirname, '..'),
  });
  expect(stdout).toContain('SPOOL_CONFLICT: src/config.ts changed on disk since it was staged');
}, 60_000); // tsx compiles the example on start: slow on a loaded machine
