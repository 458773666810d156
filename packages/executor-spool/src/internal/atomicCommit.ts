import { constants } from 'node:fs';
import { access, copyFile, link, mkdir, open, readFile, rename, rm, rmdir, unlink } from 'node:fs/promises';
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
  writeDurably,
  writeJournal,
} from './commitSupport.js';
import type { Content } from './content.js';
import { CreateModes } from './createModes.js';
import { fchmodFd, fstatFd, fsyncFd, withFd, writeAllFd } from './fd.js';
import type { Limiter } from './limiter.js';

/** One file of a commit. */
export interface CommitFile {
  /** The spool path, for messages. */
  path: string;
  abs: string;
  /** The new content; `null` deletes the file. */
  content: Content | null;
  /** Whether the file existed when its edit was staged (it gets a backup). */
  existed: boolean;
  /** Its permission bits, kept on the replacement. */
  mode: number | undefined;
}

/** Settings of {@link commitFiles}. */
export interface CommitSettings<F extends CommitFile> {
  root: string;
  fsync: boolean;
  limit: Limiter;
  logger: Logger;
  /**
   * Checks one file against the disk before anything of it is written: `false` marks it stale (the commit
   * then writes nothing and returns every stale path); a throw ends the commit with that error, unwrapped.
   */
  verify: (file: F) => Promise<boolean>;
  beforeReplace?: ((path: string, index: number) => void | Promise<void>) | undefined;
  /** Test-only: called once every file is prepared, before the commit marks itself as replacing. */
  afterPrepare?: (() => void | Promise<void>) | undefined;
  /** Test-only: called once every file is in place, before the commit's journal is removed. */
  afterReplace?: (() => void | Promise<void>) | undefined;
}

/** What {@link commitFiles} did: on `stale` paths, nothing at all. */
export interface CommitOutcome {
  /** The files `verify` found changed on disk, in no order; empty when the commit went through. */
  stale: string[];
}

/**
 * Next to `<id>.json`, `<id>.replacing` exists from just before the first rename until the last one is done.
 * Without it, a crashed commit replaced nothing, so recovery only removes its temp files and backups and
 * never puts a backup back (a file may have been changed by someone else since).
 */
const REPLACING = '.replacing';

/**
 * What a commit in progress leaves on disk, so that a later process can undo it after a crash. Version 1
 * (written before the `.replacing` marker existed) made each backup just before its rename: a recovery
 * treats it as replacing.
 */
interface Journal {
  version: 1 | 2;
  pid: number;
  host: string;
  files: Array<{ abs: string; tmp?: string | undefined; backup?: string | undefined }>;
}

interface Step<F extends CommitFile> {
  file: F;
  index: number;
  tmp: string | undefined;
  backup: string | undefined;
  replaced: boolean;
}

/**
 * Writes `content` to the new file `tmp`, with `mode` (whatever the umask), fsynced if asked. A chmod is
 * skipped where `modes` knows that creating the file already gave it `mode`.
 */
async function writeReplacement(
  tmp: string,
  content: Content,
  mode: number | undefined,
  fsync: boolean,
  modes: CreateModes,
): Promise<void> {
  if (!content.file) {
    return withFd(tmp, 'wx', mode ?? 0o666, async (fd) => {
      await writeAllFd(fd, content.buffer ?? Buffer.alloc(0));
      if (mode !== undefined) {
        const kept = modes.lookup(tmp, mode) ?? modes.record(tmp, mode, (await fstatFd(fd)).mode);
        if (!kept) await fchmodFd(fd, mode);
      }
      if (fsync) await fsyncFd(fd);
    });
  }
  await copyFile(content.file, tmp, constants.COPYFILE_EXCL);
  if (mode === undefined && !fsync) return;
  const handle = await open(tmp, 'r+');
  try {
    if (mode !== undefined) await handle.chmod(mode);
    if (fsync) await handle.sync();
  } finally {
    await handle.close();
  }
}

/** A hard link to `file` at `backup` (a copy where links are not possible). */
async function backUp(file: string, backup: string): Promise<void> {
  await link(file, backup).catch(async (error: NodeJS.ErrnoException) => {
    if (error.code !== 'EXDEV' && error.code !== 'EPERM') throw error;
    await copyFile(file, backup, constants.COPYFILE_EXCL);
  });
}

