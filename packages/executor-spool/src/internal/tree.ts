import fs, { constants } from 'node:fs';
import { lstat, mkdir, readlink } from 'node:fs/promises';
import path from 'node:path';
import { SpoolError, SpoolErrorCode } from '../errors.js';
import { isReservedName, JOURNAL_DIR } from './commitSupport.js';
import { closeFd, fstatFd, openFd } from './fd.js';

/*
 * Descriptor-relative access to the files under a spool root, without following a symlink anywhere below it.
 *
 * Node has no openat(2). On Linux, `/proc/self/fd/<n>/<name>` is the same thing: the kernel resolves the
 * magic link to the directory the descriptor holds (its inode, wherever it is now), then looks `<name>` up
 * in it. So the root is opened once, each directory below it is opened from its parent's descriptor with
 * O_DIRECTORY|O_NOFOLLOW, and every file operation (open, rename, link, unlink, mkdir) goes through the
 * descriptor of the file's directory: a directory swapped for a symlink after the walk cannot redirect it.
 * Where `/proc/self/fd` is missing (not Linux), each directory is checked with lstat (no symlink, the
 * device and inode it had) and {@link Tree.verify} checks the chain again after the operation: a swap is
 * then detected, though not always prevented.
 */

const PROC = '/proc/self/fd';
const DIR_FLAGS = constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW;

let procWorks: boolean | undefined;

/** Whether `/proc/self/fd/<n>/<name>` resolves through descriptors here (checked once). */
export function descriptorPaths(): boolean {
  if (procWorks === undefined) {
    try {
      const fd = fs.openSync('/', DIR_FLAGS);
      try {
        const a = fs.fstatSync(fd);
        const b = fs.statSync(`${PROC}/${fd}/.`);
        procWorks = a.ino === b.ino && a.dev === b.dev;
      } finally {
        fs.closeSync(fd);
      }
    } catch {
      procWorks = false;
    }
  }
  return procWorks;
}

/**
 * Test-only: `false` makes every tree walk by checked paths, as where `/proc/self/fd` is missing; `undefined`
 * goes back to detecting it.
 * @internal
 */
export function setDescriptorPathsForTest(value: boolean | undefined): void {
  procWorks = value;
}

/** A device and inode: what stays the same however a directory is reached. */
export interface NodeId {
  dev: number;
  ino: number;
}

const sameNode = (a: NodeId | undefined, b: NodeId | undefined) =>
  a !== undefined && b !== undefined && a.dev === b.dev && a.ino === b.ino;

/** `SPOOL_PATH_ESCAPE` for `rel`, saying why. */
export const escapeError = (rel: string, why: string) =>
  new SpoolError(
    SpoolErrorCode.PATH_ESCAPE,
    `Refused path ${JSON.stringify(rel)}: ${why}. Nothing was written there; check what changed the tree, then reset the path and stage it again.`,
    { details: { path: rel } },
  );

interface Dir {
  /** The prefix for names in this directory: a descriptor path, or the real path without descriptors. */
  base: string;
  fd: number | undefined;
  id: NodeId;
  /** `/`-separated, relative to the root ('' for the root). */
  rel: string;
}

/**
 * The directories of one operation or commit under a spool root, opened once each and held until
 * {@link Tree.close}. Paths given to it are real paths relative to the root, `/`-separated.
 */
export class Tree {
  readonly root: string;
  readonly #dirs = new Map<string, Promise<Dir | undefined>>();
  readonly #fds: number[] = [];
  #reserved: NodeId | undefined;
  readonly #proc: boolean;
  /** Directories this tree made, in the order it made them (relative paths). */
  readonly created: string[] = [];

  private constructor(root: string, rootDir: Dir, reserved: NodeId | undefined, proc: boolean) {
    this.root = root;
    this.#proc = proc;
    this.#reserved = reserved;
    this.#dirs.set('', Promise.resolve(rootDir));
    if (rootDir.fd !== undefined) this.#fds.push(rootDir.fd);
  }

