import fs, { type Stats } from 'node:fs';
import { promisify } from 'node:util';

/*
 * Plain file descriptors for the commit's hot path. A `FileHandle` from fs/promises is an EventEmitter and a
 * transferable object with a finalizer; creating, closing and collecting thousands of them cost more main
 * thread time than the syscalls they wrap.
 */

/** Opens `file` and returns its descriptor. */
export const openFd: (file: string, flags: string | number, mode?: number) => Promise<number> = promisify(
  fs.open,
) as never;

export const closeFd: (fd: number) => Promise<void> = promisify(fs.close);

export const fstatFd: (fd: number) => Promise<Stats> = promisify(fs.fstat) as never;

export const fchmodFd: (fd: number, mode: number) => Promise<void> = promisify(fs.fchmod);

export const fsyncFd: (fd: number) => Promise<void> = promisify(fs.fsync);

/** Reads from `position` into `buffer[offset…]`; resolves with the bytes read (0 at the end of the file). */
export function readFd(
  fd: number,
  buffer: Buffer,
  offset: number,
  length: number,
  position: number,
): Promise<number> {
  return new Promise((resolve, reject) =>
    fs.read(fd, buffer, offset, length, position, (error, bytesRead) =>
      error ? reject(error) : resolve(bytesRead),
    ),
  );
}

function writeAt(fd: number, data: Buffer, offset: number, position: number): Promise<number> {
  return new Promise((resolve, reject) =>
    fs.write(fd, data, offset, data.length - offset, position, (error, written) =>
      error ? reject(error) : resolve(written),
    ),
  );
}

/** Writes all of `data` from the start of the file. */
export async function writeAllFd(fd: number, data: Buffer): Promise<void> {
  for (let done = 0; done < data.length; ) done += await writeAt(fd, data, done, done);
}

/** Runs `fn` on a descriptor of `file`, closing it afterwards whatever happens. */
export async function withFd<T>(
  file: string,
  flags: string | number,
  mode: number | undefined,
  fn: (fd: number) => Promise<T>,
): Promise<T> {
  const fd = await openFd(file, flags, mode);
  try {
    return await fn(fd);
  } finally {
    await closeFd(fd);
  }
}
