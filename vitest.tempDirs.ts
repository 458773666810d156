import { mkdtempSync, rmSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

/**
 * Test-only temp directories that clean up after the test file that made them: every dir made here is
 * removed by `removeTempDirs()`, which `vitest.cleanup.ts` runs after each test file (a setup file of every
 * package). A test that removes its dir itself loses nothing; one that forgets, or fails first, leaves
 * nothing behind.
 */
const made = new Set<string>();

/** A new empty directory under the OS temp dir, removed after the test file. */
export async function tempDir(prefix: string): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), prefix));
  made.add(dir);
  return dir;
}

/** {@link tempDir} for synchronous callers. */
export function tempDirSync(prefix: string): string {
  const dir = mkdtempSync(path.join(tmpdir(), prefix));
  made.add(dir);
  return dir;
}

/** Removes every directory made by {@link tempDir} in this test file. */
export async function removeTempDirs(): Promise<void> {
  const dirs = [...made];
  made.clear();
  await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true, maxRetries: 3 })));
}

/** {@link removeTempDirs} for an exit hook. */
export function removeTempDirsSync(): void {
  for (const dir of made) rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
  made.clear();
}
