import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it, vi } from 'vitest';

const PACKAGE = join(import.meta.dirname, '..');

it("the README's resilience policies snippet is the example this test runs, and it runs", async () => {
  const example = readFileSync(join(PACKAGE, 'test/fixtures/policies-example.ts'), 'utf8');
  const readme = readFileSync(join(PACKAGE, 'README.md'), 'utf8');
  expect(readme).toContain(`\`\`\`ts\n${example}\`\`\``);
  const log = vi.spyOn(console, 'log').mockImplementation(() => {});
  await import('./fixtures/policies-example.js');
  expect(log).toHaveBeenCalledWith({ price: 42, stale: false }, 3, true);
  log.mockRestore();
});