  /**
   * Opens the real directory `root` (no symlink at its last component). With `expected`, the root must
   * still be that device and inode: a root swapped since the spool was made is `SPOOL_PATH_ESCAPE`.
   */
  static async open(root: string, expected?: NodeId): Promise<Tree> {
    const proc = descriptorPaths();
    let rootDir: Dir;
    if (proc) {
      let fd: number;
      try {
        fd = await openFd(root, DIR_FLAGS);
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        if (code === 'ELOOP' || code === 'ENOTDIR')
          throw escapeError('.', 'the spool root was replaced by a symlink or a file');
        throw error;
      }
      const info = await fstatFd(fd);
      rootDir = { base: `${PROC}/${fd}`, fd, id: { dev: info.dev, ino: info.ino }, rel: '' };
    } else {
      const info = await lstat(root);
      if (!info.isDirectory()) throw escapeError('.', 'the spool root was replaced by a symlink or a file');
      rootDir = { base: root, fd: undefined, id: { dev: info.dev, ino: info.ino }, rel: '' };
    }
    if (expected && !sameNode(expected, rootDir.id)) {
      if (rootDir.fd !== undefined) await closeFd(rootDir.fd);
      throw escapeError('.', 'the spool root is another directory than when the spool was made');
    }
    const reserved = await lstat(path.join(rootDir.base, JOURNAL_DIR)).then(
      (info) => (info.isDirectory() ? { dev: info.dev, ino: info.ino } : undefined),
      () => undefined,
    );
    return new Tree(root, rootDir, reserved, proc);
  }

