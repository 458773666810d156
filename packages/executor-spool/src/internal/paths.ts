import { lstat, realpath } from 'node:fs/promises';
import path from 'node:path';
import { SpoolError, SpoolErrorCode } from '../errors.js';
import { isReservedName, JOURNAL_DIR } from './commitSupport.js';

const refuse = (p: string, why: string) =>
  new SpoolError(
    SpoolErrorCode.PATH_ESCAPE,
    `Refused path ${JSON.stringify(p)}: ${why}. Pass a relative path inside the spool root, with '/' separators.`,
    {
      details: { path: p },
    },
  );

const invalid = (p: string, why: string) =>
  new SpoolError(SpoolErrorCode.INVALID_ARGUMENT, `Invalid path ${JSON.stringify(p)}: ${why}.`, {
    details: { path: p },
  });

/** The longest name one segment may have, and the longest path, in bytes (Linux's NAME_MAX and PATH_MAX). */
const MAX_NAME_BYTES = 255;
const MAX_PATH_BYTES = 4096;

/**
 * Checks a caller's path syntactically and returns it normalized: relative, `/`-separated, no `.` or `..`.
 * Refuses absolute paths, `..` segments, NUL bytes, backslashes, drive letters and any segment naming the
 * journal directory `.ordo-spool` (in any case or Unicode compatibility form), with `SPOOL_PATH_ESCAPE`;
 * a lone UTF-16 surrogate, a segment over 255 bytes or a path over 4,096 bytes with `SPOOL_INVALID_ARGUMENT`.
 */
export function normalizeSpoolPath(p: unknown): string {
  if (typeof p !== 'string' || p.length === 0) {
    throw new SpoolError(
      SpoolErrorCode.INVALID_ARGUMENT,
      `A path must be a non-empty string, got ${JSON.stringify(p)}.`,
      {
        details: { path: String(p) },
      },
    );
  }
  if (p.includes('\0')) throw refuse(p, 'it holds a NUL byte');
  // A lone surrogate is written to disk as U+FFFD: two different paths would name one file.
  if (/\p{Cs}/u.test(p)) throw invalid(p, 'it holds a lone UTF-16 surrogate, which has no UTF-8 form');
  if (p.includes('\\')) throw refuse(p, 'it holds a backslash');
  if (p.startsWith('/') || /^[A-Za-z]:/.test(p)) throw refuse(p, 'it is absolute');
  const parts = p.split('/').filter((s) => s !== '' && s !== '.');
  if (parts.includes('..')) throw refuse(p, "it holds a '..' segment");
  if (parts.length === 0) throw refuse(p, 'it names the root itself');
  if (parts.some(isReservedName))
    throw refuse(p, `${JOURNAL_DIR}/ holds the journals of commits in progress`);
  if (Buffer.byteLength(p) > MAX_PATH_BYTES || parts.some((s) => Buffer.byteLength(s) > MAX_NAME_BYTES))
    throw invalid(
      p,
      `a segment is longer than ${MAX_NAME_BYTES} bytes or the path longer than ${MAX_PATH_BYTES}`,
    );
  return parts.join('/');
}

/**
 * Resolves `rel` under `realRoot` and checks that no symlink on the way leads outside the root: the deepest
 * existing ancestor (or the file itself when it exists) must resolve inside `realRoot`, and not into the
 * journal directory (by any segment of the resolved path), nor to the root itself. Returns the absolute
 * path to use on disk: the file's real path when it exists, else its real parent joined with the missing rest.
 */
export async function resolveInside(realRoot: string, rel: string): Promise<string> {
  const target = path.join(realRoot, ...rel.split('/'));
  let existing = target;
  const missing: string[] = [];
  for (;;) {
    try {
      await lstat(existing);
      break;
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ELOOP') throw refuse(rel, 'a symlink on the way loops');
      if (code === 'ENOTDIR') throw invalid(rel, 'a segment on the way is a file, not a directory');
      if (code === 'ENAMETOOLONG') throw invalid(rel, 'it is longer than the file system allows');
      if (code !== 'ENOENT') throw error;
      missing.unshift(path.basename(existing));
      existing = path.dirname(existing);
    }
  }
  let real: string;
  try {
    real = await realpath(existing);
  } catch (error) {
    // A dangling symlink: refuse, since its target could be created outside the root.
    throw refuse(rel, `a symlink on the way cannot be resolved (${(error as Error).message})`);
  }
  if (real !== realRoot && !real.startsWith(realRoot + path.sep)) {
    throw refuse(rel, 'a symlink on the way leads outside the root');
  }
  const resolved = path.join(real, ...missing);
  const inside = path.relative(realRoot, resolved);
  if (inside === '') throw refuse(rel, 'it resolves to the root itself');
  // The reserved directory by any route: a symlink to it or to the root, a case or Unicode variant.
  if (inside.split(path.sep).some(isReservedName)) {
    throw refuse(rel, `it resolves into ${JOURNAL_DIR}/, which holds the journals of commits in progress`);
  }
  return resolved;
}
