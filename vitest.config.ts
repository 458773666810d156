import { defineConfig } from 'vitest/config';

/** One vitest project per package (and per example that has tests). */
export default defineConfig({
  test: {
    projects: ['packages/*/vitest.config.ts', 'examples/*/vitest.config.ts'],
  },
});
