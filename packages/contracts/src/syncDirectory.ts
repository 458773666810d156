import { open } from 'node:fs/promises';

/**
 * fsyncs a directory, so the names created, renamed or removed in it survive a crash or a power loss: the
 * step after a rename that makes a durable write durable. A file system that cannot fsync a directory (some
 * network ones) is left as it is, since renames there are still atomic; failing to open `dir` is an error.
 *
 * @example
 * ```ts
 * await rename(temp, file);
 * await syncDirectory(path.dirname(file));
 * ```
 */
export async function syncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } catch {
    // EINVAL / ENOTSUP / EISDIR on file systems without directory fsync.
  } finally {
    await handle.close();
  }
}
