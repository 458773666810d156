import { createHash, randomBytes } from 'node:crypto';
import { constants, createReadStream, type Stats } from 'node:fs';
import { type FileHandle, lstat, open, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { SpoolError, SpoolErrorCode } from '../errors.js';
import { closeFd, fstatFd, openFd, readFd } from './fd.js';

/** What `write` accepts: text (written as UTF-8), bytes, or a stream of either. */
export type SpoolData = string | Uint8Array | AsyncIterable<string | Uint8Array>;

/** Staged or base content: in memory (`buffer`) or spilled to a temp file (`file`). */
export interface Content {
  /** Git's blob id (SHA-1 of `blob <size>\0<bytes>`), so `index` lines match git's. */
  readonly id: string;
  readonly size: number;
  readonly buffer?: Buffer | undefined;
  readonly file?: string | undefined;
}

/** Random access to bytes, from memory or a file. */
export interface ByteSource {
  readonly size: number;
  read(position: number, length: number): Promise<Buffer>;
  close(): Promise<void>;
}

/** The id of absent content in git's `index` lines. */
export const ABSENT_ID = '0'.repeat(40);

/** Git's blob id of `bytes`. */
export function blobId(bytes: Uint8Array): string {
  return createHash('sha1').update(`blob ${bytes.length}\0`).update(bytes).digest('hex');
}

/** Git's blob id of a file, streamed; `size` must be the file's size. Returns undefined if the size changed. */
export async function fileBlobId(file: string, size: number): Promise<string | undefined> {
  const hash = createHash('sha1').update(`blob ${size}\0`);
  let read = 0;
  for await (const chunk of createReadStream(file, { highWaterMark: 1 << 20 })) {
    read += (chunk as Buffer).length;
    hash.update(chunk as Buffer);
  }
  return read === size ? hash.digest('hex') : undefined;
}

/** A {@link ByteSource} over content (or over any file with a known size). */
export async function openSource(content: {
  size: number;
  buffer?: Buffer | undefined;
  file?: string | undefined;
}): Promise<ByteSource> {
  const { buffer, size } = content;
  if (buffer) {
    return { size, read: async (pos, len) => buffer.subarray(pos, pos + len), close: async () => {} };
  }
  return fdSource(await openFd(content.file as string, constants.O_RDONLY), size);
}

/** The content's bytes in chunks, without loading a spilled file whole. */
export async function* contentChunks(content: Content): AsyncGenerator<Buffer> {
  if (content.buffer) {
    yield content.buffer;
    return;
  }
  if (content.file) {
    for await (const chunk of createReadStream(content.file, { highWaterMark: 1 << 20 }))
      yield chunk as Buffer;
  }
}

/** The content's bytes, whole, in memory. */
export async function contentBytes(content: Content): Promise<Buffer> {
  return content.buffer ?? (content.file ? readFile(content.file) : Buffer.alloc(0));
}

/** What the spool remembers of a file on disk when it stages an edit of it. */
export interface BaseInfo {
  /** Git's blob id of the bytes. */
  readonly id: string;
  readonly size: number;
  /** Permission bits, restored on the replacement file. */
  readonly mode: number;
  /** Size, mtime and inode: a cheap check that the file is still the one that was hashed. */
  readonly signature: string;
  /**
   * The bytes that were hashed (small files), held weakly: a diff soon after staging reads them from here
   * instead of from the disk (while `signature` still matches); the garbage collector may drop them.
   */
  readonly bytes?: WeakRef<Buffer> | undefined;
}

/**
 * Size, mode and signature of the regular file at `at` (a {@link Tree} path: its last component is not
 * followed), `undefined` if it does not exist. A symlink there is `SPOOL_PATH_ESCAPE` (it was swapped in since
 * the path was resolved); a FIFO, directory, socket or device is `SPOOL_NOT_REGULAR`.
 */
export async function fileInfo(p: string, at: string): Promise<Omit<BaseInfo, 'id'> | undefined> {
  let info: Stats;
  try {
    info = await lstat(at);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  if (info.isSymbolicLink()) throw swapped(p);
  if (!info.isFile()) throw notRegular(p, info);
  return { size: info.size, mode: info.mode & 0o7777, signature: signatureOf(info) };
}

/** Opens the regular file at `at` for reading: no symlink followed, never blocking; `undefined` if missing. */
export async function openRegular(p: string, at: string): Promise<{ fd: number; info: Stats } | undefined> {
  let fd: number;
  try {
    fd = await openFd(at, READ_FLAGS);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return undefined;
    if (code === 'ELOOP') throw swapped(p);
    if (code === 'ENXIO' || code === 'EOPNOTSUPP') throw notRegular(p);
    throw error;
  }
  try {
    const info = await fstatFd(fd);
    if (!info.isFile()) throw notRegular(p, info);
    return { fd, info };
  } catch (error) {
    await closeFd(fd);
    throw error;
  }
}

/**
 * Fills `out` from the open file `fd` at `pos`, a GiB a read at most (one read takes at most 2^31 − 1
 * bytes); returns how many bytes it got (fewer at the end of a file that shrank).
 */
async function readInto(fd: number, out: Buffer, pos: number): Promise<number> {
  let done = 0;
  while (done < out.length) {
    const n = await readFd(fd, out, done, Math.min(out.length - done, 2 ** 30), pos + done);
    if (n === 0) break;
    done += n;
  }
  return done;
}

/** Reads all `size` bytes of the open file `fd` from its start (fewer if it shrank). */
export async function readAllFd(fd: number, size: number): Promise<Buffer> {
  const bytes = Buffer.allocUnsafe(size);
  const read = await readInto(fd, bytes, 0);
  return read === size ? bytes : bytes.subarray(0, read);
}

/** A {@link ByteSource} over an open file descriptor, which `close()` closes. */
export function fdSource(fd: number, size: number): ByteSource {
  return {
    size,
    async read(pos, len) {
      const out = Buffer.allocUnsafe(Math.max(0, Math.min(len, size - pos)));
      return out.subarray(0, await readInto(fd, out, pos));
    },
    close: () => closeFd(fd),
  };
}

/** O_NOFOLLOW: a symlink swapped in fails with ELOOP. O_NONBLOCK: a FIFO cannot hang the open. */
const READ_FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;

/** Size, mtime, ctime and inode: a cheap sign that a file is still the one that was hashed. */
export const signatureOf = (info: Stats) => `${info.size}:${info.mtimeMs}:${info.ctimeMs}:${info.ino}`;

/** What a file that is not regular is, in words. */
const kindOf = (info: Stats | undefined) =>
  !info
    ? 'not a regular file'
    : info.isDirectory()
      ? 'a directory'
      : info.isFIFO()
        ? 'a FIFO (named pipe)'
        : info.isSocket()
          ? 'a socket'
          : info.isCharacterDevice() || info.isBlockDevice()
            ? 'a device'
            : 'not a regular file';

/** `SPOOL_NOT_REGULAR`: the spool reads and stages regular files only. */
export const notRegular = (p: string, info?: Stats) =>
  new SpoolError(
    SpoolErrorCode.NOT_REGULAR,
    `${p} is ${kindOf(info)}; the spool reads and stages regular files only. Pick a regular file, or remove what stands at that path first.`,
    { details: { path: p, kind: kindOf(info) } },
  );

/** `SPOOL_PATH_ESCAPE`: the file itself is a symlink now, though its path resolved to a file. */
const swapped = (p: string) =>
  new SpoolError(
    SpoolErrorCode.PATH_ESCAPE,
    `Refused path ${JSON.stringify(p)}: the file became a symlink after its path was resolved (swapped meanwhile?). Nothing was read or written through it; try again once the tree is quiet.`,
    { details: { path: p } },
  );

const changedWhileRead = (p: string) =>
  new SpoolError(SpoolErrorCode.CONFLICT, `${p} changed while it was read. Retry when its writer is done.`, {
    details: { path: p },
  });

const tooLarge = (p: string, size: number, max: number) =>
  new SpoolError(
    SpoolErrorCode.TOO_LARGE,
    `${p} is larger than maxFileBytes (${size} > ${max} bytes). Raise maxFileBytes or split the file.`,
    { details: { path: p, size, maxFileBytes: max } },
  );

/** Turns written data into {@link Content}, spilling anything above the threshold to a temp file. */
export class ContentStore {
  readonly #threshold: number;
  readonly #maxBytes: number;
  readonly #spillDir: () => Promise<string>;
  #counter = 0;

  constructor(threshold: number, maxBytes: number, spillDir: () => Promise<string>) {
    this.#threshold = threshold;
    this.#maxBytes = maxBytes;
    this.#spillDir = spillDir;
  }

  /** Stages `data` for `p`. */
  async fromData(p: string, data: SpoolData, signal?: AbortSignal): Promise<Content> {
    if (typeof data === 'string') return this.fromBuffer(p, Buffer.from(data, 'utf8'));
    // A copy: the caller may reuse its array once write() returns.
    if (data instanceof Uint8Array) return this.fromBuffer(p, Buffer.from(data));
    if (data === null || typeof data !== 'object' || !(Symbol.asyncIterator in data)) {
      throw new SpoolError(
        SpoolErrorCode.INVALID_ARGUMENT,
        `write(${JSON.stringify(p)}) takes a string, a Uint8Array or an AsyncIterable of them; got ${data === null ? 'null' : typeof data}.`,
        { details: { path: p } },
      );
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let handle: FileHandle | undefined;
    let file: string | undefined;
    try {
      for await (const piece of data) {
        signal?.throwIfAborted();
        const chunk = typeof piece === 'string' ? Buffer.from(piece, 'utf8') : Buffer.from(piece);
        size += chunk.length;
        if (size > this.#maxBytes) throw tooLarge(p, size, this.#maxBytes);
        if (handle) {
          await handle.write(chunk);
          continue;
        }
        chunks.push(chunk);
        if (size > this.#threshold) {
          file = await this.#newSpillFile();
          handle = await open(file, 'w');
          for (const c of chunks) await handle.write(c);
          chunks.length = 0;
        }
      }
      if (!handle || !file) return this.fromBuffer(p, Buffer.concat(chunks, size));
      await handle.close();
      handle = undefined;
      const id = await fileBlobId(file, size);
      return { id: id as string, size, file };
    } catch (error) {
      await handle?.close().catch(() => {});
      if (file) await rm(file, { force: true });
      throw error;
    }
  }

  /** Stages bytes already in memory. */
  async fromBuffer(p: string, buffer: Buffer): Promise<Content> {
    if (buffer.length > this.#maxBytes) throw tooLarge(p, buffer.length, this.#maxBytes);
    const id = blobId(buffer);
    if (buffer.length <= this.#threshold) return { id, size: buffer.length, buffer };
    const file = await this.#newSpillFile();
    const handle = await open(file, 'w');
    try {
      await handle.write(buffer);
    } finally {
      await handle.close();
    }
    return { id, size: buffer.length, file };
  }

  /**
   * Hashes a file on disk as the base of an edit (`undefined` when it does not exist), with one open.
   * Nothing stays in memory but a weak reference to the bytes: diffs read the file again, after checking
   * `signature` still matches. `at` is a {@link Tree} path: a symlink there is `SPOOL_PATH_ESCAPE`, and a
   * FIFO, directory, socket or device `SPOOL_NOT_REGULAR` (opened non-blocking, so nothing hangs).
   */
  async baseOf(p: string, at: string): Promise<BaseInfo | undefined> {
    const opened = await openRegular(p, at);
    if (!opened) return undefined;
    const { fd, info } = opened;
    try {
      if (info.size > this.#maxBytes) throw tooLarge(p, info.size, this.#maxBytes);
      const signature = signatureOf(info);
      const mode = info.mode & 0o7777;
      if (info.size <= this.#threshold) {
        const bytes = await readAllFd(fd, info.size);
        if (bytes.length !== info.size) throw changedWhileRead(p);
        return { id: blobId(bytes), size: info.size, mode, signature, bytes: new WeakRef(bytes) };
      }
      const hash = createHash('sha1').update(`blob ${info.size}\0`);
      const chunk = Buffer.allocUnsafe(1 << 20);
      let read = 0;
      for (;;) {
        const bytesRead = await readFd(fd, chunk, 0, chunk.length, read);
        if (bytesRead === 0) break;
        hash.update(chunk.subarray(0, bytesRead));
        read += bytesRead;
      }
      if (read !== info.size) throw changedWhileRead(p);
      return { id: hash.digest('hex'), size: info.size, mode, signature };
    } finally {
      await closeFd(fd);
    }
  }

  /** The bytes of the regular file at `at` (a {@link Tree} path), `undefined` if missing; bounded by `maxFileBytes`. */
  async readAt(p: string, at: string): Promise<Buffer | undefined> {
    const opened = await openRegular(p, at);
    if (!opened) return undefined;
    try {
      if (opened.info.size > this.#maxBytes) throw tooLarge(p, opened.info.size, this.#maxBytes);
      return await readAllFd(opened.fd, opened.info.size);
    } finally {
      await closeFd(opened.fd);
    }
  }

  /**
   * Whether `abs` still holds the content `base` was hashed from (`undefined`: that it does not exist). Up to
   * the spill threshold this costs one open, one read and one close: a regular file read short at exactly
   * `base.size` bytes has ended, and anything else (other bytes, a directory, a device) is not the base.
   * `abs` is a {@link Tree} path; a symlink there is `SPOOL_PATH_ESCAPE`.
   */
  async holds(p: string, abs: string, base: { id: string; size: number } | undefined): Promise<boolean> {
    if (base && base.size > this.#threshold) {
      try {
        return (await this.baseOf(p, abs))?.id === base.id;
      } catch (error) {
        // Something else (a directory, a FIFO) now stands in the file's place: not the base.
        if ((error as { code?: string }).code === SpoolErrorCode.NOT_REGULAR) return false;
        throw error;
      }
    }
    return (await this.snapshot(p, abs, base)) !== false;
  }

  /**
   * {@link ContentStore.holds} for a base up to the spill threshold, returning what it read: the file's
   * bytes when it holds `base`, `'absent'` when it is missing as `base` says, `false` when it is not the
   * base. Costs the same one open, one read and one close.
   */
  async snapshot(
    p: string,
    abs: string,
    base: { id: string; size: number } | undefined,
  ): Promise<Buffer | 'absent' | false> {
    let fd: number;
    try {
      // O_NONBLOCK: a FIFO put in the file's place must not hang the commit.
      fd = await openFd(abs, READ_FLAGS);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return base === undefined && 'absent';
      if (code === 'ELOOP') throw swapped(p);
      // A socket in the file's place.
      if (code === 'ENXIO' || code === 'EOPNOTSUPP') return false;
      throw error;
    }
    try {
      if (!base) return false;
      // One byte more than the base: reading it means the file grew.
      const bytes = Buffer.allocUnsafe(base.size + 1);
      let read = 0;
      for (;;) {
        const bytesRead = await readFd(fd, bytes, read, bytes.length - read, read);
        read += bytesRead;
        if (bytesRead === 0 || read >= base.size) break;
      }
      const held = bytes.subarray(0, read);
      return read === base.size && blobId(held) === base.id && held;
    } catch (error) {
      // A directory or a FIFO in the file's place.
      if (['EISDIR', 'ESPIPE'].includes((error as NodeJS.ErrnoException).code ?? '')) return false;
      throw error;
    } finally {
      await closeFd(fd);
    }
  }

  /** Removes a spill file (never a file of the tree: those are not owned by the store). */
  async discard(content: Content | undefined, spillDir: string | undefined): Promise<void> {
    if (content?.file && spillDir && path.dirname(content.file) === spillDir)
      await rm(content.file, { force: true });
  }

  async #newSpillFile(): Promise<string> {
    const dir = await this.#spillDir();
    return path.join(dir, `${++this.#counter}-${randomBytes(4).toString('hex')}.spill`);
  }
}
