import { createHash } from 'node:crypto';
import { constants } from 'node:fs';
import { readFile, rmdir, unlink } from 'node:fs/promises';
import { hostname } from 'node:os';
import path from 'node:path';
import type { Logger } from '@ordo/contracts';
import {
  active,
  dirMaker,
  failed,
  ignoreMissing,
  isAlive,
  JOURNAL_DIR,
  leftJournals,
  settle,
  syncDir,
  tag,
  writeJournal,
} from './commitSupport.js';
import { fchmodFd, fsyncFd, withFd, writeAllFd } from './fd.js';
import type { Limiter } from './limiter.js';

/** One file of an in-place commit: small enough that its old and new content sit in memory. */
export interface InPlaceFile {
  /** The spool path, for messages. */
  path: string;
  abs: string;
  /** The new content; `null` deletes the file. */
  content: Buffer | null;
  /** Its permission bits when staged (`undefined` for a file the commit adds). */
  mode: number | undefined;
}

/**
 * What `verify` found on disk: the file's bytes (it is still the staged base), `'absent'` (still missing,
 * as staged), or `false` (stale).
 */
export type Snapshot = Buffer | 'absent' | false;

/** Settings of {@link commitInPlace}. */
export interface InPlaceSettings<F extends InPlaceFile> {
  root: string;
  fsync: boolean;
  limit: Limiter;
  logger: Logger;
  /** Checks one file against the disk and returns what it read; a throw ends the commit with that error. */
  verify: (file: F) => Promise<Snapshot>;
  beforeReplace?: ((path: string, index: number) => void | Promise<void>) | undefined;
  /** Test-only: called once the rollback journal is written, before any file is touched. */
  afterPrepare?: (() => void | Promise<void>) | undefined;
}

/** The extension of an in-place commit's rollback journal in {@link JOURNAL_DIR}. */
const ROLLBACK = '.rollback';
const MAGIC = 'ordo-spool-rollback 1\n';

/** The header of a rollback journal; the old contents follow it, back to back. */
interface RollbackHeader {
  pid: number;
  host: string;
  /** Bytes of old content after the header: a shorter file is a journal torn by a crash. */
  bodyBytes: number;
  files: Array<{ abs: string; old: { size: number; mode: number } | null }>;
}

/** A file as it was before the commit: `old` is `null` for a file the commit creates. */
interface Before {
  abs: string;
  old: { bytes: Buffer; mode: number } | null;
}

/** `MAGIC`, the header as one JSON line, then every old content. */
function encodeJournal(befores: readonly Before[]): Buffer {
  const header: RollbackHeader = {
    pid: process.pid,
    host: hostname(),
    bodyBytes: befores.reduce((sum, b) => sum + (b.old?.bytes.length ?? 0), 0),
    files: befores.map((b) => ({
      abs: b.abs,
      old: b.old && { size: b.old.bytes.length, mode: b.old.mode },
    })),
  };
  const head = Buffer.from(`${MAGIC}${JSON.stringify(header)}\n`, 'utf8');
  return Buffer.concat([head, ...befores.flatMap((b) => (b.old ? [b.old.bytes] : []))]);
}

/** The journal's header and files, or `undefined` for a journal torn by a crash while it was written. */
function decodeJournal(data: Buffer): { header: RollbackHeader; befores: Before[] } | undefined {
  if (!data.subarray(0, MAGIC.length).equals(Buffer.from(MAGIC))) return undefined;
  const end = data.indexOf(10, MAGIC.length);
  if (end < 0) return undefined;
  let header: RollbackHeader;
  try {
    header = JSON.parse(data.subarray(MAGIC.length, end).toString('utf8')) as RollbackHeader;
  } catch {
    return undefined;
  }
  if (data.length !== end + 1 + header.bodyBytes) return undefined;
  let at = end + 1;
  const befores = header.files.map(({ abs, old }): Before => {
    if (!old) return { abs, old: null };
    const bytes = data.subarray(at, at + old.size);
    at += old.size;
    return { abs, old: { bytes, mode: old.mode } };
  });
  return { header, befores };
}

/** Opens for an overwrite in place: never follows a symlink, never creates. */
const OVERWRITE = constants.O_WRONLY | constants.O_TRUNC | constants.O_NOFOLLOW;
/** Opens for a file the commit adds: fails if anything took its name since the check. */
const CREATE = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;