/**
 * Puts every file in place, all or nothing. A journal naming every temp file and backup is written first.
 * Then each file, one pipeline per file (up to `limit` at once): `verify` checks it against the disk, an
 * existing file gets a hard-link backup, and its new content goes to a temp file in its directory. Only
 * once every file is verified and prepared, and the commit's `.replacing` marker is written (with `fsync`,
 * the marker and the backups durable), is each temp file renamed over its target; the directories are then
 * fsynced once each. A stale file or a failure before the renames writes nothing to the tree; a failure
 * among the renames restores the files already replaced from their backups and `SPOOL_COMMIT_FAILED` says
 * so; after a crash, {@link recoverCommits} does the same from the journal.
 */
export async function commitFiles<F extends CommitFile>(
  files: readonly F[],
  settings: CommitSettings<F>,
): Promise<CommitOutcome> {
  const { fsync, limit, logger } = settings;
  const id = `${Date.now().toString(36)}-${tag()}`;
  // One random tag per commit: the index tells its temp files apart.
  const tmpTag = tag();
  const journalDir = path.join(settings.root, JOURNAL_DIR);
  const backupDir = path.join(journalDir, id);
  const journalPath = path.join(journalDir, `${id}.json`);
  const markerPath = path.join(journalDir, `${id}${REPLACING}`);
  const steps: Array<Step<F>> = files.map((file, index) => ({
    file,
    index,
    tmp: file.content
      ? path.join(path.dirname(file.abs), `.${path.basename(file.abs)}.ordo-${tmpTag}-${index}.tmp`)
      : undefined,
    backup: file.existed ? path.join(backupDir, String(index)) : undefined,
    replaced: false,
  }));
  const journal: Journal = {
    version: 2,
    pid: process.pid,
    host: hostname(),
    files: steps.map((s) => ({ abs: s.file.abs, tmp: s.tmp, backup: s.backup })),
  };
  const { made: dirsMade, ensure: ensureDir } = dirMaker();
  const cleanUp = async () => {
    await settle(steps, limit, async (s) =>
      s.tmp && !s.replaced ? unlink(s.tmp).catch(ignoreMissing) : undefined,
    );
    for (const [leaf, made] of dirsMade) {
      const top = await made.catch(() => undefined);
      if (top === undefined) continue;
      for (let dir = leaf; ; dir = path.dirname(dir)) {
        if (
          !(await rmdir(dir).then(
            () => true,
            () => false,
          )) ||
          dir === top
        )
          break;
      }
    }
    await endJournal();
  };
  const endJournal = async () => {
    // The marker first: a journal without one is only cleaned up by a recovery, never rolled back. The
    // journal last: a crash in between leaves it, accounting for every backup still there.
    await unlink(markerPath).catch(ignoreMissing);
    await settle(steps, limit, async (s) => (s.backup ? unlink(s.backup).catch(ignoreMissing) : undefined));
    await rm(backupDir, { recursive: true, force: true });
    await unlink(journalPath).catch(ignoreMissing);
    await rmdir(journalDir).catch(() => {});
    active.delete(journalPath);
  };

  active.add(journalPath);
  try {
    await writeJournal(journalPath, JSON.stringify(journal), fsync);
    // The backup folder only once the journal names it: a crash never leaves one that no journal explains.
    if (steps.some((s) => s.backup)) await mkdir(backupDir);
  } catch (error) {
    await endJournal();
    throw failed(error, `while writing its journal in ${journalDir}; no file of the tree was touched`);
  }

  // Verify, back up and write each file in one go, so that reading some files overlaps writing others.
  const stale: string[] = [];
  const modes = new CreateModes();
  let verifyError: { error: unknown } | undefined;
  const writeError = await settle(steps, limit, async (step) => {
    if (verifyError) return;
    let current: boolean;
    try {
      current = await settings.verify(step.file);
    } catch (error) {
      verifyError ??= { error };
      return;
    }
    if (!current) stale.push(step.file.path);
    // A lost commit still verifies the rest (to name every stale file) but writes no more.
    if (stale.length > 0 || verifyError) return;
    const { content, abs, mode } = step.file;
    if (step.backup) await backUp(abs, step.backup);
    if (content && step.tmp) {
      await ensureDir(path.dirname(abs));
      await writeReplacement(step.tmp, content, mode, fsync, modes);
    }
  });
  if (verifyError || stale.length > 0 || writeError !== undefined) {
    await cleanUp();
    if (verifyError) throw verifyError.error;
    if (stale.length > 0) return { stale };
    throw failed(writeError, 'while writing the replacement files; no file of the tree was touched');
  }
  await settings.afterPrepare?.();
  try {
    await writeDurably(markerPath, '', fsync);
    // The backups and the marker must outlive a crash before any rename can.
    if (fsync) await Promise.all([syncDir(journalDir), steps.some((s) => s.backup) && syncDir(backupDir)]);
  } catch (error) {
    await cleanUp();
    throw failed(error, 'while writing the replacement files; no file of the tree was touched');
  }

  const replaceError = await settle(steps, limit, async (step) => {
    await settings.beforeReplace?.(step.file.path, step.index);
    if (step.tmp) await rename(step.tmp, step.file.abs);
    else await unlink(step.file.abs);
    step.replaced = true;
  });
  if (replaceError !== undefined) {
    const restoreErrors: string[] = [];
    await settle(steps, limit, async ({ file, backup, replaced }) => {
      if (!replaced) return;
      try {
        if (backup) await rename(backup, file.abs);
        else await unlink(file.abs);
      } catch (error) {
        restoreErrors.push(`${file.path}: ${(error as Error).message}`);
      }
    });
    const restored = steps.filter((s) => s.replaced).length;
    logger.warn({ error: replaceError, restored, restoreErrors }, 'spool commit failed and was rolled back');
    if (restoreErrors.length > 0) {
      active.delete(journalPath);
      throw failed(
        replaceError,
        `half way, and restoring failed for: ${restoreErrors.join('; ')}. The journal ${journalPath} and its backups were kept: recoverSpool() (or the next createSpool over this root) restores them`,
      );
    }
    await cleanUp();
    throw failed(
      replaceError,
      `half way; the ${restored} file(s) already replaced were restored, so the tree is as before`,
    );
  }

  await settings.afterReplace?.();
  // Each directory once, however many of its files the commit replaced.
  if (fsync) await settle([...new Set(steps.map((s) => path.dirname(s.file.abs)))], limit, syncDir);
  await endJournal();
  return { stale: [] };
}

