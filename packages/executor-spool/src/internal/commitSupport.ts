import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { open, readdir, unlink } from 'node:fs/promises';
import path from 'node:path';
import { processExists, syncDirectory } from '@ordo/contracts';
import { SpoolError, SpoolErrorCode } from '../errors.js';
import { readAllFd } from './content.js';
import { closeFd, fstatFd, fsyncFd, openFd } from './fd.js';
import type { Limiter } from './limiter.js';
import type { Tree } from './tree.js';

/*
 * What both commit methods (rename, in place) share: where their journals live, which of them are running,
 * and small file system helpers.
 */

/** The directory under the root that holds the journals and backups of commits in progress. */
export const JOURNAL_DIR = '.ordo-spool';

/** Code points HFS+ ignores in names (as git's `.git` checks do): zero-width and direction marks, BOM. */
const IGNORABLE = /[\u200B-\u200F\u202A-\u202E\u2060-\u2064\u206A-\u206F\uFEFF]/g;

/**
 * Whether a path segment names the journal directory, in any case or Unicode compatibility form (a
 * case-insensitive or normalizing file system reaches the same directory by those names), with or without
 * trailing dots and spaces, and with any code point HFS+ ignores.
 */
export const isReservedName = (name: string) =>
  name
    .normalize('NFKC')
    .replace(IGNORABLE, '')
    .toLowerCase()
    .replace(/[. ]+$/, '') === JOURNAL_DIR;

/** Commits of this process in progress (their journal paths): recovery leaves them alone. */
export const active = new Set<string>();

/** A random tag for journal and temp file names. */
export const tag = () => randomBytes(6).toString('hex');

/** fsyncs a directory (shared with the rest of ordo). */
export const syncDir = syncDirectory;

/** Runs `fn` on every item (bounded by `limit`), waits for all, and returns the first rejection reason. */
export const settle = async <T>(items: readonly T[], limit: Limiter, fn: (item: T) => Promise<unknown>) => {
  const results = await Promise.allSettled(items.map((item) => limit(() => fn(item))));
  return results.find((r): r is PromiseRejectedResult => r.status === 'rejected')?.reason as unknown;
};

/** The directory part of a `/`-separated relative path (`''` for the root). */
export const dirOf = (rel: string) => {
  const slash = rel.lastIndexOf('/');
  return slash < 0 ? '' : rel.slice(0, slash);
};

/** The last segment of a `/`-separated relative path. */
export const nameOf = (rel: string) => rel.slice(rel.lastIndexOf('/') + 1);

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

/** A journal a crashed commit may have left. */
export interface LeftJournal {
  /** Its file name in {@link JOURNAL_DIR}. */
  name: string;
  /** Its real path (what {@link active} holds and messages name). */
  path: string;
  /** The path to open it by (through the tree's descriptors). */
  at: string;
}

/** The real path of the journal `name` under the real root `root`: its key in {@link active}. */
export const journalPathOf = (root: string, name: string) => path.join(root, JOURNAL_DIR, name);

/**
 * The journals under `<root>/.ordo-spool` whose names end with `suffix`, but for those of commits running in
 * this process; none when the directory is missing.
 */
export async function leftJournals(tree: Tree, suffix: string): Promise<LeftJournal[]> {
  const dir = await tree.dir(JOURNAL_DIR, { journal: true }).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOTDIR') return undefined;
    throw error;
  });
  if (dir === undefined) return [];
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (error) {
    ignoreMissing(error);
    return [];
  }
  return names
    .filter((name) => name.endsWith(suffix))
    .map((name) => ({ name, path: journalPathOf(tree.root, name), at: `${dir}/${name}` }))
    .filter((journal) => !active.has(journal.path));
}

/** A journal larger than this spool ever writes (for its kind): refused unread, as not ours. */
export interface OversizedJournal {
  oversized: number;
}

/**
 * The bytes of a journal file (never following a symlink, never blocking on a FIFO); `undefined` when it is
 * gone, `'irregular'` when something else than a regular file has its name, and `{ oversized }` (its size,
 * nothing read) when it is larger than `maxBytes`: a journal planted to exhaust memory (a sparse file of
 * gigabytes costs no disk) is refused before a byte of it is read.
 */
export async function readJournal(
  at: string,
  maxBytes: number,
): Promise<Buffer | 'irregular' | OversizedJournal | undefined> {
  let fd: number;
  try {
    fd = await openFd(at, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return undefined;
    if (code === 'ELOOP' || code === 'ENXIO' || code === 'EOPNOTSUPP') return 'irregular';
    throw error;
  }
  try {
    const info = await fstatFd(fd);
    if (!info.isFile()) return 'irregular';
    if (info.size > maxBytes) return { oversized: info.size };
    return await readAllFd(fd, info.size);
  } finally {
    await closeFd(fd);
  }
}

/** fsyncs the tree's directory `rel` (by its descriptor when it has one). */
export async function syncTreeDir(tree: Tree, rel: string): Promise<void> {
  const fd = await tree.fdOf(rel);
  if (fd === undefined) {
    const at = rel === '' ? tree.root : await tree.dir(rel, { journal: rel.startsWith(JOURNAL_DIR) });
    if (at !== undefined) await syncDir(at);
    return;
  }
  await fsyncFd(fd).catch(() => {
    // Some file systems cannot fsync a directory; the renames are still atomic there.
  });
}

/**
 * Whether writing a journal failed because another commit removed the (then empty) journal directory in
 * between: creating the file then reports ENOENT. Worth another try, with the directory made again.
 */
const lostJournalDir = (error: unknown, attempt: number) => {
  const code = (error as NodeJS.ErrnoException).code;
  return (code === 'ENOENT' || code === 'ENOTDIR') && attempt < 5;
};

/**
 * Writes `data` to `file`, which must not exist yet, readable by its owner only (a rollback journal holds
 * the old bytes of files that may be private); fsynced when `fsync`.
 */
export async function writeDurably(file: string, data: string | Buffer, fsync: boolean): Promise<void> {
  const handle = await open(file, 'wx', 0o600);
  try {
    await handle.writeFile(data);
    if (fsync) await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * Writes a commit's journal `name` as a new file in the tree's journal directory (made if missing); fsynced
 * with its directory when `fsync`. Tries again when another commit removed the journal directory meanwhile;
 * on failure removes the journal and throws.
 */
export async function writeJournal(tree: Tree, name: string, data: Buffer, fsync: boolean): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    let at: string | undefined;
    try {
      at = `${await tree.dir(JOURNAL_DIR, { create: true, journal: true })}/${name}`;
      await writeDurably(at, data, fsync);
      if (fsync) await syncTreeDir(tree, JOURNAL_DIR);
      return;
    } catch (error) {
      if (lostJournalDir(error, attempt)) {
        tree.forget(JOURNAL_DIR);
        continue;
      }
      if (at !== undefined) await unlink(at).catch(() => {});
      throw error;
    }
  }
}

/**
 * Whether the process that wrote a commit journal may still be at work on it: another process that is
 * alive. Our own pid names one a commit of this process left behind (a restore that failed, which
 * `recoverSpool()` is then asked to finish), so it counts as gone.
 */
export function otherWriterAlive(pid: number): boolean {
  return pid !== process.pid && processExists(pid);
}
