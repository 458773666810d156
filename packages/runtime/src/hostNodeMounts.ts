import { execFile } from 'node:child_process';
import { access, readlink, realpath, stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { ContainerMount } from '@ordo/launcher';
import { RuntimeOptionsError } from './errors.js';
import { isInside } from './internal/isInside.js';

const execFileAsync = promisify(execFile);

/** Options for {@link hostNodeMounts}. */
export interface HostNodeMountsOptions {
  /** The Node binary the workers run. @default process.execPath */
  node?: string | undefined;
  /**
   * The shell shell tasks run (`bash -c`), found on `PATH` by name or given as a path; `false` mounts none
   * (the image must then have its own `bash` for shell tasks).
   * @default 'bash'
   */
  shell?: string | false | undefined;
  /**
   * A directory inside the install of `@ordo/runtime` to share; the outermost ancestor holding a
   * `node_modules` directory is mounted (the project or monorepo root).
   * @default the directory of this module
   */
  from?: string | undefined;
  /** The `PATH` searched for `shell`. @default process.env.PATH */
  path?: string | undefined;
}

/**
 * The read-only bind mounts that let a bare image (busybox, distroless) run `@ordo/runtime/worker` with the
 * host's Node, at the same absolute paths as on the host:
 *
 * - the Node binary, and `bash` (for shell tasks) when the host has it;
 * - the directories of the shared libraries both load, as `ldd` lists them (following symlinks, so
 *   `/lib64/ld-linux-x86-64.so.2 → /lib/x86_64-linux-gnu/…` works), nothing hard-coded;
 * - the project (or monorepo) root this `@ordo/runtime` is installed in: the outermost ancestor of it that
 *   holds a `node_modules` directory (never `/` nor the home directory), so the worker script and its whole
 *   dependency chain resolve. It is read-only: the worker never writes there.
 *
 * `createRuntime({ launcher: 'docker' })` uses it unless `docker.mountHostNode` is `false`.
 *
 * When to use: tests and local engines, where the image need not carry Node. Gotchas: it only works with an
 * engine on this machine (a remote engine has no such paths); the host's libraries shadow any the image has
 * at the same paths, so use it with small images; a real deployment builds a worker image instead (see the
 * README, "Workers in containers").
 *
 * @throws RuntimeOptionsError (`RUNTIME_OPTIONS_INVALID`, option `docker.mountHostNode`) when `ldd` is
 * missing or fails on a dynamically linked binary.
 * @example
 * ```ts
 * const mounts = await hostNodeMounts(); // [{ source: '/usr/bin/node', target: '/usr/bin/node', readOnly: true }, …]
 * ```
 */
export async function hostNodeMounts(options: HostNodeMountsOptions = {}): Promise<ContainerMount[]> {
  const binaries = [options.node ?? process.execPath];
  const shell = options.shell ?? 'bash';
  if (shell !== false) {
    const found = await findOnPath(shell, options.path ?? process.env.PATH ?? '');
    if (found !== undefined) binaries.push(found);
  }
  const targets = new Set<string>();
  for (const binary of binaries) {
    targets.add(binary);
    for (const lib of await sharedLibraries(binary)) for (const dir of await linkDirs(lib)) targets.add(dir);
  }
  const root = await installRoot(options.from ?? path.dirname(fileURLToPath(import.meta.url)));
  if (root !== undefined) targets.add(root);
  const mounts: ContainerMount[] = [];
  for (const target of [...targets].sort()) {
    // A path already under another mount is visible through it.
    if ([...targets].some((other) => other !== target && isInside(target, other))) continue;
    mounts.push({ source: await realpath(target), target, readOnly: true });
  }
  return mounts;
}

async function findOnPath(name: string, searchPath: string): Promise<string | undefined> {
  if (path.isAbsolute(name)) return name;
  for (const dir of searchPath.split(path.delimiter)) {
    if (dir === '') continue;
    const candidate = path.join(dir, name);
    if (
      await access(candidate).then(
        () => true,
        () => false,
      )
    )
      return candidate;
  }
  return undefined;
}

/** The absolute library paths `ldd` prints for `binary` (none for a static binary). */
async function sharedLibraries(binary: string): Promise<string[]> {
  let stdout: string;
  try {
    ({ stdout } = await execFileAsync('ldd', [binary], { timeout: 10_000 }));
  } catch (error) {
    const out = `${(error as { stdout?: string }).stdout ?? ''}${(error as { stderr?: string }).stderr ?? ''}`;
    if (/not a dynamic executable|statically linked/.test(out)) return [];
    throw new RuntimeOptionsError(
      'docker.mountHostNode',
      `could not list the shared libraries of ${binary} with ldd (${(error as Error).message}). Install ldd (Debian: libc-bin), or set docker.mountHostNode: false and use an image that has Node and the worker.`,
      { cause: error },
    );
  }
  const libs: string[] = [];
  for (const line of stdout.split('\n')) {
    // `libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x…)` or `/lib64/ld-linux-x86-64.so.2 (0x…)`
    for (const token of line.trim().split(/\s+/)) if (token.startsWith('/')) libs.push(token);
  }
  return libs;
}

/**
 * The directory of `file` and of every hop of its symlink chain, resolved lexically as the container will
 * see them (the mounted directories are real directories there).
 */
async function linkDirs(file: string): Promise<string[]> {
  const dirs = [path.dirname(file)];
  let current = file;
  for (let hop = 0; hop < 16; hop++) {
    const target = await readlink(current).catch(() => undefined);
    if (target === undefined) break;
    current = path.resolve(path.dirname(current), target);
    dirs.push(path.dirname(current));
  }
  return dirs;
}

/** The outermost ancestor of `from` (itself included) that holds `node_modules`, short of `/` and home. */
async function installRoot(from: string): Promise<string | undefined> {
  const home = homedir();
  let root: string | undefined;
  for (let dir = await realpath(from); ; dir = path.dirname(dir)) {
    if (dir === path.dirname(dir) || dir === home) break;
    const modules = await stat(path.join(dir, 'node_modules')).catch(() => undefined);
    if (modules?.isDirectory()) root = dir;
  }
  return root;
}