/**
 * Writes `bytes` to the file at `abs`, opened with `flags` (created with `mode` under `CREATE`); `opened`
 * is told once the open worked, i.e. once the file may have changed. A write by a process without
 * privileges clears setuid and setgid: those bits are put back.
 */
async function overwrite(
  abs: string,
  bytes: Buffer,
  flags: number,
  mode: number | undefined,
  fsync: boolean,
  opened?: () => void,
): Promise<void> {
  await withFd(abs, flags, mode ?? 0o666, async (fd) => {
    opened?.();
    await writeAllFd(fd, bytes);
    if (mode !== undefined && (flags & constants.O_CREAT || mode & 0o6000)) await fchmodFd(fd, mode);
    if (fsync) await fsyncFd(fd);
  });
}

/** Puts one file back as `before` says: its old bytes (its mode too, if it had to be recreated), or absent. */
async function restore(before: Before, fsync: boolean): Promise<void> {
  if (!before.old) {
    await unlink(before.abs).catch(ignoreMissing);
    return;
  }
  const { bytes, mode } = before.old;
  try {
    await overwrite(before.abs, bytes, OVERWRITE, mode, fsync);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    await overwrite(before.abs, bytes, CREATE, mode, fsync);
  }
}

/**
 * Commits small files by overwriting them in place, with a rollback journal (as SQLite's): first `verify`
 * checks every file against the disk, reading its old bytes (a stale file: nothing is written, and every
 * stale path is returned). Then ONE journal holding every file's old bytes and mode (or its absence) is
 * written, fsynced once; then each file is overwritten in place (open with `O_TRUNC`, write, close; fsynced
 * each when `fsync`), created, or unlinked, up to `limit` at once; then the directories of created and
 * deleted files are fsynced and the journal is removed. No new inode for an existing file: cheaper than a
 * temp file and a rename, but a reader during the commit may see a file half written. A failure half way
 * puts every file back from memory; a crash is rolled back from the journal by {@link recoverInPlaceCommits}.
 */
export async function commitInPlace<F extends InPlaceFile>(
  files: readonly F[],
  settings: InPlaceSettings<F>,
): Promise<{ stale: string[] }> {
  const { fsync, limit, logger } = settings;
  const stale: string[] = [];
  const befores: Before[] = new Array(files.length);
  let verifyError: { error: unknown } | undefined;
  await settle([...files.keys()], limit, async (index) => {
    if (verifyError) return;
    const file = files[index] as F;
    let found: Snapshot;
    try {
      found = await settings.verify(file);
    } catch (error) {
      verifyError ??= { error };
      return;
    }
    if (found === false) stale.push(file.path);
    else
      befores[index] = {
        abs: file.abs,
        old: found === 'absent' ? null : { bytes: found, mode: file.mode ?? 0o644 },
      };
  });
  if (verifyError) throw verifyError.error;
  if (stale.length > 0) return { stale };

  const journalDir = path.join(settings.root, JOURNAL_DIR);
  const journalPath = path.join(journalDir, journalName());
  active.add(journalPath);
  try {
    await writeJournal(journalPath, encodeJournal(befores), fsync);
  } catch (error) {
    active.delete(journalPath);
    throw failed(
      error,
      `while writing its rollback journal in ${journalDir}; no file of the tree was touched`,
    );
  }
  const touched = new Set<number>();
  const { ensure: ensureDir } = dirMaker();
  const writeError =
    (await Promise.resolve()
      .then(() => settings.afterPrepare?.())
      .then(
        () => undefined,
        (error: unknown) => error,
      )) ??
    (await settle([...files.keys()], limit, async (index) => {
      const file = files[index] as F;
      await settings.beforeReplace?.(file.path, index);
      // Only a file this commit changed is restored on failure: not one someone else created meanwhile.
      const changed = () => touched.add(index);
      if (file.content === null) {
        await unlink(file.abs);
        changed();
      } else if (befores[index]?.old) {
        await overwrite(file.abs, file.content, OVERWRITE, file.mode, fsync, changed);
      } else {
        await ensureDir(path.dirname(file.abs));
        await overwrite(file.abs, file.content, CREATE, undefined, fsync, changed);
      }
    }));
  if (writeError !== undefined) {
    const restoreErrors: string[] = [];
    await settle([...touched], limit, async (index) => {
      try {
        await restore(befores[index] as Before, fsync);
      } catch (error) {
        restoreErrors.push(`${files[index]?.path}: ${(error as Error).message}`);
      }
    });
    logger.warn(
      { error: writeError, restored: touched.size, restoreErrors },
      'spool commit failed and was rolled back',
    );
    if (restoreErrors.length > 0) {
      active.delete(journalPath);
      throw failed(
        writeError,
        `half way, and restoring failed for: ${restoreErrors.join('; ')}. The rollback journal ${journalPath} was kept: recoverSpool() restores every file from it`,
      );
    }
    await endJournal(journalPath, fsync);
    throw failed(
      writeError,
      `half way; the ${touched.size} file(s) already written were restored, so the tree is as before`,
    );
  }
  if (fsync) {
    // Names created or removed must be durable before the journal that can undo them goes.
    const named = files.filter((f, i) => f.content === null || !befores[i]?.old);
    await settle([...new Set(named.map((f) => path.dirname(f.abs)))], limit, syncDir);
  }
  await endJournal(journalPath, fsync);
  return { stale: [] };
}

