import { constants as bufferConstants } from 'node:buffer';
import { constants, write as fsWrite } from 'node:fs';
import { link, lstat, readdir, rename, rmdir, unlink } from 'node:fs/promises';
import { hostname } from 'node:os';
import type { Logger } from '@ordo/contracts';
import { SpoolError, SpoolErrorCode } from '../errors.js';
import {
  active,
  dirOf,
  failed,
  ignoreMissing,
  JOURNAL_DIR,
  journalPathOf,
  leftJournals,
  nameOf,
  otherWriterAlive,
  readJournal,
  settle,
  syncTreeDir,
  tag,
  writeDurably,
  writeJournal,
} from './commitSupport.js';
import { type Content, contentChunks } from './content.js';
import { CreateModes } from './createModes.js';
import { closeFd, fchmodFd, fstatFd, fsyncFd, openFd, readFd, withFd, writeAllFd } from './fd.js';
import { seal, TRAILER_BYTES, unseal } from './journalKey.js';
import { int, JournalRefused, record, refuse, relPath, str, type UntrustedJournal } from './journalSchema.js';
import type { Limiter } from './limiter.js';
import { escapeError, type Tree } from './tree.js';

/** One file of a commit. */
export interface CommitFile {
  /** The spool path, for messages. */
  path: string;
  /** Its real path relative to the root, `/`-separated: where it is written (through the tree). */
  rel: string;
  /** The new content; `null` deletes the file. */
  content: Content | null;
  /** Whether the file existed when its edit was staged (it gets a backup). */
  existed: boolean;
  /** Its permission bits, kept on the replacement. */
  mode: number | undefined;
}

