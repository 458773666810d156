import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { tempDirSync } from '../../../../vitest.tempDirs.js';

/** The absolute path of a file under `test/fixtures`. */
export function fixture(name: string): string {
  return fileURLToPath(new URL(`../fixtures/${name}`, import.meta.url));
}

const bundles = new Map<string, Promise<string>>();

/**
 * A fixture worker bundled (with `src/worker.ts` and `@ordo/contracts` from source) into one plain `.mjs`
 * in a temp dir, once per test file: a child then starts in tens of ms instead of the second tsx takes to
 * transpile on a busy machine.
 */
export function fixtureWorkerEntry(name = 'worker.ts'): Promise<string> {
  let bundle = bundles.get(name);
  if (bundle === undefined) {
    bundle = (async () => {
      const outfile = join(tempDirSync('ordo-governance-fixture-'), 'worker.mjs');
      await build({
        entryPoints: [fixture(name)],
        outfile,
        bundle: true,
        platform: 'node',
        format: 'esm',
        target: 'node20',
        conditions: ['@ordo/source'],
        logLevel: 'silent',
      });
      return outfile;
    })();
    bundles.set(name, bundle);
  }
  return bundle;
}
