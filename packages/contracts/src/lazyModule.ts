import { createRequire } from 'node:module';

/**
 * A CommonJS module loaded on the first call and kept: for a heavy dependency (undici costs about 19 MB of
 * RSS) that a process may never use. The load is a synchronous `require`, so callers stay synchronous.
 * `from` is the caller's `import.meta.url`: the module resolves from the package that depends on it.
 *
 * @example
 * ```ts
 * import type * as Undici from 'undici';
 * export const undici = lazyModule<typeof Undici>(import.meta.url, 'undici');
 * undici().fetch('http://127.0.0.1:8080/');
 * ```
 */
export function lazyModule<T>(from: string | URL, id: string): () => T {
  let loaded: { module: T } | undefined;
  return () => {
    loaded ??= { module: createRequire(from)(id) as T };
    return loaded.module;
  };
}
