import { constants as bufferConstants } from 'node:buffer';
import { createHash } from 'node:crypto';
import { constants } from 'node:fs';
import { rmdir, unlink } from 'node:fs/promises';
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
  otherWriterAlive,
  readJournal,
  settle,
  syncTreeDir,
  tag,
  writeJournal,
} from './commitSupport.js';
import { fchmodFd, fstatFd, fsyncFd, withFd, writeAllFd } from './fd.js';
import { seal, TRAILER_BYTES, unseal } from './journalKey.js';
import { int, JournalRefused, record, refuse, relPath, str, type UntrustedJournal } from './journalSchema.js';
import type { Limiter } from './limiter.js';
import type { Tree } from './tree.js';

/** One file of an in-place commit: small enough that its old and new content sit in memory. */
export interface InPlaceFile {
  /** The spool path, for messages. */
  path: string;
  /** Its real path relative to the root, `/`-separated: where it is written (through the tree). */
  rel: string;
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
  /** The root, opened: every path of the commit goes through its descriptors. */
  tree: Tree;
  /** The key that signs the rollback journal ({@link rootKey}). */
  key: Buffer;
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
/** Version 2: root-relative paths, sealed. Version 1 (absolute paths, no seal) is never replayed. */
const MAGIC = 'ordo-spool-rollback 2\n';
const OLD_MAGIC = 'ordo-spool-rollback 1\n';
/**
 * The largest rollback journal recovery reads: 4 GiB, Node 20's largest Buffer (Node 22 and later allow far
 * larger ones, which would let a planted sparse journal cost gigabytes of memory). Larger is refused unread.
 */
const MAX_ROLLBACK_BYTES = Math.min(bufferConstants.MAX_LENGTH, 2 ** 32);

/** The header of a rollback journal; the old contents follow it, back to back, then the seal. */
interface RollbackHeader {
  pid: number;
  host: string;
  /** Bytes of old content after the header: a shorter file is a journal torn by a crash. */
  bodyBytes: number;
  files: Array<{ path: string; old: { size: number; mode: number } | null }>;
}

/** A file as it was before the commit: `old` is `null` for a file the commit creates. */
interface Before {
  rel: string;
  old: { bytes: Buffer; mode: number } | null;
}

/** `MAGIC`, the header as one JSON line, every old content, then the seal. */
function encodeJournal(befores: readonly Before[], key: Buffer): Buffer {
  const header: RollbackHeader = {
    pid: process.pid,
    host: hostname(),
    bodyBytes: befores.reduce((sum, b) => sum + (b.old?.bytes.length ?? 0), 0),
    files: befores.map((b) => ({
      path: b.rel,
      old: b.old && { size: b.old.bytes.length, mode: b.old.mode },
    })),
  };
  const head = Buffer.from(`${MAGIC}${JSON.stringify(header)}\n`, 'utf8');
  if (head.length + header.bodyBytes + TRAILER_BYTES > MAX_ROLLBACK_BYTES) {
    // Recovery would refuse such a journal: refuse the commit before anything is written.
    throw new SpoolError(
      SpoolErrorCode.TOO_LARGE,
      `An in-place commit keeps the old content of every file it overwrites in one rollback journal, and these files hold ${header.bodyBytes} bytes (at most ${MAX_ROLLBACK_BYTES}). Commit them in smaller batches, or with commitMode: 'rename'.`,
      { details: { bytes: header.bodyBytes, maxBytes: MAX_ROLLBACK_BYTES } },
    );
  }
  return seal(key, Buffer.concat([head, ...befores.flatMap((b) => (b.old ? [b.old.bytes] : []))]));
}

/** The header line of a journal (its end offset), `undefined` while it is not all there. */
function headerOf(data: Buffer): { header: unknown; end: number } | undefined {
  const end = data.indexOf(10, MAGIC.length);
  if (end < 0) return undefined;
  try {
    return { header: JSON.parse(data.subarray(MAGIC.length, end).toString('utf8')), end };
  } catch {
    return refuse('its header is not JSON');
  }
}

/** A header as recovery may use it, or a {@link JournalRefused}. */
function checkHeader(value: unknown): RollbackHeader {
  const h = record(value, 'the header', ['pid', 'host', 'bodyBytes', 'files']);
  if (!Array.isArray(h.files) || h.files.length > 1_000_000) refuse('files is not a list');
  const seen = new Set<string>();
  let total = 0;
  const files = (h.files as unknown[]).map((f, i) => {
    const file = record(f, `files[${i}]`, ['path', 'old']);
    const rel = relPath(file.path, `files[${i}].path`);
    if (seen.has(rel)) refuse(`files[${i}].path ${rel} is listed twice`);
    seen.add(rel);
    if (file.old === null) return { path: rel, old: null };
    const old = record(file.old, `files[${i}].old`, ['size', 'mode']);
    const size = int(old.size, `files[${i}].old.size`, 0, 2 ** 40);
    total += size;
    return { path: rel, old: { size, mode: int(old.mode, `files[${i}].old.mode`, 0, 0o7777) } };
  });
  const bodyBytes = int(h.bodyBytes, 'bodyBytes', 0, 2 ** 48);
  if (bodyBytes !== total) refuse('bodyBytes is not the sum of the old sizes');
  return { pid: int(h.pid, 'pid', 1, 2 ** 31), host: str(h.host, 'host'), bodyBytes, files };
}

/**
 * What a rollback journal is: `'torn'` (cut short while it was written: no file was touched yet), or its
 * checked header and files; anything else is a {@link JournalRefused}.
 */
function decodeJournal(
  data: Buffer,
  key: Buffer | undefined,
): 'torn' | { header: RollbackHeader; befores: Before[] } {
  if (data.subarray(0, OLD_MAGIC.length).equals(Buffer.from(OLD_MAGIC)))
    refuse('an unauthenticated journal of version 1');
  const magic = Buffer.from(MAGIC);
  if (!data.subarray(0, magic.length).equals(magic.subarray(0, Math.min(magic.length, data.length))))
    refuse('it is not a rollback journal');
  if (data.length < magic.length) return 'torn';
  const opened = unseal(key, data);
  if (opened === 'forged') refuse('its seal does not match this root’s key');
  if (opened === 'unsealed') {
    // Torn only if it is shorter than its header says: a complete journal without a seal is not ours.
    const head = headerOf(data);
    if (!head) return 'torn';
    const bodyBytes = (head.header as { bodyBytes?: unknown })?.bodyBytes;
    if (typeof bodyBytes === 'number' && data.length < head.end + 1 + bodyBytes + TRAILER_BYTES)
      return 'torn';
    return refuse('it has no valid seal');
  }
  const body = opened.body;
  const head = headerOf(body);
  if (!head) return refuse('its header has no end');
  const header = checkHeader(head.header);
  if (body.length !== head.end + 1 + header.bodyBytes) refuse('its length does not match its header');
  let at = head.end + 1;
  const befores = header.files.map(({ path: rel, old }): Before => {
    if (!old) return { rel, old: null };
    const bytes = body.subarray(at, at + old.size);
    at += old.size;
    return { rel, old: { bytes, mode: old.mode } };
  });
  return { header, befores };
}

/**
 * Opens for an overwrite in place: never follows a symlink, never creates, never blocks (a FIFO swapped in
 * since the check would hang the open, and four of them libuv's whole thread pool).
 */
const OVERWRITE = constants.O_WRONLY | constants.O_TRUNC | constants.O_NOFOLLOW | constants.O_NONBLOCK;
/** Opens for a file the commit adds: fails if anything took its name since the check. */
const CREATE = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;

/** `SPOOL_CONFLICT`: something else than a regular file took the place of `rel` since it was checked. */
const notAFile = (rel: string, what: string) =>
  new SpoolError(
    SpoolErrorCode.CONFLICT,
    `${rel} is ${what} now, put in its place since it was staged; nothing was written to it. Remove it, reset the path (spool.reset([...])), stage the edit again and commit.`,
    { details: { path: rel, paths: [rel] } },
  );

/**
 * Writes `bytes` to the file at `abs`, opened with `flags` (created with `mode` under `CREATE`); `opened`
 * is told once the open worked, i.e. once the file may have changed. A write by a process without
 * privileges clears setuid and setgid: those bits are put back.
 */
async function overwrite(
  rel: string,
  abs: string,
  bytes: Buffer,
  flags: number,
  mode: number | undefined,
  fsync: boolean,
  opened?: () => void,
): Promise<void> {
  await withFd(abs, flags, mode ?? 0o666, async (fd) => {
    // Not opened yet as far as a rollback goes: a FIFO, socket or device here was never ours to restore.
    if (!(await fstatFd(fd)).isFile()) throw notAFile(rel, 'not a regular file');
    opened?.();
    await writeAllFd(fd, bytes);
    if (mode !== undefined && (flags & constants.O_CREAT || mode & 0o6000)) await fchmodFd(fd, mode);
    if (fsync) await fsyncFd(fd);
  }).catch((error: NodeJS.ErrnoException) => {
    // O_NONBLOCK|O_WRONLY on a FIFO without a reader, or on a socket.
    if (error.code === 'ENXIO') throw notAFile(rel, 'a FIFO or a socket');
    throw error;
  });
}

/**
 * Puts one file back as `before` says, through the tree: its old bytes (its mode too, if it had to be
 * recreated), or absent. A missing directory on the way means there is nothing to remove, or (for old
 * bytes) fails with ENOENT.
 */
async function restore(tree: Tree, before: Before, fsync: boolean): Promise<void> {
  if (!before.old) {
    const at = await tree.at(before.rel);
    if (at) await unlink(at).catch(ignoreMissing);
    return;
  }
  const { bytes, mode } = before.old;
  const at = await tree.must(before.rel);
  try {
    await overwrite(before.rel, at, bytes, OVERWRITE, mode, fsync);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    await overwrite(before.rel, at, bytes, CREATE, mode, fsync);
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
  const { fsync, limit, logger, tree } = settings;
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
        rel: file.rel,
        old: found === 'absent' ? null : { bytes: found, mode: file.mode ?? 0o644 },
      };
  });
  if (verifyError) throw verifyError.error;
  if (stale.length > 0) return { stale };

  const name = journalName();
  const journalPath = journalPathOf(tree.root, name);
  active.add(journalPath);
  try {
    await writeJournal(tree, name, encodeJournal(befores, settings.key), fsync);
  } catch (error) {
    active.delete(journalPath);
    throw failed(
      error,
      `while writing its rollback journal in ${tree.root}/${JOURNAL_DIR}; no file of the tree was touched`,
    );
  }
  const end = () => endJournal(tree, name, journalPath, fsync);
  const touched = new Set<number>();
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
        await unlink(await tree.must(file.rel));
        changed();
      } else if (befores[index]?.old) {
        await overwrite(
          file.path,
          await tree.must(file.rel),
          file.content,
          OVERWRITE,
          file.mode,
          fsync,
          changed,
        );
      } else {
        const at = (await tree.at(file.rel, { create: true })) as string;
        await overwrite(file.path, at, file.content, CREATE, undefined, fsync, changed);
      }
    })) ??
    // A directory moved while its files were written: undo, as for a failed write.
    (await tree.verify().then(
      () => undefined,
      (error: unknown) => error,
    ));
  if (writeError !== undefined) {
    const restoreErrors: string[] = [];
    await settle([...touched], limit, async (index) => {
      try {
        await restore(tree, befores[index] as Before, fsync);
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
    await end();
    const code = (writeError as { code?: string }).code;
    if (code === 'SPOOL_PATH_ESCAPE' || code === 'SPOOL_CONFLICT') throw writeError;
    throw failed(
      writeError,
      `half way; the ${touched.size} file(s) already written were restored, so the tree is as before`,
    );
  }
  if (fsync) {
    // Names created or removed must be durable before the journal that can undo them goes.
    const named = files.filter((f, i) => f.content === null || !befores[i]?.old);
    await settle([...new Set(named.map((f) => dirOf(f.rel)))], limit, (d) => syncTreeDir(tree, d));
  }
  await end();
  return { stale: [] };
}

/** Removes a journal: the commit it guards is done (or undone). */
async function endJournal(tree: Tree, name: string, journalPath: string, fsync: boolean): Promise<void> {
  const dir = await tree.dir(JOURNAL_DIR, { journal: true }).catch(() => undefined);
  if (dir) {
    await unlink(`${dir}/${name}`).catch(ignoreMissing);
    if (fsync) await syncTreeDir(tree, JOURNAL_DIR).catch(() => {});
    await rmdir((await tree.at(JOURNAL_DIR)) as string).catch(() => {});
    tree.forget(JOURNAL_DIR);
  }
  active.delete(journalPath);
}

/**
 * Rolls back the in-place commits under the tree's root that a crashed process left half done: every file
 * a complete rollback journal sealed with `key` names is put back to its old bytes, or removed if the commit
 * created it (the directories it made stay), through the tree (no symlink followed, nothing outside the
 * root). A torn journal (the crash came while it was written, so no file was touched) is only removed. Any
 * other journal (no valid seal, version 1, a bad header) is left in place and returned as untrusted.
 * Journals of commits still running (in this process, or in a live process on this host) and of another
 * host are left alone. Restored files are always fsynced.
 */
export async function recoverInPlaceCommits(
  tree: Tree,
  key: Buffer | undefined,
  logger: Logger,
): Promise<{ recovered: number; untrusted: UntrustedJournal[] }> {
  let recovered = 0;
  const untrusted: UntrustedJournal[] = [];
  for (const { name, path: journalPath, at } of await leftJournals(tree, ROLLBACK)) {
    const data = await readJournal(at, MAX_ROLLBACK_BYTES);
    if (data === undefined) continue;
    let journal: ReturnType<typeof decodeJournal>;
    try {
      if (data === 'irregular') refuse('it is not a regular file');
      if ('oversized' in data) refuse(`it holds ${data.oversized} bytes, more than a rollback journal can`);
      journal = decodeJournal(data as Buffer, key);
    } catch (error) {
      if (!(error instanceof JournalRefused)) throw error;
      untrusted.push({ path: journalPath, why: error.message });
      logger.warn({ journal: journalPath, why: error.message }, 'spool left an untrusted journal in place');
      continue;
    }
    if (journal !== 'torn') {
      const { header } = journal;
      if (header.host !== hostname()) {
        logger.warn(
          { journal: journalPath, host: header.host },
          'spool left a rollback journal of another host alone',
        );
        continue;
      }
      if (otherWriterAlive(header.pid)) continue;
      for (const before of journal.befores) await restore(tree, before, true);
    } else {
      // Torn: the commit died while writing its journal, before touching any file, or is writing it right
      // now. Only the name tells whose it is.
      const owner = ownerOf(name);
      if (owner?.host !== hostTag()) {
        logger.warn({ journal: journalPath }, 'spool left a torn rollback journal of another host alone');
        continue;
      }
      if (otherWriterAlive(owner.pid)) continue;
    }
    await unlink(at).catch(ignoreMissing);
    recovered++;
    logger.warn(
      { journal: journalPath, files: journal === 'torn' ? 0 : journal.befores.length },
      journal !== 'torn'
        ? 'spool rolled back an in-place commit interrupted by a crash'
        : 'spool removed a rollback journal torn by a crash before the commit touched any file',
    );
  }
  return { recovered, untrusted };
}

/** A short hash of this host's name, put in journal names. */
const hostTag = () => createHash('sha1').update(hostname()).digest('hex').slice(0, 8);

/** `<time>-<random>.<host tag>.<pid>.rollback`: a torn journal still says whose it is. */
const journalName = () => `${Date.now().toString(36)}-${tag()}.${hostTag()}.${process.pid}${ROLLBACK}`;

function ownerOf(name: string): { host: string; pid: number } | undefined {
  const match = /\.([0-9a-f]{8})\.(\d+)\.rollback$/.exec(name);
  return match ? { host: match[1] as string, pid: Number(match[2]) } : undefined;
}
