/** A plain object node of a configuration tree. */
export type Tree = Record<string, unknown>;

/** Whether `value` is a plain object (not null, not an array). */
export function isTree(value: unknown): value is Tree {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Freezes `value` and everything under it; returns it. */
export function deepFreeze<T>(value: T): T {
  if (isTree(value)) for (const child of Object.values(value)) deepFreeze(child);
  return Object.freeze(value);
}

/** The value at a dotted-path's keys, or `undefined` if any step is missing. */
export function getPath(tree: unknown, path: readonly string[]): unknown {
  let node = tree;
  for (const key of path) node = isTree(node) && Object.hasOwn(node, key) ? node[key] : undefined;
  return node;
}
