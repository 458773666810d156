import { copyFile, link, open, readdir, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { processExists, syncDirectory } from '@ordo/contracts';

let counter = 0;

/** A temp name beside `file`, unique to this process and call; {@link removeStaleTemps} finds it. */
function tempName(file: string): string {
  return `${file}.${process.pid}.${++counter}.tmp`;
}

/** Options for {@link writeFileAtomic}. */
export interface AtomicWriteOptions {
  /** Before replacing `file`, keep its current content as `<file>.bak` (a hard link, so no copy). */
  backup?: boolean | undefined;
}

/**
 * Writes `data` to `file` so that a reader (or a crash at any instant) sees either the old file or the new
 * one, never a mix: write a temp file beside it, fsync it, rename it over `file`, fsync the directory.
 * With `backup`, the old file is first linked to `<file>.bak` (atomically replacing the previous backup).
 */
export async function writeFileAtomic(file: string, data: string, options: AtomicWriteOptions = {}) {
  const temp = tempName(file);
  try {
    const handle = await open(temp, 'w', 0o644);
    try {
      await handle.writeFile(data, 'utf8');
      await handle.sync();
    } finally {
      await handle.close();
    }
    if (options.backup) await keepBackup(file);
    await rename(temp, file);
  } catch (error) {
    await rm(temp, { force: true }).catch(() => {});
    throw error;
  }
  await syncDirectory(dirname(file));
}

async function keepBackup(file: string): Promise<void> {
  const temp = tempName(`${file}.bak`);
  try {
    await link(file, temp);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return; // nothing to keep yet
    // Filesystems without hard links: copy instead.
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EXDEV' && code !== 'EMLINK') throw error;
    await copyFile(file, temp);
  }
  await rename(temp, `${file}.bak`);
}

/** Removes the temp files that writers which are no longer alive left beside `file` (best effort). */
export async function removeStaleTemps(file: string): Promise<void> {
  const base = basename(file);
  const dir = dirname(file);
  const names = await readdir(dir).catch(() => [] as string[]);
  const stale = names.filter((name) => {
    if (!name.startsWith(`${base}.`) || !name.endsWith('.tmp')) return false;
    const match = /^(?:\.bak)?\.(\d+)\.\d+\.tmp$/.exec(name.slice(base.length));
    return match !== null && !processExists(Number(match[1]));
  });
  await Promise.all(stale.map((name) => rm(join(dir, name), { force: true }).catch(() => {})));
}
