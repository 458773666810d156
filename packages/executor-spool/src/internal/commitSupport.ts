import { randomBytes } from 'node:crypto';
import { mkdir, open, readdir, unlink } from 'node:fs/promises';
import path from 'node:path';
import { SpoolError, SpoolErrorCode } from '../errors.js';
import type { Limiter } from './limiter.js';

/*
 * What both commit methods (rename, in place) share: where their journals live, which of them are running,
 * and small file system helpers.
 */

/** The directory under the root that holds the journals and backups of commits in progress. */
export const JOURNAL_DIR = '.ordo-spool';

/** Commits of this process in progress (their journal paths): recovery leaves them alone. */
export const active = new Set<string>();

/** A random tag for journal and temp file names. */
export const tag = () => randomBytes(6).toString('hex');

/** fsyncs a directory, so the names created or removed in it survive a crash. */
export async function syncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } catch {
    // Some file systems cannot fsync a directory; the renames are still atomic there.
  } finally {
    await handle.close();
  }
}

/**
 * `mkdir -p` run once per directory, however many files of a commit land in it. `made` maps each directory
 * to its `mkdir` promise, which resolves to the first directory it created (undefined if it existed).
 */
export function dirMaker() {
  const made = new Map<string, Promise<string | undefined>>();
  const ensure = (dir: string) => {
    let once = made.get(dir);
    if (!once) {
      once = mkdir(dir, { recursive: true });
      made.set(dir, once);
    }
    return once;
  };
  return { made, ensure };
}

/** Runs `fn` on every item (bounded by `limit`), waits for all, and returns the first rejection reason. */
export const settle = async <T>(items: readonly T[], limit: Limiter, fn: (item: T) => Promise<unknown>) => {
  const results = await Promise.allSettled(items.map((item) => limit(() => fn(item))));
  return results.find((r): r is PromiseRejectedResult => r.status === 'rejected')?.reason as unknown;
};

/** Swallows ENOENT, rethrows anything else. */
export const ignoreMissing = (error: unknown) => {
  if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
};

/** `SPOOL_COMMIT_FAILED`, saying `what` went wrong and that the staged edits are kept. */
export const failed = (cause: unknown, what: string) =>
  new SpoolError(
    SpoolErrorCode.COMMIT_FAILED,
    `The commit failed ${what}. The staged edits are kept: fix the cause (${(cause as Error)?.message ?? String(cause)}) and commit again.`,
    { cause },
  );

/** Whether a process of this host is still running. */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** A journal a crashed commit may have left: its file name and its path. */
export interface LeftJournal {
  name: string;
  path: string;
}

/**
 * The journals under `<root>/.ordo-spool` whose names end with `suffix`, but for those of commits running in
 * this process; none when the directory is missing.
 */
export async function leftJournals(root: string, suffix: string): Promise<LeftJournal[]> {
  const journalDir = path.join(root, JOURNAL_DIR);
  let names: string[];
  try {
    names = await readdir(journalDir);
  } catch (error) {
    ignoreMissing(error);
    return [];
  }
  return names
    .filter((name) => name.endsWith(suffix))
    .map((name) => ({ name, path: path.join(journalDir, name) }))
    .filter((journal) => !active.has(journal.path));
}

/**
 * Whether writing a journal failed because another commit removed the (then empty) journal directory in
 * between: `mkdir` then reports ENOENT, or ENOTDIR when the directory vanished between its EEXIST and its
 * check. Worth another try.
 */
const lostJournalDir = (error: unknown, attempt: number) => {
  const code = (error as NodeJS.ErrnoException).code;
  return (code === 'ENOENT' || code === 'ENOTDIR') && attempt < 5;
};

/** Writes `data` to `file`, which must not exist yet; fsynced when `fsync`. */
export async function writeDurably(file: string, data: string | Buffer, fsync: boolean): Promise<void> {
  const handle = await open(file, 'wx');
  try {
    await handle.writeFile(data);
    if (fsync) await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * Writes a commit's journal as a new file, after making `dir` (its directory, or one under it); fsynced
 * with its directory when `fsync`. Tries again when another commit removed the journal directory meanwhile;
 * on failure removes the journal and throws.
 */
export async function writeJournal(
  journalPath: string,
  data: string | Buffer,
  fsync: boolean,
  dir = path.dirname(journalPath),
): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await mkdir(dir, { recursive: true });
      await writeDurably(journalPath, data, fsync);
      if (fsync) await syncDir(path.dirname(journalPath));
      return;
    } catch (error) {
      if (lostJournalDir(error, attempt)) continue;
      await unlink(journalPath).catch(() => {});
      throw error;
    }
  }
}
