import type { ExecFileOptions } from 'node:child_process';
import { access, readdir, readlink, realpath, stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { lazyModule } from '@ordo/contracts';
import type { ContainerMount } from '@ordo/launcher';
import { RuntimeOptionsError } from './errors.js';
import { isInside } from './internal/isInside.js';

/** `node:child_process`, loaded on the first call: it costs about 5 ms of `import('@ordo/runtime')`. */
const childProcess = lazyModule<typeof import('node:child_process')>(import.meta.url, 'node:child_process');
type ExecFileUtf8 = (
  file: string,
  args: string[],
  options: ExecFileOptions & { encoding: 'utf8' },
) => Promise<{ stdout: string }>;
let execFilePromise: ExecFileUtf8 | undefined;

/** `execFile`, promisified once, with UTF-8 output. */
function execFileAsync(file: string, args: string[], options: ExecFileOptions): Promise<{ stdout: string }> {
  execFilePromise ??= promisify(childProcess().execFile) as ExecFileUtf8;
  return execFilePromise(file, args, { ...options, encoding: 'utf8' });
}

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
   * A directory inside the package whose install is shared (its package directory, `node_modules` chain and
   * linked packages).
   * @default the directory of this module (`@ordo/runtime`)
   */
  from?: string | undefined;
  /** The `PATH` searched for `shell`. @default process.env.PATH */
  path?: string | undefined;
  /** Aborts the `ldd` calls; rejects with its reason. */
  signal?: AbortSignal | undefined;
}

/**
 * The read-only bind mounts that let a bare image (busybox, distroless) run `@ordo/runtime/worker` with the
 * host's Node, at the same absolute paths as on the host:
 *
 * - the Node binary, and `bash` (for shell tasks) when the host has it;
 * - the directories of the shared libraries both load, as `ldd` lists them (following symlinks, so
 *   `/lib64/ld-linux-x86-64.so.2 → /lib/x86_64-linux-gnu/…` works), nothing hard-coded;
 * - this install of `@ordo/runtime`: its package directory, the `node_modules` directories Node searches
 *   from there (never above the home directory), and the packages those link to elsewhere (the workspace
 *   packages of a monorepo), so the worker script and its whole dependency chain resolve. Not the project
 *   root itself: the workspace is often the project, and it stays unmounted.
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
  options.signal?.throwIfAborted();
  const binaries = [options.node ?? process.execPath];
  const shell = options.shell ?? 'bash';
  if (shell !== false) {
    const found = await findOnPath(shell, options.path ?? process.env.PATH ?? '');
    if (found !== undefined) binaries.push(found);
  }
  const targets = new Set<string>();
  for (const binary of binaries) {
    targets.add(binary);
    for (const lib of await sharedLibraries(binary, options.signal))
      for (const dir of await linkDirs(lib)) targets.add(dir);
  }
  for (const dir of await installDirs(options.from ?? path.dirname(fileURLToPath(import.meta.url))))
    targets.add(dir);
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
async function sharedLibraries(binary: string, signal: AbortSignal | undefined): Promise<string[]> {
  let stdout: string;
  try {
    ({ stdout } = await execFileAsync('ldd', [binary], { timeout: 10_000, ...(signal ? { signal } : {}) }));
  } catch (error) {
    signal?.throwIfAborted();
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

/**
 * What the worker needs of this install: the package directory of `from`, the `node_modules` directories of
 * its ancestors (never `/` nor the home directory), and, found through symlinks in those, the linked
 * packages outside them (workspace packages of a monorepo), each with its own chain. Not the project root:
 * the workspace often is the project, and it stays unmounted.
 */
async function installDirs(from: string): Promise<string[]> {
  const dirs: string[] = [];
  const covered = (p: string) => dirs.some((d) => isInside(p, d));
  const queue = [await packageDir(await realpath(from))];
  for (let pkg = queue.shift(); pkg !== undefined; pkg = queue.shift()) {
    if (covered(pkg)) continue;
    dirs.push(pkg);
    for (const modules of await nodeModulesChain(pkg)) {
      if (!covered(modules)) dirs.push(modules);
      for (const linked of await linkedPackages(modules)) if (!covered(linked)) queue.push(linked);
    }
  }
  return dirs;
}

/** The nearest ancestor of `dir` (itself included) holding a package.json, else `dir`. */
async function packageDir(dir: string): Promise<string> {
  for (let d = dir; d !== path.dirname(d); d = path.dirname(d)) {
    if (await exists(path.join(d, 'package.json'))) return d;
  }
  return dir;
}

/** The real paths of the `node_modules` directories Node searches from `dir`, short of `/` and home. */
async function nodeModulesChain(dir: string): Promise<string[]> {
  const home = homedir();
  const chain: string[] = [];
  for (let d = dir; d !== path.dirname(d) && d !== home; d = path.dirname(d)) {
    if (path.basename(d) === 'node_modules') continue;
    const modules = path.join(d, 'node_modules');
    if ((await stat(modules).catch(() => undefined))?.isDirectory()) chain.push(await realpath(modules));
  }
  return chain;
}

/** The real paths of the symlinked packages in a `node_modules` directory (scoped ones included). */
async function linkedPackages(modules: string): Promise<string[]> {
  const linked: string[] = [];
  const scan = async (dir: string, scoped: boolean) => {
    for (const entry of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
      if (entry.name.startsWith('.')) continue;
      const full = path.join(dir, entry.name);
      if (!scoped && entry.name.startsWith('@') && entry.isDirectory()) await scan(full, true);
      else if (entry.isSymbolicLink()) {
        const target = await realpath(full).catch(() => undefined);
        if (target !== undefined) linked.push(target);
      }
    }
  };
  await scan(modules, false);
  return linked;
}

function exists(file: string): Promise<boolean> {
  return access(file).then(
    () => true,
    () => false,
  );
}
