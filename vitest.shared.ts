import { fileURLToPath } from 'node:url';
import { defineProject } from 'vitest/config';

/**
 * The vitest settings every package shares: sibling packages are read from source through the
 * `@ordo/source` export condition, so tests never need a build; each run writes a JSON report
 * that `.ci/run` sums into its closing line; each run works in a private temp root it removes at the end
 * (`vitest.tmpdir.ts`), and the dirs a test file made with `tempDir()` go when the file ends (`vitest.cleanup.ts`).
 */
export function ordoProject(name: string) {
  return defineProject({
    resolve: { conditions: ['@ordo/source'] },
    ssr: { resolve: { conditions: ['@ordo/source'], externalConditions: ['@ordo/source'] } },
    test: {
      name,
      environment: 'node',
      include: ['test/**/*.test.ts'],
      globalSetup: [fileURLToPath(new URL('./vitest.tmpdir.ts', import.meta.url))],
      setupFiles: [fileURLToPath(new URL('./vitest.cleanup.ts', import.meta.url))],
      testTimeout: 20_000,
      hookTimeout: 20_000,
    },
  });
}
