import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { afterEach, expect, it, vi } from 'vitest';

// Written where git, Biome and tsc never look (the test report folder), and removed afterwards.
const snippetFile = new URL('../.vitest-reports/readme-snippet.mjs', import.meta.url);

afterEach(() => {
  rmSync(snippetFile, { force: true });
  vi.restoreAllMocks();
});

it('runs the README snippet, plain JavaScript that parses on this Node, and prints what its comments say', async () => {
  const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
  const code = /```js\n([\s\S]*?)```/.exec(readme)?.[1] as string;
  expect(code).toContain('createScheduler');
  const source = new URL('../src/index.ts', import.meta.url).pathname;
  mkdirSync(new URL('.', snippetFile), { recursive: true });
  writeFileSync(snippetFile, code.replace("from '@ordo/kernel-scheduler'", `from '${source}'`));
  // Node itself parses it (no TypeScript transform): `await using` or a type annotation would fail here.
  execFileSync(process.execPath, ['--check', snippetFile.pathname]);
  const lines: unknown[][] = [];
  vi.spyOn(console, 'log').mockImplementation((...args: unknown[]) => void lines.push(args));

  await import(snippetFile.href);

  expect(lines[0]).toEqual(['fetch-7']);
  expect(lines[1]?.[0]).toMatch(/^[0-9a-f]{64}$/);
  expect(lines.slice(2)).toEqual([[true], [false], ['failed', 24]]);
});