/**
 * Undoes the commits under `root` that a crashed process left half done: every file its journal names is
 * put back from its backup (or removed, if the commit added it), and temp files are deleted. Journals of
 * commits still running (in this process, or in a live process on this host) and journals written on
 * another host are left alone. Returns how many commits were rolled back.
 */
export async function recoverCommits(root: string, logger: Logger): Promise<number> {
  const journalDir = path.join(root, JOURNAL_DIR);
  let recovered = 0;
  for (const { name, path: journalPath } of await leftJournals(root, '.json')) {
    let journal: Journal;
    try {
      journal = JSON.parse(await readFile(journalPath, 'utf8')) as Journal;
    } catch {
      continue; // Being written right now, or not ours.
    }
    if (journal.host !== hostname()) {
      // Its process may be alive on that host: only a recovery there can tell.
      logger.warn(
        { journal: journalPath, host: journal.host },
        'spool left a commit journal of another host alone',
      );
      continue;
    }
    if (journal.pid !== process.pid && isAlive(journal.pid)) continue;
    const markerPath = path.join(journalDir, `${name.slice(0, -'.json'.length)}${REPLACING}`);
    const replacing =
      journal.version === 1 ||
      (await access(markerPath).then(
        () => true,
        () => false,
      ));
    // Without the marker nothing was renamed: the files are as they were, or changed by someone else since.
    for (const file of journal.files) {
      if (replacing && file.backup) {
        await rename(file.backup, file.abs).catch(ignoreMissing);
      } else if (replacing && file.tmp) {
        // An added file: its temp file still there means it was never renamed into place.
        const renamed = await unlink(file.tmp).then(
          () => false,
          (error: NodeJS.ErrnoException) => error.code === 'ENOENT',
        );
        if (renamed) await unlink(file.abs).catch(ignoreMissing);
      }
      if (file.tmp) await unlink(file.tmp).catch(ignoreMissing);
    }
    await rm(path.join(journalDir, name.slice(0, -'.json'.length)), { recursive: true, force: true });
    await unlink(markerPath).catch(ignoreMissing);
    await unlink(journalPath).catch(ignoreMissing);
    recovered++;
    logger.warn(
      { journal: journalPath, files: journal.files.length, replacing },
      replacing
        ? 'spool rolled back a commit interrupted by a crash'
        : 'spool cleaned up a commit interrupted by a crash before it replaced any file',
    );
  }
  await rmdir(journalDir).catch(() => {});
  return recovered;
}
