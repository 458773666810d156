import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { KeyedMutex } from '@ordo/contracts';
import picomatch from 'picomatch';
import { toWire, type WireFile } from './taskWire.js';

/** Paths the runtime never lets a task read or write, relative to the workspace. */
export const RESERVED_DIRS = ['.ordo-spool'] as const;

/** A task's view of the workspace: the declared files that existed when its level started. */
export interface TaskSnapshot {
  files: WireFile[];
  /** Declared literal paths that did not exist. */
  absent: string[];
}

/** Whether a declared entry is a glob (else a literal path). */
export function isGlob(pattern: string): boolean {
  return picomatch.scan(pattern).isGlob;
}

const matchers = new Map<string, (p: string) => boolean>();
const MAX_MATCHERS = 1024;

/**
 * A matcher for a task's declared files: literal paths and globs, dot files included. Compiled once per
 * pattern list (a plan's tasks often share one) and kept in a small bounded cache.
 */
export function declaredMatcher(patterns: readonly string[]): (p: string) => boolean {
  if (patterns.length === 0) return () => false;
  const key = patterns.join('\0');
  let matcher = matchers.get(key);
  if (matcher === undefined) {
    if (matchers.size >= MAX_MATCHERS) matchers.clear();
    matcher = picomatch([...patterns], { dot: true });
    matchers.set(key, matcher);
  }
  return matcher;
}

/**
 * Whether two lists of declared files may share a path: literal paths are compared, a literal with a glob
 * by matching, and two globs by their static base directories (disjoint bases cannot overlap; anything
 * else is assumed to).
 */
export function mayOverlap(a: readonly string[], b: readonly string[]): boolean {
  for (const x of a) {
    for (const y of b) {
      const gx = isGlob(x);
      const gy = isGlob(y);
      if (
        !gx && !gy ? x === y : !gx ? declaredMatcher([y])(x) : !gy ? declaredMatcher([x])(y) : basesMeet(x, y)
      ) {
        return true;
      }
    }
  }
  return false;
}

function basesMeet(x: string, y: string): boolean {
  const bx = `${picomatch.scan(x).base}/`;
  const by = `${picomatch.scan(y).base}/`;
  return bx === '/' || by === '/' || bx.startsWith(by) || by.startsWith(bx);
}

/**
 * The workspace as every task of one level sees it: the state after the previous level, whatever this
 * level's commits did meanwhile. That makes a task's input, and so its edits, independent of timing and
 * concurrency. It also decides conflicts in commit order: a path committed by an earlier task of the level
 * is a conflict for every later one.
 *
 * Before a commit writes a path, {@link beforeCommit} keeps the path's level-start content (small: only the
 * paths this level changes), and reads of that path are served from it.
 */
export class LevelView {
  readonly #root: string;
  readonly #mutex: KeyedMutex;
  readonly #ignore: readonly string[];
  /** Level-start content of the paths this level's commits touched (`null`: it did not exist). */
  #before = new Map<string, Buffer | null>();
  /** Paths claimed by a commit of this level, and by which task. */
  #claimed = new Map<string, string>();

  constructor(root: string, mutex: KeyedMutex, ignore: readonly string[]) {
    this.#root = root;
    this.#mutex = mutex;
    this.#ignore = ignore;
  }

  /** Starts a new level: the disk now is the level-start state. */
  begin(): void {
    this.#before = new Map();
    this.#claimed = new Map();
  }

  /** Reads the declared files of a task as they were when the level started. */
  async snapshot(patterns: readonly string[]): Promise<TaskSnapshot> {
    const literal = patterns.filter((p) => !isGlob(p));
    const globs = patterns.filter(isGlob);
    const candidates = new Set(literal.map((p) => path.posix.normalize(p)));
    if (globs.length > 0) {
      // Loaded on first use: a plan without globs never pays for it.
      const { glob } = await import('tinyglobby');
      for (const p of await glob(globs, {
        cwd: this.#root,
        dot: true,
        onlyFiles: true,
        ignore: [...this.#ignore],
      })) {
        candidates.add(p);
      }
      const matches = declaredMatcher(globs);
      for (const p of this.#before.keys()) if (matches(p)) candidates.add(p);
    }
    const files: WireFile[] = [];
    const absent: string[] = [];
    for (const rel of [...candidates].sort()) {
      const bytes = await this.#mutex.runExclusive(rel, () => this.#read(rel));
      if (bytes === null) {
        if (candidates.has(rel) && literal.includes(rel)) absent.push(rel);
      } else files.push({ path: rel, ...toWire(bytes) });
    }
    return { files, absent };
  }

  /**
   * Claims `paths` for `taskId` in commit order. Returns the paths an earlier task of this level already
   * claimed (a conflict: nothing is claimed then), or `[]` when the claim succeeded.
   */
  claim(taskId: string, paths: readonly string[]): Array<{ path: string; by: string }> {
    const taken = paths.flatMap((p) => {
      const by = this.#claimed.get(p);
      return by === undefined ? [] : [{ path: p, by }];
    });
    if (taken.length === 0) for (const p of paths) this.#claimed.set(p, taskId);
    return taken;
  }

  /** Keeps the level-start content of `paths` before a commit writes them; returns it. */
  async beforeCommit(paths: readonly string[]): Promise<Map<string, Buffer | null>> {
    const out = new Map<string, Buffer | null>();
    for (const rel of paths) {
      out.set(
        rel,
        await this.#mutex.runExclusive(rel, async () => {
          if (!this.#before.has(rel)) this.#before.set(rel, await readOrNull(path.join(this.#root, rel)));
          return this.#before.get(rel) ?? null;
        }),
      );
    }
    return out;
  }

  async #read(rel: string): Promise<Buffer | null> {
    if (this.#before.has(rel)) return this.#before.get(rel) ?? null;
    return readOrNull(path.join(this.#root, rel));
  }
}

/** A file's bytes, or `null` when it does not exist (or is not a file). */
export async function readOrNull(file: string): Promise<Buffer | null> {
  try {
    return await readFile(file);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR' || code === 'EISDIR') return null;
    throw error;
  }
}
