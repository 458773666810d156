import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { constants } from 'node:fs';
import { link, lstat, mkdir, unlink } from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import path from 'node:path';
import { SpoolError, SpoolErrorCode } from '../errors.js';
import { closeFd, fstatFd, openFd, readFd, writeAllFd } from './fd.js';

/*
 * Journals are authenticated: a recovery replays only what a spool of this user wrote for this root.
 *
 * One secret per user (32 random bytes in a 0600 file, outside every spool root: `$ORDO_SPOOL_KEY_DIR`, else
 * `$XDG_STATE_HOME/ordo`, else `~/.local/state/ordo`; `<tmpdir>/ordo-<uid>` when those cannot be written),
 * made once with O_EXCL (written to a temp name, then hard-linked into place, so no reader sees it half
 * written) and read with O_NOFOLLOW: a symlink, a file of another owner, a group- or world-readable file or
 * one of the wrong size is refused. Each root gets its own key, HMAC-SHA256(secret, real root path), and each
 * journal ends with a trailer line holding HMAC-SHA256(root key, everything before it).
 */

const KEY_FILE = 'spool-journal.key';
const KEY_BYTES = 32;
/** The last line of an authenticated journal: this, 64 hex digits, a newline. */
const TRAILER = '\nordo-journal-mac ';
export const TRAILER_BYTES = TRAILER.length + 64 + 1;

/** The directory the user's journal secret lives in, unless the caller names one. */
export function defaultKeyDir(): string {
  const fromEnv = process.env.ORDO_SPOOL_KEY_DIR;
  if (fromEnv) return fromEnv;
  const state = process.env.XDG_STATE_HOME || path.join(homedir(), '.local', 'state');
  return path.join(state, 'ordo');
}

const untrusted = (file: string, why: string) =>
  new SpoolError(
    SpoolErrorCode.JOURNAL_UNTRUSTED,
    `The spool journal key at ${file} cannot be trusted: ${why}. Remove it (journals it signed can then no longer be recovered) or fix its owner and mode (0600 for the key, 0700 for its directory).`,
    { details: { path: file } },
  );

async function readKey(file: string): Promise<Buffer | undefined> {
  let fd: number;
  try {
    fd = await openFd(file, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return undefined;
    if (code === 'ELOOP') throw untrusted(file, 'it is a symlink');
    throw error;
  }
  try {
    const info = await fstatFd(fd);
    if (!info.isFile()) throw untrusted(file, 'it is not a regular file');
    if (typeof process.getuid === 'function' && info.uid !== process.getuid())
      throw untrusted(file, `it belongs to uid ${info.uid}, not to this process`);
    if ((info.mode & 0o077) !== 0) throw untrusted(file, 'others may read it (mode is not 0600)');
    if (info.size !== KEY_BYTES) throw untrusted(file, `it holds ${info.size} bytes, not ${KEY_BYTES}`);
    const key = Buffer.alloc(KEY_BYTES);
    let read = 0;
    while (read < KEY_BYTES) {
      const n = await readFd(fd, key, read, KEY_BYTES - read, read);
      if (n === 0) break;
      read += n;
    }
    if (read !== KEY_BYTES) throw untrusted(file, 'it was cut short');
    return key;
  } finally {
    await closeFd(fd);
  }
}

/** Makes the secret at `file` once: written to a temp name, then linked into place (EEXIST: someone won). */
async function makeKey(dir: string, file: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const tmp = path.join(dir, `.${KEY_FILE}.${process.pid}.${randomBytes(4).toString('hex')}`);
  const fd = await openFd(
    tmp,
    constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW,
    0o600,
  );
  try {
    await writeAllFd(fd, randomBytes(KEY_BYTES));
  } finally {
    await closeFd(fd);
  }
  try {
    await link(tmp, file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  } finally {
    await unlink(tmp).catch(() => {});
  }
}

const secrets = new Map<string, Promise<Buffer>>();

/**
 * Refuses a key directory that is a symlink, not ours, or writable by others (they could swap the key).
 * A missing one is fine (it is made 0700).
 */
async function checkKeyDir(dir: string): Promise<void> {
  const info = await lstat(dir).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return undefined;
    throw error;
  });
  if (!info) return;
  if (info.isSymbolicLink()) throw untrusted(dir, 'the key directory is a symlink');
  if (!info.isDirectory()) throw untrusted(dir, 'the key directory is not a directory');
  if (typeof process.getuid === 'function' && info.uid !== process.getuid())
    throw untrusted(dir, `the key directory belongs to uid ${info.uid}, not to this process`);
  if ((info.mode & 0o022) !== 0) throw untrusted(dir, 'others may write the key directory');
}

/** The user's secret in `dir` (made on first use), read once per process and directory. */
async function secretIn(dir: string, create: boolean): Promise<Buffer | undefined> {
  const file = path.join(dir, KEY_FILE);
  const known = secrets.get(dir);
  if (known) return known;
  await checkKeyDir(dir);
  const existing = await readKey(file);
  if (existing || !create) {
    if (existing) secrets.set(dir, Promise.resolve(existing));
    return existing;
  }
  const made = (async () => {
    await makeKey(dir, file);
    return (await readKey(file)) as Buffer;
  })();
  secrets.set(dir, made);
  made.catch(() => secrets.delete(dir));
  return made;
}

/** Where the secret is read from and made: the named or default directory, else a per-user temp dir. */
async function secret(keyDir: string | undefined, create: boolean): Promise<Buffer | undefined> {
  const dir = keyDir ?? defaultKeyDir();
  try {
    return await secretIn(dir, create);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    // A read-only or missing home (containers): journals then last until the next reboot.
    if (keyDir !== undefined || !['EACCES', 'EPERM', 'EROFS', 'ENOENT', 'ENOTDIR'].includes(code ?? ''))
      throw error;
    const uid = typeof process.getuid === 'function' ? process.getuid() : 'user';
    return secretIn(path.join(tmpdir(), `ordo-${uid}`), create);
  }
}

/**
 * The key that signs the journals of the real root `root`, made on first use unless `create` is false
 * (then `undefined` when there is no secret yet: no journal can be trusted).
 */
export async function rootKey(
  root: string,
  keyDir: string | undefined,
  create = true,
): Promise<Buffer | undefined> {
  const base = await secret(keyDir, create);
  return base && createHmac('sha256', base).update(`ordo-spool root\0${root}`).digest();
}

/** `body` with its trailer line. */
export function seal(key: Buffer, body: Buffer): Buffer {
  const mac = createHmac('sha256', key).update(body).digest('hex');
  return Buffer.concat([body, Buffer.from(`${TRAILER}${mac}\n`, 'latin1')]);
}

/**
 * What a journal's bytes are: `body` when its trailer holds the right MAC, `'unsealed'` when it has no
 * trailer (torn while written, or not written by this version), `'forged'` when it has one that is wrong.
 */
export function unseal(key: Buffer | undefined, data: Buffer): { body: Buffer } | 'unsealed' | 'forged' {
  if (data.length < TRAILER_BYTES || data[data.length - 1] !== 10) return 'unsealed';
  const at = data.length - TRAILER_BYTES;
  if (data.toString('latin1', at, at + TRAILER.length) !== TRAILER) return 'unsealed';
  const hex = data.toString('latin1', at + TRAILER.length, data.length - 1);
  if (!/^[0-9a-f]{64}$/.test(hex) || !key) return 'forged';
  const body = data.subarray(0, at);
  const want = createHmac('sha256', key).update(body).digest();
  return timingSafeEqual(want, Buffer.from(hex, 'hex')) ? { body } : 'forged';
}