/** Removes a journal: the commit it guards is done (or undone). */
async function endJournal(journalPath: string, fsync: boolean): Promise<void> {
  await unlink(journalPath).catch(ignoreMissing);
  const journalDir = path.dirname(journalPath);
  if (fsync) await syncDir(journalDir).catch(() => {});
  await rmdir(journalDir).catch(() => {});
  active.delete(journalPath);
}

/**
 * Rolls back the in-place commits under `root` that a crashed process left half done: every file a
 * complete rollback journal names is put back to its old bytes, or removed if the commit created it (the
 * directories it made stay). A torn journal (the crash came while it was written, so no file was touched)
 * is only removed. Journals of commits still running (in this process, or in a live process on this host)
 * and of another host are left alone. Restored files are always fsynced. Returns how many journals it handled.
 */
export async function recoverInPlaceCommits(root: string, logger: Logger): Promise<number> {
  const journalDir = path.join(root, JOURNAL_DIR);
  let recovered = 0;
  for (const { name, path: journalPath } of await leftJournals(root, ROLLBACK)) {
    let data: Buffer;
    try {
      data = await readFile(journalPath);
    } catch (error) {
      ignoreMissing(error);
      continue;
    }
    const journal = decodeJournal(data);
    if (journal) {
      const { header } = journal;
      if (header.host !== hostname()) {
        logger.warn(
          { journal: journalPath, host: header.host },
          'spool left a rollback journal of another host alone',
        );
        continue;
      }
      if (header.pid !== process.pid && isAlive(header.pid)) continue;
      for (const before of journal.befores) await restore(before, true);
    } else {
      // Torn: the commit died while writing its journal, before touching any file, or is writing it right
      // now. Only the name tells whose it is.
      const owner = ownerOf(name);
      if (owner?.host !== hostTag()) {
        logger.warn({ journal: journalPath }, 'spool left a torn rollback journal of another host alone');
        continue;
      }
      if (owner.pid !== process.pid && isAlive(owner.pid)) continue;
    }
    await unlink(journalPath).catch(ignoreMissing);
    recovered++;
    logger.warn(
      { journal: journalPath, files: journal?.befores.length ?? 0 },
      journal
        ? 'spool rolled back an in-place commit interrupted by a crash'
        : 'spool removed a rollback journal torn by a crash before the commit touched any file',
    );
  }
  await rmdir(journalDir).catch(() => {});
  return recovered;
}

/** A short hash of this host's name, put in journal names. */
const hostTag = () => createHash('sha1').update(hostname()).digest('hex').slice(0, 8);

/** `<time>-<random>.<host tag>.<pid>.rollback`: a torn journal still says whose it is. */
const journalName = () => `${Date.now().toString(36)}-${tag()}.${hostTag()}.${process.pid}${ROLLBACK}`;

function ownerOf(name: string): { host: string; pid: number } | undefined {
  const match = /\.([0-9a-f]{8})\.(\d+)\.rollback$/.exec(name);
  return match ? { host: match[1] as string, pid: Number(match[2]) } : undefined;
}
