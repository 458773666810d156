import { execFile } from 'node:child_process';
import { mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { isOrdoError } from '@ordo/contracts';
import { tempDir } from '../../../vitest.tempDirs.js';

const run = promisify(execFile);

/** A temp directory filled from an inline object; removed on dispose. */
export async function tempTree(files: Record<string, string | Uint8Array> = {}) {
  const dir = await tempDir('ordo-spool-test-');
  await writeTree(dir, files);
  return {
    dir,
    file: (p: string) => path.join(dir, p),
    async [Symbol.asyncDispose]() {
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export async function writeTree(dir: string, files: Record<string, string | Uint8Array>) {
  for (const [p, content] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(dir, p)), { recursive: true });
    await writeFile(path.join(dir, p), content);
  }
}

/**
 * `git diff --no-index` of `left/<p>` and `right/<p>` under `dir` (either may be missing), with the
 * `left/` and `right/` prefixes taken out so the paths read as `a/<p>` and `b/<p>`.
 */
export async function gitDiff(dir: string): Promise<string> {
  const env = {
    ...process.env,
    HOME: dir,
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_CONFIG_GLOBAL: '/dev/null',
    LC_ALL: 'C',
  };
  try {
    await run('git', ['diff', '--no-index', '--no-color', '--no-ext-diff', 'left', 'right'], {
      cwd: dir,
      env,
    });
    return '';
  } catch (error) {
    const { code, stdout } = error as { code?: number; stdout?: string };
    if (code !== 1 || stdout === undefined) throw error;
    return stdout.replace(/([ab])\/(?:left|right)\//g, '$1/');
  }
}

/** The OrdoError code `promise` rejects with, `undefined` if it resolves, a marker if the error is not an OrdoError. */
export async function codeOf(promise: Promise<unknown>): Promise<string | undefined> {
  try {
    await promise;
    return undefined;
  } catch (error) {
    return isOrdoError(error) ? error.code : `not an ordo error: ${String(error)}`;
  }
}

/** Every entry under `dir`, dot files and the journal directory included, sorted. */
export const everything = async (dir: string) => (await readdir(dir, { recursive: true })).sort();
