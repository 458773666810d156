import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { tempDir } from '../../../../vitest.tempDirs.js';

/** A temp workspace holding `files` (path → content). */
export async function tempWorkspace(files: Record<string, string> = {}): Promise<string> {
  const dir = await tempDir('ordo-runtime-ws-');
  for (const [rel, content] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(dir, rel)), { recursive: true });
    await writeFile(path.join(dir, rel), content);
  }
  return dir;
}

/** Every file under `dir` (path → content), skipping the runtime's `.ordo` and `.ordo-spool` dirs. */
export async function readTree(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const rel = path.relative(dir, path.join(entry.parentPath, entry.name)).split(path.sep).join('/');
    if (rel.startsWith('.ordo/') || rel.startsWith('.ordo-spool/')) continue;
    out[rel] = await readFile(path.join(dir, rel), 'utf8');
  }
  return Object.fromEntries(Object.entries(out).sort(([a], [b]) => (a < b ? -1 : 1)));
}

/** The absolute path of a file under `test/fixtures`. */
export function fixture(name: string): string {
  return fileURLToPath(new URL(`../fixtures/${name}`, import.meta.url));
}

/** Resolves with the first event `onEvent` sees that matches. */
export function eventWaiter<E extends { type: string }>() {
  const waiters: Array<{ match: (e: E) => boolean; resolve: (e: E) => void }> = [];
  return {
    onEvent: (event: E) => {
      for (const w of [...waiters]) {
        if (w.match(event)) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(event);
        }
      }
    },
    next: (match: (e: E) => boolean) => new Promise<E>((resolve) => waiters.push({ match, resolve })),
  };
}