/** Settings of {@link commitFiles}. */
export interface CommitSettings<F extends CommitFile> {
  /** The root, opened: every path of the commit goes through its descriptors. */
  tree: Tree;
  /** The key that signs the journal ({@link rootKey}). */
  key: Buffer;
  fsync: boolean;
  limit: Limiter;
  logger: Logger;
  /**
   * Checks one file against the disk before anything of it is written: `false` marks it stale (the commit
   * then writes nothing and returns every stale path); a throw ends the commit with that error, unwrapped.
   */
  verify: (file: F) => Promise<boolean>;
  beforeReplace?: ((path: string, index: number) => void | Promise<void>) | undefined;
  /** Test-only: called before an existing file is backed up. */
  beforeBackup?: ((path: string) => void | Promise<void>) | undefined;
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
 * The largest journal a commit can write: one JSON string (at most V8's longest string, 3 UTF-8 bytes per
 * code unit) and its seal. Recovery refuses a larger one unread.
 */
const MAX_JOURNAL_BYTES = 3 * bufferConstants.MAX_STRING_LENGTH + TRAILER_BYTES;

/**
 * What a commit in progress leaves on disk (`<id>.json`, sealed with the root's key), so that a later
 * process can undo it after a crash. Paths are relative to the root; a file's backup, when it has one, is
 * `.ordo-spool/<id>/<index>`. Versions 1 and 2 (absolute paths, no MAC) are never replayed.
 */
interface Journal {
  version: 3;
  id: string;
  pid: number;
  host: string;
  files: Array<{ path: string; tmp?: string | undefined; backup?: true | undefined }>;
}

/** The temp file name of file `index` of a commit: `.<name>.ordo-<tag>-<index>.tmp` beside it. */
const tmpRel = (rel: string, tmpTag: string, index: number) => {
  const dir = dirOf(rel);
  const name = `.${nameOf(rel)}.ordo-${tmpTag}-${index}.tmp`;
  return dir === '' ? name : `${dir}/${name}`;
};

const ID = /^[0-9a-z]{1,12}-[0-9a-f]{12}$/;
const TMP = /^\.(.+)\.ordo-[0-9a-f]{12}-(\d+)\.tmp$/;

/** The journal `body` as recovery may replay it, or a {@link JournalRefused} saying what is wrong. */
function checkJournal(body: Buffer, stem: string): Journal {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch {
    return refuse('its body is not JSON');
  }
  const j = record(parsed, 'the journal', ['version', 'id', 'pid', 'host', 'files']);
  if (j.version !== 3) refuse(`version ${JSON.stringify(j.version)} is not 3`);
  const id = str(j.id, 'id');
  if (!ID.test(id) || id !== stem) refuse('its id does not match its name');
  if (!Array.isArray(j.files) || j.files.length > 1_000_000) refuse('files is not a list');
  const seen = new Set<string>();
  const files = (j.files as unknown[]).map((f, i) => {
    const file = record(f, `files[${i}]`, ['path'], ['tmp', 'backup']);
    const rel = relPath(file.path, `files[${i}].path`);
    if (seen.has(rel)) refuse(`files[${i}].path ${rel} is listed twice`);
    seen.add(rel);
    let tmp: string | undefined;
    if (file.tmp !== undefined) {
      tmp = relPath(file.tmp, `files[${i}].tmp`);
      const match = TMP.exec(nameOf(tmp));
      if (dirOf(tmp) !== dirOf(rel) || match?.[1] !== nameOf(rel) || match[2] !== String(i))
        refuse(`files[${i}].tmp is not the temp file of its path`);
    }
    if (file.backup !== undefined && file.backup !== true) refuse(`files[${i}].backup is not true`);
    return { path: rel, tmp, backup: file.backup === true ? (true as const) : undefined };
  });
  return {
    version: 3,
    id,
    pid: int(j.pid, 'pid', 1, 2 ** 31),
    host: str(j.host, 'host'),
    files,
  };
}

interface Step<F extends CommitFile> {
  file: F;
  index: number;
  /** Relative to the root. */
  tmp: string | undefined;
  /** Relative to the root, under the journal directory. */
  backup: string | undefined;
  replaced: boolean;
}

/** What {@link prepareFiles} left on disk for a later {@link commitFiles}: a journal and the temp files. */
export interface PreparedFiles {
  readonly id: string;
  readonly tmpTag: string;
  /** Per file (in the order given): its temp file (relative to the root) and what it was when written. */
  readonly temps: ReadonlyArray<{ rel: string; identity: FileIdentity } | undefined>;
  /** Whether each file got a backup slot in the journal. */
  readonly backups: readonly boolean[];
  /** The directories the preparation made for temp files, in the order made. */
  readonly created: readonly string[];
  /** The journal's real path (its key in the in-process registry of commits in progress). */
  readonly journalPath: string;
}

/** The device, inode, size and change time of a temp file: a later commit renames only that same file. */
interface FileIdentity {
  dev: bigint;
  ino: bigint;
  size: bigint;
  ctimeNs: bigint;
}

const identityOf = async (at: string): Promise<FileIdentity> => {
  const info = await lstat(at, { bigint: true });
  return { dev: info.dev, ino: info.ino, size: info.size, ctimeNs: info.ctimeNs };
};

const sameIdentity = (a: FileIdentity, b: FileIdentity) =>
  a.dev === b.dev && a.ino === b.ino && a.size === b.size && a.ctimeNs === b.ctimeNs;

/**
 * Writes `content` to the new file `tmp`, with `mode` (whatever the umask), fsynced if asked. A chmod is
 * skipped where `modes` knows that creating the file already gave it `mode`. Everything goes through the one
 * descriptor that created the file (`O_EXCL`, so never through a symlink): the temp file's name sits in a
 * directory of the tree, where another process may swap it for a symlink to a file outside the root once it
 * exists, and opening it by name again would then chmod and fsync that outside file.
 */
async function writeReplacement(
  tmp: string,
  content: Content,
  mode: number | undefined,
  fsync: boolean,
  modes: CreateModes,
): Promise<void> {
  await withFd(tmp, 'wx', mode ?? 0o666, async (fd) => {
    if (content.file) {
      for await (const chunk of contentChunks(content)) await appendAllFd(fd, chunk);
    } else await writeAllFd(fd, content.buffer ?? Buffer.alloc(0));
    if (mode !== undefined) {
      const kept = modes.lookup(tmp, mode) ?? modes.record(tmp, mode, (await fstatFd(fd)).mode);
      if (!kept) await fchmodFd(fd, mode);
    }
    if (fsync) await fsyncFd(fd);
  });
}

/** Writes all of `data` at the descriptor's current offset. */
async function appendAllFd(fd: number, data: Buffer): Promise<void> {
  for (let done = 0; done < data.length; ) done += await writeFdAt(fd, data, done);
}

const writeFdAt = (fd: number, data: Buffer, offset: number) =>
  new Promise<number>((resolve, reject) =>
    fsWrite(fd, data, offset, data.length - offset, null, (error, written) =>
      error ? reject(error) : resolve(written),
    ),
  );

/** Opens a file of the tree to copy it: never through a symlink, never blocking on a FIFO. */
const COPY_FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;

/**
 * A hard link to `file` at `backup`; where links are not possible (another mount inside the root, EXDEV),
 * a copy, read from a descriptor opened without following a symlink or blocking on a FIFO and checked to be
 * a regular file (`copyFile` by name did both: a swap in between copied an outside file into the backup,
 * which a rollback then renamed into the tree, or hung on a FIFO), written to a new 0600 file with
 * `O_EXCL`, then given the file's mode.
 */
async function backUp(rel: string, file: string, backup: string): Promise<void> {
  await link(file, backup).catch(async (error: NodeJS.ErrnoException) => {
    if (error.code !== 'EXDEV' && error.code !== 'EPERM') throw error;
    await copyRegular(rel, file, backup);
  });
}

/** Copies the regular file at `file` to the new file `dest` (0600 until it gets the file's mode). */
async function copyRegular(rel: string, file: string, dest: string): Promise<void> {
  const source = await openFd(file, COPY_FLAGS).catch((e: NodeJS.ErrnoException) => {
    if (e.code === 'ELOOP') throw escapeError(rel, 'the file became a symlink while it was backed up');
    if (e.code === 'ENXIO' || e.code === 'EOPNOTSUPP') throw notRegularNow(rel);
    throw e;
  });
  try {
    const info = await fstatFd(source);
    if (!info.isFile()) throw notRegularNow(rel);
    await withFd(dest, 'wx', 0o600, async (fd) => {
      const chunk = Buffer.allocUnsafe(1 << 20);
      for (let position = 0; ; ) {
        const n = await readFd(source, chunk, 0, chunk.length, position);
        if (n === 0) break;
        position += n;
        await appendAllFd(fd, chunk.subarray(0, n));
      }
      await fchmodFd(fd, info.mode & 0o7777);
    });
  } finally {
    await closeFd(source);
  }
}

/**
 * Renames the backup at `backup` over the file `rel` (its path `target`), putting it back. A backup copied
 * across a mount inside the root (see {@link backUp}) cannot be renamed there (EXDEV): it is then copied to
 * a new temp file beside the target (read from a descriptor, never through a symlink) and that is renamed.
 */
async function putBack(tree: Tree, rel: string, backup: string, target: string): Promise<void> {
  try {
    await rename(backup, target);
    return;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EXDEV') throw error;
  }
  const tmp = (await tree.must(
    `${dirOf(rel) ? `${dirOf(rel)}/` : ''}.${nameOf(rel)}.ordo-restore-${tag()}.tmp`,
  )) as string;
  try {
    await copyRegular(rel, backup, tmp);
    await rename(tmp, target);
  } catch (error) {
    await unlink(tmp).catch(() => {});
    throw error;
  }
  await unlink(backup).catch(ignoreMissing);
}

/** `SPOOL_CONFLICT`: something else than a regular file took the place of `rel` since it was checked. */
const notRegularNow = (rel: string) =>
  new SpoolError(
    SpoolErrorCode.CONFLICT,
    `${rel} is not a regular file any more (it changed since it was checked); nothing was written. Reset it (spool.reset([...])), stage the edit again and commit.`,
    { details: { path: rel, paths: [rel] } },
  );

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
  prepared?: PreparedFiles,
): Promise<CommitOutcome> {
  const { fsync, limit, logger, tree } = settings;
  const plan = planCommit(files, tree, prepared);
  const { steps, journalPath, backupDir, markerRel } = plan;
  const journal = { journal: true };
  const cleanUp = () => removeCommit(plan, tree, limit);

  if (prepared === undefined) {
    active.add(journalPath);
    try {
      await startJournal(plan, tree, settings.key, fsync);
    } catch (error) {
      await endJournal(plan, tree, limit);
      throw failed(
        error,
        `while writing its journal in ${tree.root}/${JOURNAL_DIR}; no file of the tree was touched`,
      );
    }
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
    const { content, rel, mode } = step.file;
    if (step.backup) {
      await settings.beforeBackup?.(step.file.path);
      await backUp(step.file.path, await tree.must(rel), await tree.must(step.backup, journal));
    }
    if (content && step.tmp) {
      const written = prepared?.temps[step.index];
      if (written) {
        // Written by prepareFiles: rename only the very file it wrote (same inode, size and change time).
        const now = await identityOf(await tree.must(step.tmp)).catch(() => undefined);
        if (!now || !sameIdentity(now, written.identity))
          throw new Error(
            `the prepared temp file of ${step.file.path} was changed or replaced since it was written`,
          );
      } else {
        const at = (await tree.at(step.tmp, { create: true })) as string;
        await writeReplacement(at, content, mode, fsync, modes);
      }
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
    // Every directory of the commit still where it was, before anything is renamed.
    await tree.verify();
    await writeDurably(await tree.must(markerRel, journal), '', fsync);
    // The backups and the marker must outlive a crash before any rename can.
    if (fsync)
      await Promise.all([
        syncTreeDir(tree, JOURNAL_DIR),
        steps.some((s) => s.backup) && syncTreeDir(tree, backupDir),
      ]);
  } catch (error) {
    await cleanUp();
    if ((error as { code?: string }).code === 'SPOOL_PATH_ESCAPE') throw error;
    throw failed(error, 'while writing the replacement files; no file of the tree was touched');
  }

  let replaceError: unknown = await settle(steps, limit, async (step) => {
    await settings.beforeReplace?.(step.file.path, step.index);
    const target = await tree.must(step.file.rel);
    if (step.tmp) await rename(await tree.must(step.tmp), target);
    else await unlink(target);
    step.replaced = true;
  });
  // A directory moved while the files were renamed into it: undo, as for a failed rename.
  let escaped: unknown;
  if (replaceError === undefined) {
    await tree.verify().catch((error: unknown) => {
      escaped = error;
      replaceError = error;
    });
  }
  if (replaceError !== undefined) {
    const restoreErrors: string[] = [];
    await settle(steps, limit, async ({ file, backup, replaced }) => {
      if (!replaced) return;
      try {
        const target = await tree.must(file.rel);
        if (backup) await putBack(tree, file.rel, await tree.must(backup, journal), target);
        else await unlink(target);
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
    if (escaped) throw escaped;
    throw failed(
      replaceError,
      `half way; the ${restored} file(s) already replaced were restored, so the tree is as before`,
    );
  }

  await settings.afterReplace?.();
  // Each directory once, however many of its files the commit replaced.
  if (fsync)
    await settle([...new Set(steps.map((s) => dirOf(s.file.rel)))], limit, (d) => syncTreeDir(tree, d));
  await endJournal(plan, tree, limit);
  return { stale: [] };
}

/** The names and steps of one commit: new ones, or those its preparation wrote. */
interface CommitPlan<F extends CommitFile> {
  id: string;
  tmpTag: string;
  backupDir: string;
  journalName: string;
  journalPath: string;
  markerRel: string;
  steps: Array<Step<F>>;
  body: Journal;
  /** Directories a preparation made (the commit's own are in its tree's `created`). */
  preparedDirs: readonly string[];
}

function planCommit<F extends CommitFile>(
  files: readonly F[],
  tree: Tree,
  prepared?: PreparedFiles,
): CommitPlan<F> {
  const id = prepared?.id ?? `${Date.now().toString(36)}-${tag()}`;
  // One random tag per commit: the index tells its temp files apart.
  const tmpTag = prepared?.tmpTag ?? tag();
  const backupDir = `${JOURNAL_DIR}/${id}`;
  const journalName = `${id}.json`;
  if (
    prepared &&
    (prepared.temps.length !== files.length ||
      files.some((f, i) => !!f.content !== !!prepared.temps[i] || f.existed !== prepared.backups[i]))
  ) {
    throw new Error('commitFiles: the prepared commit is of other files; discard it and commit again');
  }
  const steps: Array<Step<F>> = files.map((file, index) => ({
    file,
    index,
    tmp: file.content ? tmpRel(file.rel, tmpTag, index) : undefined,
    backup: file.existed ? `${backupDir}/${index}` : undefined,
    replaced: false,
  }));
  return {
    id,
    tmpTag,
    backupDir,
    journalName,
    journalPath: prepared?.journalPath ?? journalPathOf(tree.root, journalName),
    markerRel: `${JOURNAL_DIR}/${id}${REPLACING}`,
    steps,
    body: {
      version: 3,
      id,
      pid: process.pid,
      host: hostname(),
      files: steps.map((s) => ({ path: s.file.rel, tmp: s.tmp, backup: s.backup ? true : undefined })),
    },
    preparedDirs: prepared?.created ?? [],
  };
}

/** Writes the commit's sealed journal, then its backup folder if it has backups. */
async function startJournal<F extends CommitFile>(
  plan: CommitPlan<F>,
  tree: Tree,
  key: Buffer,
  fsync: boolean,
) {
  await writeJournal(tree, plan.journalName, seal(key, Buffer.from(JSON.stringify(plan.body))), fsync);
  // The backup folder only once the journal names it: a crash never leaves one that no journal explains.
  if (plan.steps.some((s) => s.backup)) await tree.dir(plan.backupDir, { create: true, journal: true });
}

/** Removes what a commit that replaced nothing (or was rolled back) left: temp files, its new directories, its journal. */
async function removeCommit<F extends CommitFile>(plan: CommitPlan<F>, tree: Tree, limit: Limiter) {
  await settle(plan.steps, limit, async (s) =>
    s.tmp && !s.replaced ? unlink(await tree.must(s.tmp)).catch(ignoreMissing) : undefined,
  );
  // The directories this commit made, deepest first; one that is not empty stays.
  for (const dir of [...plan.preparedDirs, ...tree.created].reverse())
    await rmdir(await tree.must(dir)).catch(() => {});
  await endJournal(plan, tree, limit);
}

async function endJournal<F extends CommitFile>(plan: CommitPlan<F>, tree: Tree, limit: Limiter) {
  // The marker first: a journal without one is only cleaned up by a recovery, never rolled back. The
  // journal last: a crash in between leaves it, accounting for every backup still there.
  await unlinkIn(tree, plan.markerRel);
  await settle(plan.steps, limit, async (s) => (s.backup ? unlinkIn(tree, s.backup) : undefined));
  const backups = await tree.at(plan.backupDir, { journal: true }).catch(() => undefined);
  if (backups) await rmdir(backups).catch(() => {});
  await unlinkIn(tree, `${JOURNAL_DIR}/${plan.journalName}`);
  const dir = await tree.at(JOURNAL_DIR).catch(() => undefined);
  if (dir) await rmdir(dir).catch(() => {});
  tree.forget(JOURNAL_DIR);
  active.delete(plan.journalPath);
}

/** Settings of {@link prepareFiles}: a commit's, without the checks and the test hooks. */
export type PrepareSettings = Pick<CommitSettings<CommitFile>, 'tree' | 'key' | 'fsync' | 'limit' | 'logger'>;

/**
 * The first, durable half of {@link commitFiles}, done ahead of it and without touching a file of the tree:
 * the journal (so a crash leaves nothing that no journal explains) and every replacement temp file, fsynced.
 * Nothing is checked against the disk here; {@link commitFiles} with the result checks every file as
 * always, renames only the temp files this wrote (same inode, size and change time), and writes the rest.
 * Until then the journal has no `.replacing` marker, so a recovery after a crash only removes it and its
 * temp files. Give the result to exactly one {@link commitFiles} or {@link discardPrepared}.
 */
export async function prepareFiles(
  files: readonly CommitFile[],
  settings: PrepareSettings,
): Promise<PreparedFiles> {
  const { fsync, limit, tree } = settings;
  const plan = planCommit(files, tree);
  const temps: Array<{ rel: string; identity: FileIdentity } | undefined> = plan.steps.map(() => undefined);
  active.add(plan.journalPath);
  try {
    await startJournal(plan, tree, settings.key, fsync);
    const modes = new CreateModes();
    const error = await settle(plan.steps, limit, async (step) => {
      const { content, mode } = step.file;
      if (!content || !step.tmp) return;
      const at = (await tree.at(step.tmp, { create: true })) as string;
      await writeReplacement(at, content, mode, fsync, modes);
      temps[step.index] = { rel: step.tmp, identity: await identityOf(at) };
    });
    if (error !== undefined) throw error;
  } catch (error) {
    await removeCommit(plan, tree, limit);
    throw failed(error, 'while preparing the replacement files; no file of the tree was touched');
  }
  return {
    id: plan.id,
    tmpTag: plan.tmpTag,
    temps,
    backups: files.map((f) => f.existed),
    created: [...tree.created],
    journalPath: plan.journalPath,
  };
}

/** Removes what {@link prepareFiles} wrote for `files`, when they will not be committed after all. */
export async function discardPrepared(
  files: readonly CommitFile[],
  prepared: PreparedFiles,
  settings: Pick<CommitSettings<CommitFile>, 'tree' | 'limit'>,
): Promise<void> {
  await removeCommit(planCommit(files, settings.tree, prepared), settings.tree, settings.limit);
}

/** Unlinks `rel` (under the journal directory) if it is there. */
async function unlinkIn(tree: Tree, rel: string): Promise<void> {
  const at = await tree.at(rel, { journal: true }).catch(() => undefined);
  if (at) await unlink(at).catch(ignoreMissing);
}

/** What a recovery pass did: commits rolled back, and journals it refused (left in place). */
export interface RecoveryOutcome {
  recovered: number;
  untrusted: UntrustedJournal[];
}

/**
 * Undoes the commits under the tree's root that a crashed process left half done: every file its journal
 * names is put back from its backup (or removed, if the commit added it), and temp files are deleted, all
 * through the tree (no symlink followed, nothing outside the root). Only journals sealed with `key` and of
 * the exact schema are replayed; any other complete journal is left in place and returned as untrusted.
 * Journals of commits still running (in this process, or in a live process on this host) and journals
 * written on another host are left alone.
 */
export async function recoverCommits(
  tree: Tree,
  key: Buffer | undefined,
  logger: Logger,
): Promise<RecoveryOutcome> {
  let recovered = 0;
  const untrusted: UntrustedJournal[] = [];
  const journal = { journal: true };
  for (const { name, path: journalPath, at } of await leftJournals(tree, '.json')) {
    const stem = name.slice(0, -'.json'.length);
    const data = await readJournal(at, MAX_JOURNAL_BYTES);
    if (data === undefined) continue;
    let parsed: Journal;
    try {
      if (data === 'irregular') refuse('it is not a regular file');
      if ('oversized' in data) refuse(`it holds ${data.oversized} bytes, more than a commit journal can`);
      const opened = unseal(key, data as Buffer);
      if (opened === 'unsealed') {
        // A complete JSON document without a seal: an old journal, or a forged one. Anything else is being
        // written right now (or was torn by a crash before any file was touched): left alone.
        let old: unknown;
        try {
          old = JSON.parse((data as Buffer).toString('utf8'));
        } catch {
          continue;
        }
        refuse(
          typeof old === 'object' && old !== null && 'version' in old
            ? `an unauthenticated journal of version ${JSON.stringify((old as { version: unknown }).version)}`
            : 'it has no valid seal',
        );
      }
      if (opened === 'forged') refuse('its seal does not match this root’s key');
      parsed = checkJournal((opened as { body: Buffer }).body, stem);
    } catch (error) {
      if (!(error instanceof JournalRefused)) throw error;
      untrusted.push({ path: journalPath, why: error.message });
      logger.warn({ journal: journalPath, why: error.message }, 'spool left an untrusted journal in place');
      continue;
    }
    if (parsed.host !== hostname()) {
      // Its process may be alive on that host: only a recovery there can tell.
      logger.warn(
        { journal: journalPath, host: parsed.host },
        'spool left a commit journal of another host alone',
      );
      continue;
    }
    if (otherWriterAlive(parsed.pid)) continue;
    const markerRel = `${JOURNAL_DIR}/${stem}${REPLACING}`;
    const replacing = await tree.at(markerRel, journal).then((m) =>
      m === undefined
        ? false
        : lstat(m).then(
            () => true,
            () => false,
          ),
    );
    // Without the marker nothing was renamed: the files are as they were, or changed by someone else since.
    for (const [index, file] of parsed.files.entries()) {
      const backupRel = `${JOURNAL_DIR}/${stem}/${index}`;
      if (replacing && file.backup) {
        const backup = await tree.at(backupRel, journal);
        const target = await tree.at(file.path);
        // A backup is a hard link the commit made: anything but a regular file there was put by someone else.
        const kind = backup && (await lstat(backup).catch(() => undefined));
        if (kind && !kind.isFile()) {
          logger.warn(
            { journal: journalPath, backup },
            'spool left a backup that is not a regular file alone',
          );
        } else if (backup && target) await putBack(tree, file.path, backup, target).catch(ignoreMissing);
      } else if (replacing && file.tmp) {
        // An added file: its temp file still there means it was never renamed into place.
        const tmp = await tree.at(file.tmp);
        const renamed =
          tmp !== undefined &&
          (await unlink(tmp).then(
            () => false,
            (error: NodeJS.ErrnoException) => error.code === 'ENOENT',
          ));
        const target = renamed ? await tree.at(file.path) : undefined;
        if (target) await unlink(target).catch(ignoreMissing);
      }
      if (file.tmp) {
        const tmp = await tree.at(file.tmp);
        if (tmp) await unlink(tmp).catch(ignoreMissing);
      }
    }
    const backups = await tree.at(`${JOURNAL_DIR}/${stem}`, journal);
    if (backups) {
      for (const left of await readdir(backups).catch(() => [] as string[]))
        await unlink(`${backups}/${left}`).catch(() => {});
      await rmdir(backups).catch(() => {});
    }
    await unlinkIn(tree, markerRel);
    await unlink(at).catch(ignoreMissing);
    recovered++;
    logger.warn(
      { journal: journalPath, files: parsed.files.length, replacing },
      replacing
        ? 'spool rolled back a commit interrupted by a crash'
        : 'spool cleaned up a commit interrupted by a crash before it replaced any file',
    );
  }
  return { recovered, untrusted };
}