  /** The device and inode of the root directory. */
  async rootId(): Promise<NodeId> {
    return ((await this.#dirs.get('')) as Dir).id;
  }

  /**
   * The prefix for names in directory `rel` (`''` is the root), or `undefined` when a directory on the way
   * is missing and `create` is false. With `create`, missing directories are made (and listed in
   * {@link Tree.created}). A symlink on the way, or the reserved journal directory (by any name that
   * reaches it) unless `journal`, is `SPOOL_PATH_ESCAPE`; a file on the way fails with ENOTDIR.
   */
  async dir(rel: string, options: { create?: boolean; journal?: boolean } = {}): Promise<string | undefined> {
    return (await this.#dir(rel, options.create ?? false, options.journal ?? false))?.base;
  }

  /** The path to use for the entry `rel` (its directory's prefix and its name), as {@link Tree.dir}. */
  async at(rel: string, options: { create?: boolean; journal?: boolean } = {}): Promise<string | undefined> {
    const slash = rel.lastIndexOf('/');
    const base = await this.dir(slash < 0 ? '' : rel.slice(0, slash), options);
    return base === undefined ? undefined : `${base}/${rel.slice(slash + 1)}`;
  }

  /** {@link Tree.at} for an entry whose directories must exist (else ENOENT). */
  async must(rel: string, options: { journal?: boolean } = {}): Promise<string> {
    const at = await this.at(rel, options);
    if (at === undefined) {
      throw Object.assign(new Error(`ENOENT: no such directory on the way to ${rel}`), { code: 'ENOENT' });
    }
    return at;
  }

  /** Forgets directory `rel` and everything under it (it was removed): the next lookup opens it again. */
  forget(rel: string): void {
    for (const key of [...this.#dirs.keys()])
      if (key === rel || key.startsWith(`${rel}/`)) this.#dirs.delete(key);
  }

  /** The descriptor of directory `rel` if this tree opened it (for fsync). */
  async fdOf(rel: string): Promise<number | undefined> {
    return (await this.#dirs.get(rel))?.fd;
  }

  async #dir(rel: string, create: boolean, journal: boolean): Promise<Dir | undefined> {
    if (!journal && rel.split('/').some(isReservedName)) {
      throw escapeError(rel, `${JOURNAL_DIR}/ holds the journals of commits in progress`);
    }
    const cached = this.#dirs.get(rel);
    if (cached) {
      const dir = await cached;
      if (dir && !journal && rel !== '' && sameNode(dir.id, this.#reserved)) throw this.#reservedError(rel);
      if (dir || !create) return dir;
    }
    const again = this.#dirs.get(rel);
    if (again && again !== cached) {
      const dir = await again;
      if (dir || !create) return dir;
    }
    const slash = rel.lastIndexOf('/');
    const open = (async () => {
      const parent = await this.#dir(slash < 0 ? '' : rel.slice(0, slash), create, journal);
      return parent ? this.#step(parent, rel.slice(slash + 1), rel, create, journal) : undefined;
    })();
    this.#dirs.set(rel, open);
    // A missing or failed lookup is not remembered: a later call (with `create`) may make it.
    const forget = () => {
      if (this.#dirs.get(rel) === open) this.#dirs.delete(rel);
    };
    try {
      const dir = await open;
      if (!dir) forget();
      return dir;
    } catch (error) {
      forget();
      throw error;
    }
  }

  #reservedError(rel: string) {
    return escapeError(rel, `it reaches ${JOURNAL_DIR}/, which holds the journals of commits in progress`);
  }

  async #step(
    parent: Dir,
    name: string,
    rel: string,
    create: boolean,
    journal: boolean,
  ): Promise<Dir | undefined> {
    const entry = `${parent.base}/${name}`;
    let dir: Dir | undefined;
    for (let attempt = 0; !dir; attempt++) {
      try {
        dir = await this.#enter(entry, rel);
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        if (code === 'ENOENT' && create && attempt < 3) {
          // The journal's directories hold old bytes of files that may be private: for their owner only.
          await mkdir(entry, journal ? 0o700 : undefined).then(
            () => {
              // The journal's own directories are removed with the journal, not as a commit's.
              if (!journal) this.created.push(rel);
            },
            (e: NodeJS.ErrnoException) => {
              if (e.code !== 'EEXIST') throw e;
            },
          );
          continue;
        }
        if (code === 'ENOENT') return undefined;
        if (code === 'ENOTDIR' || code === 'ELOOP') {
          // Not a directory at the open: a symlink, or a file. Only a plain file still there is a plain
          // ENOTDIR; anything else (a symlink, or a directory again by now) is a swap.
          const info = await lstat(entry).catch(() => undefined);
          if (code === 'ELOOP' || !info || info.isSymbolicLink() || info.isDirectory())
            throw escapeError(
              rel,
              'a directory on the way is a symlink (was it swapped since it was staged?)',
            );
          // A plain file where a directory should be: for a lookup, the directory is not there.
          if (!create) return undefined;
        }
        throw error;
      }
    }
    if (journal && rel === JOURNAL_DIR) this.#reserved = dir.id;
    else if (!journal && sameNode(dir.id, this.#reserved)) throw this.#reservedError(rel);
    return dir;
  }

  async #enter(entry: string, rel: string): Promise<Dir> {
    if (this.#proc) {
      const fd = await openFd(entry, DIR_FLAGS);
      this.#fds.push(fd);
      const info = await fstatFd(fd);
      return { base: `${PROC}/${fd}`, fd, id: { dev: info.dev, ino: info.ino }, rel };
    }
    const info = await lstat(entry);
    if (info.isSymbolicLink()) throw Object.assign(new Error('symlink'), { code: 'ELOOP' });
    if (!info.isDirectory()) throw Object.assign(new Error('not a directory'), { code: 'ENOTDIR' });
    return { base: entry, fd: undefined, id: { dev: info.dev, ino: info.ino }, rel };
  }

  /**
   * Checks again that every directory this tree opened is still where it was, as it was: under the root by
   * the same path (with descriptors: where the kernel says the descriptor is), and (without) the same device
   * and inode with no symlink. `SPOOL_PATH_ESCAPE` names the first that moved.
   */
  async verify(): Promise<void> {
    const dirs = (await Promise.all([...this.#dirs.values()].map((d) => d.catch(() => undefined)))).filter(
      (d): d is Dir => d !== undefined,
    );
    await Promise.all(
      dirs.map(async (dir) => {
        const expected = dir.rel === '' ? this.root : path.join(this.root, ...dir.rel.split('/'));
        if (dir.fd !== undefined) {
          const now = await readlink(`${PROC}/${dir.fd}`).catch(() => '');
          if (now !== expected)
            throw escapeError(dir.rel || '.', 'a directory on the way moved while it was used');
          return;
        }
        const info = await lstat(expected).catch(() => undefined);
        if (!info?.isDirectory() || !sameNode(dir.id, info))
          throw escapeError(dir.rel || '.', 'a directory on the way was swapped while it was used');
      }),
    );
  }

  /** Closes every descriptor this tree opened. */
  async close(): Promise<void> {
    // Wait for opens still in flight, so that their descriptors are closed too.
    await Promise.all([...this.#dirs.values()].map((d) => d.catch(() => undefined)));
    const fds = this.#fds.splice(0);
    await Promise.all(fds.map((fd) => closeFd(fd).catch(() => {})));
  }
}
