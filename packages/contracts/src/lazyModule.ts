import { createRequire } from 'node:module';
import path from 'node:path';

/** Options of {@link lazyModule}. */
export interface LazyModuleOptions {
  /**
   * Load the ES module build the package's `exports` name for `import` (through require(esm)) when it has
   * one: the instance a static `import` of the same package elsewhere in the process holds, so the process
   * keeps one copy instead of that one and the CommonJS build. While an `import()` elsewhere is still loading
   * that build, Node refuses to `require` it (`ERR_INTERNAL_ASSERTION` on Node 20 and 22,
   * `ERR_REQUIRE_ESM_RACE_CONDITION` on Node 24); the CommonJS build serves then.
   * @default false
   */
  preferImport?: boolean | undefined;
}

/**
 * A dependency loaded on the first call and kept: for a heavy one (undici costs about 19 MB of RSS) that a
 * process may never use. The load is a synchronous `require`, so callers stay synchronous; it is the
 * CommonJS build unless `preferImport` says otherwise. `from` is the caller's `import.meta.url`: the module
 * resolves from the package that depends on it.
 *
 * @example
 * ```ts
 * import type * as Undici from 'undici';
 * export const undici = lazyModule<typeof Undici>(import.meta.url, 'undici');
 * undici().fetch('http://127.0.0.1:8080/');
 * ```
 */
export function lazyModule<T>(from: string | URL, id: string, options: LazyModuleOptions = {}): () => T {
  let loaded: { module: T } | undefined;
  return () => {
    if (!loaded) {
      const require = createRequire(from);
      const esm = options.preferImport ? importBuildOf(require, id) : undefined;
      loaded = { module: (esm ?? require(id)) as T };
    }
    return loaded.module;
  };
}

/** How Node refuses to `require` an ES module an `import()` is still loading: Node 20 and 22, then Node 24. */
const MID_LOAD_CODES = new Set(['ERR_INTERNAL_ASSERTION', 'ERR_REQUIRE_ESM_RACE_CONDITION']);

/**
 * The ES module build of package `id` loaded through require(esm), or `undefined` when the package names
 * none for `import` (or does not export its package.json), or when that build is mid-load in this process.
 */
function importBuildOf(require: NodeJS.Require, id: string): unknown {
  let entry: string;
  try {
    const manifestPath = require.resolve(`${id}/package.json`);
    const manifest = require(manifestPath) as { exports?: Record<string, unknown> };
    const root = manifest.exports?.['.'] as { import?: string | { default?: string } } | undefined;
    const target = typeof root?.import === 'string' ? root.import : root?.import?.default;
    if (typeof target !== 'string') return undefined;
    entry = path.join(path.dirname(manifestPath), target);
  } catch {
    return undefined;
  }
  try {
    return require(entry);
  } catch (error) {
    // An import() elsewhere has begun loading this build and not finished: Node cannot hand it out yet.
    if (MID_LOAD_CODES.has((error as NodeJS.ErrnoException).code ?? '')) return undefined;
    throw error;
  }
}
