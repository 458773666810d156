import { randomBytes } from 'node:crypto';
import { copyFile, link, mkdir, open, rename, rmdir, unlink } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from '@ordo/contracts';
import { SpoolError, SpoolErrorCode } from '../errors.js';
import type { Content } from './content.js';
import type { Limiter } from './limiter.js';

/** One file of a commit, already checked against the disk. */
export interface CommitFile {
  /** The spool path, for messages. */
  path: string;
  abs: string;
  /** The new content; `null` deletes the file. */
  content: Content | null;
  /** Whether the file exists on disk (with its base content). */
  existed: boolean;
  /** Its permission bits, kept on the replacement. */
  mode: number | undefined;
  /** The base bytes when small enough to keep: then rollback rewrites them instead of keeping a backup link. */
  original?: Buffer | undefined;
}

/** Settings of {@link commitFiles}. */
export interface CommitSettings {
  fsync: boolean;
  limit: Limiter;
  logger: Logger;
  beforeReplace?: ((path: string, index: number) => void | Promise<void>) | undefined;
}

interface Step {
  file: CommitFile;
  index: number;
  tmp?: string;
  backup?: string;
  replaced: boolean;
}

const sibling = (abs: string, tag: string) =>
  path.join(path.dirname(abs), `.${path.basename(abs)}.ordo-${randomBytes(6).toString('hex')}.${tag}`);

/** Writes `bytes` (or a copy of `from`) to a new temp file beside `abs`, with `mode`, fsynced when asked. */
async function writeBeside(
  abs: string,
  source: { bytes?: Buffer | undefined; from?: string | undefined },
  mode: number | undefined,
  fsync: boolean,
): Promise<string> {
  const tmp = sibling(abs, 'tmp');
  if (source.from) await copyFile(source.from, tmp);
  const handle = await open(tmp, source.from ? 'r+' : 'wx', mode ?? 0o666);
  try {
    if (source.bytes) await handle.writeFile(source.bytes);
    if (mode !== undefined) await handle.chmod(mode);
    if (fsync) await handle.sync();
  } finally {
    await handle.close();
  }
  return tmp;
}

const settle = async <T>(items: readonly T[], limit: Limiter, fn: (item: T) => Promise<unknown>) => {
  const results = await Promise.allSettled(items.map((item) => limit(() => fn(item))));
  return results.find((r): r is PromiseRejectedResult => r.status === 'rejected')?.reason as unknown;
};

const failed = (cause: unknown, what: string) =>
  new SpoolError(
    SpoolErrorCode.COMMIT_FAILED,
    `The commit failed ${what}. The staged edits are kept: fix the cause (${(cause as Error)?.message ?? String(cause)}) and commit again.`,
    { cause },
  );

/**
 * Puts every file in place, all or nothing: each new content goes to a temp file in its directory (fsynced),
 * then replaces the file by rename; on any failure the files already replaced are restored (from the bytes
 * kept in memory, or from a hard-link backup) and `SPOOL_COMMIT_FAILED` says so.
 */
export async function commitFiles(files: readonly CommitFile[], settings: CommitSettings): Promise<void> {
  const { fsync, limit, logger } = settings;
  const steps: Step[] = files.map((file, index) => ({ file, index, replaced: false }));
  const dirsMade = new Map<string, Promise<string | undefined>>();
  const ensureDir = (dir: string) => {
    let made = dirsMade.get(dir);
    if (!made) {
      made = mkdir(dir, { recursive: true });
      dirsMade.set(dir, made);
    }
    return made;
  };
  const undoDirs = async () => {
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
  };
  const removeTemps = () =>
    Promise.all(steps.map((s) => (s.tmp && !s.replaced ? unlink(s.tmp).catch(() => {}) : undefined)));

  const writeError = await settle(steps, limit, async (step) => {
    const { content, abs, mode } = step.file;
    if (!content) return;
    await ensureDir(path.dirname(abs));
    step.tmp = await writeBeside(
      abs,
      { bytes: content.file ? undefined : content.buffer, from: content.file },
      mode,
      fsync,
    );
  });
  if (writeError !== undefined) {
    await removeTemps();
    await undoDirs();
    throw failed(writeError, 'while writing the replacement files; no file of the tree was touched');
  }

  const replaceError = await settle(steps, limit, async (step) => {
    await settings.beforeReplace?.(step.file.path, step.index);
    const { file } = step;
    if (file.existed && !file.original) {
      const backup = sibling(file.abs, 'bak');
      if (file.content) await link(file.abs, backup).catch(() => copyFile(file.abs, backup));
      else await rename(file.abs, backup);
      step.backup = backup;
    }
    if (step.tmp) await rename(step.tmp, file.abs);
    else if (file.original) await unlink(file.abs);
    step.replaced = true;
  });
  if (replaceError !== undefined) {
    const restoreErrors: string[] = [];
    await settle(steps, limit, async ({ file, backup, replaced }) => {
      try {
        if (backup) await rename(backup, file.abs);
        else if (replaced && file.original)
          await rename(await writeBeside(file.abs, { bytes: file.original }, file.mode, fsync), file.abs);
        else if (replaced && !file.existed) await unlink(file.abs);
      } catch (error) {
        restoreErrors.push(`${file.path}${backup ? ` (backup ${backup})` : ''}: ${(error as Error).message}`);
      }
    });
    await removeTemps();
    await undoDirs();
    const restored = steps.filter((s) => s.replaced || s.backup).length;
    logger.warn({ error: replaceError, restored, restoreErrors }, 'spool commit failed and was rolled back');
    throw failed(
      replaceError,
      restoreErrors.length === 0
        ? `half way; the ${restored} file(s) already replaced were restored, so the tree is as before`
        : `half way, and restoring failed for: ${restoreErrors.join('; ')}. Restore those files by hand`,
    );
  }

  await settle(steps, limit, async (step) => (step.backup ? unlink(step.backup) : undefined));
  if (fsync) await settle([...new Set(steps.map((s) => path.dirname(s.file.abs)))], limit, syncDir);
}

async function syncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } catch {
    // Some file systems cannot fsync a directory; the renames are still atomic there.
  } finally {
    await handle.close();
  }
}
