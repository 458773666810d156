import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { afterEach, expect, it, vi } from 'vitest';

// Written where git, Biome and tsc never look (the test report folder), and removed afterwards.
const snippetFile = new URL('../.vitest-reports/readme-snippet.ts', import.meta.url);

afterEach(() => {
  rmSync(snippetFile, { force: true });
  vi.restoreAllMocks();
});

it('runs the README snippet and prints what its comments say', async () => {
  const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
  const code = /```ts\n([\s\S]*?)```/.exec(readme)?.[1] as string;
  const source = new URL('../src/index.ts', import.meta.url).pathname;
  mkdirSync(new URL('.', snippetFile), { recursive: true });
  writeFileSync(snippetFile, code.replace("from '@ordo/runtime'", `from '${source}'`));
  const lines: unknown[][] = [];
  vi.spyOn(console, 'log').mockImplementation((...args: unknown[]) => void lines.push(args));

  await import(snippetFile.href);

  expect(lines).toEqual([
    ['sneaky', 'SPOOL_VALIDATION_FAILED'],
    ['failed'],
    ['intro:committed sneaky:failed todo:committed index:committed'],
    [true],
    [3],
  ]);
});
