import { createRequire } from 'node:module';
import type * as Undici from 'undici';

const requireFromHere = createRequire(import.meta.url);
let loaded: typeof Undici | undefined;

/**
 * undici, loaded on first use and kept. Importing it costs about 19 MB of RSS, which a process that never
 * calls the Engine API (a run on subprocess workers) should not pay. Loaded with a synchronous `require`
 * (undici is CommonJS) so the engine client adds no await to its calls.
 */
export function undici(): typeof Undici {
  loaded ??= requireFromHere('undici') as typeof Undici;
  return loaded;
}
