import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

/**
 * How to start `@ordo/runtime/worker` with this Node: the built `dist/worker.js`, or, when the runtime
 * itself runs from source (tests, the `@ordo/source` condition), `src/worker.ts` through tsx.
 */
export function workerCommand(): { command: string; args: string[] } {
  const here = fileURLToPath(import.meta.url);
  if (here.endsWith('.ts')) {
    const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
    return {
      command: process.execPath,
      args: ['--conditions=@ordo/source', '--import', tsx, path.join(path.dirname(here), 'worker.ts')],
    };
  }
  return { command: process.execPath, args: [path.join(path.dirname(here), 'worker.js')] };
}
