/**
 * `@ordo/runtime/worker`: the process a runtime launches to run tasks. It speaks IPC protocol v1 on its
 * stdin/stdout (through `@ordo/governance/worker`) and runs one task at a time: a bash command on the
 * worker's persistent shell (one bash per worker, `createShellPool` of `@ordo/executor-spool`; every task in a
 * fresh subshell, so none sees another's cwd, environment, functions, traps or options) in a scratch copy of
 * the task's declared files, or an ES module's export. It never writes to the workspace:
 * it reports edits, and the runtime stages, checks and commits them.
 * @packageDocumentation
 */
import { access, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { ShellPool } from '@ordo/executor-spool';
import { serveWorker, type WorkerServer } from '@ordo/governance/worker';
import { fromWire, type TaskPayload, type TaskResult, toWire, type WireEdit } from './internal/taskWire.js';
import { traceparentEnv, withTraceparent } from './internal/telemetryWorker.js';

/** What a module task's export receives. */
export interface ModuleTaskContext {
  taskId: string;
  feature: string;
  /** The plan's `run.input`, as written (`null` when absent). */
  input: unknown;
  /**
   * A declared file's content as the level saw it, or `undefined` when it does not exist.
   * @throws Error for a path the task did not declare.
   */
  read(path: string): Promise<string | undefined>;
  /** Aborts when the task is cancelled or times out. */
  signal: AbortSignal;
}

/** One edit a module task returns: the new content, or `null` to delete the file. */
export interface ModuleTaskEdit {
  path: string;
  content: string | Uint8Array | null;
}

/** A module task: the export named in the plan (`default` unless `run.export` says otherwise). */
export type ModuleTask = (
  context: ModuleTaskContext,
) => readonly ModuleTaskEdit[] | Promise<readonly ModuleTaskEdit[]>;

/** How much of a failed command's stderr is kept. */
const STDERR_TAIL_BYTES = 4096;

/** How much of each of a command's stdout and stderr the shell keeps (stdout is not used). */
const MAX_OUTPUT_BYTES = 1024 * 1024;

/**
 * Runs one runtime task in this process and returns its result; what the worker does for each RUN.
 * Exposed for hosts that run tasks in their own worker (a custom launcher image).
 *
 * Gotchas: the first shell task starts this process's persistent bash; it runs until
 * {@link closeWorkerShell} (the served worker closes it when it stops), so a host that calls this directly
 * calls that when done.
 */
export async function runWorkerTask(payload: TaskPayload, signal: AbortSignal): Promise<TaskResult> {
  // Traced runs: the task's spans nest under the runtime's task span (W3C traceparent).
  return withTraceparent(payload.traceparent, () =>
    payload.run.kind === 'shell' ? runShell(payload, signal) : runModule(payload, signal),
  );
}

/** Serves runtime tasks over protocol v1 on stdin/stdout until SHUTDOWN or the end of stdin. */
export function serveRuntimeWorker(): WorkerServer {
  const server = serveWorker<TaskPayload, TaskResult>((payload, context) =>
    runWorkerTask(payload, context.signal),
  );
  void server.closed.then(closeWorkerShell, closeWorkerShell);
  return server;
}

/** This process's persistent bash (a shell pool of one), made on the first shell task. */
let shells: Promise<ShellPool> | undefined;

function workerShell(): Promise<ShellPool> {
  shells ??= import('@ordo/executor-spool').then(({ createShellPool }) =>
    createShellPool({
      size: 1,
      // Plans are trusted code: no allowlist, any command line. The runtime times tasks itself.
      timeoutMs: Number.POSITIVE_INFINITY,
      maxOutputBytes: MAX_OUTPUT_BYTES,
    }),
  );
  return shells;
}

/** Stops this process's persistent bash, if a shell task started it. Idempotent. */
export async function closeWorkerShell(): Promise<void> {
  const pool = shells;
  shells = undefined;
  await (await pool)?.close();
}

async function runShell(payload: TaskPayload, signal: AbortSignal): Promise<TaskResult> {
  if (payload.run.kind !== 'shell') throw new TypeError('not a shell task');
  const scratch = await mkdtemp(path.join(tmpdir(), 'ordo-task-'));
  try {
    const before = new Map<string, Buffer>();
    for (const file of payload.files) {
      const bytes = fromWire(file);
      const abs = path.join(scratch, ...file.path.split('/'));
      await mkdir(path.dirname(abs), { recursive: true });
      await writeFile(abs, bytes);
      before.set(file.path, bytes);
    }
    // A declared file that does not exist yet gets its directory, so `echo x > dir/new.txt` works.
    for (const rel of payload.absent)
      await mkdir(path.dirname(path.join(scratch, ...rel.split('/'))), { recursive: true });
    const exit = await runBash(payload.run.shell, scratch, payload, signal);
    if (exit.exitCode !== 0) return { status: 'exit', ...exit };
    return { status: 'ok', edits: await collectEdits(scratch, before) };
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

interface BashExit {
  exitCode: number | null;
  signal: string | null;
  stderrTail: string;
}

/**
 * Runs `command` on the worker's persistent bash, in a fresh subshell that starts in `cwd` with the task's
 * variables: nothing a task sets (cwd, exports, functions, traps, `set -o`/`shopt`, aliases) reaches the
 * next one. An abort kills the command's whole session (the shell is replaced) and rejects with the reason.
 */
async function runBash(
  command: string,
  cwd: string,
  payload: TaskPayload,
  signal: AbortSignal,
): Promise<BashExit> {
  signal.throwIfAborted();
  const pool = await workerShell();
  try {
    const result = await pool.run(command, {
      cwd,
      signal,
      env: {
        ORDO_TASK_ID: payload.taskId,
        ORDO_FEATURE: payload.feature,
        ORDO_WORKSPACE: payload.workspace,
        ...traceparentEnv(payload.traceparent),
      },
    });
    const tail = Buffer.from(result.stderr, 'utf8');
    return {
      exitCode: result.exitCode,
      signal: null,
      stderrTail: tail.subarray(Math.max(0, tail.length - STDERR_TAIL_BYTES)).toString('utf8'),
    };
  } catch (error) {
    if (signal.aborted) throw signal.reason;
    throw error;
  }
}

/** Every file created, changed or deleted in the scratch dir, in path order. */
async function collectEdits(scratch: string, before: ReadonlyMap<string, Buffer>): Promise<WireEdit[]> {
  const edits: WireEdit[] = [];
  const seen = new Set<string>();
  const entries = await readdir(scratch, { recursive: true, withFileTypes: true });
  for (const entry of entries) {
    if (!entry.isFile() && !entry.isSymbolicLink()) continue;
    const abs = path.join(entry.parentPath, entry.name);
    const rel = path.relative(scratch, abs).split(path.sep).join('/');
    seen.add(rel);
    const bytes = await readFile(abs);
    const old = before.get(rel);
    if (old === undefined || !old.equals(bytes)) edits.push({ path: rel, content: toWire(bytes) });
  }
  for (const rel of before.keys()) if (!seen.has(rel)) edits.push({ path: rel, content: null });
  return edits.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

async function runModule(payload: TaskPayload, signal: AbortSignal): Promise<TaskResult> {
  if (payload.run.kind !== 'module') throw new TypeError('not a module task');
  const { module, export: name, input } = payload.run;
  await access(module).catch((error: unknown) => {
    throw moduleError(
      `${module} cannot be read where this worker runs (${(error as NodeJS.ErrnoException).code}). A container worker sees only the host paths mounted into it: mount the module's directory (docker.mounts, read-only at the same path) or build it into the image.`,
    );
  });
  const loaded = (await import(pathToFileURL(module).href)) as Record<string, unknown>;
  const fn = loaded[name];
  if (typeof fn !== 'function') {
    throw moduleError(
      `${module} has no function export "${name}". Export one, or set run.export in the plan.`,
    );
  }
  const files = new Map(payload.files.map((f) => [f.path, f]));
  const result: unknown = await (fn as ModuleTask)({
    taskId: payload.taskId,
    feature: payload.feature,
    input,
    signal,
    read: async (p) => {
      const file = files.get(p);
      if (file) return fromWire(file).toString('utf8');
      if (payload.absent.includes(p)) return undefined;
      throw moduleError(`Task ${payload.taskId} read ${p}, which it did not declare in files.`);
    },
  });
  if (!Array.isArray(result)) {
    throw moduleError(`${module}#${name} must return an array of { path, content } edits.`);
  }
  const edits = result.map((edit: unknown): WireEdit => {
    const e = edit as ModuleTaskEdit | null;
    if (typeof e !== 'object' || e === null || typeof e.path !== 'string') {
      throw moduleError(`${module}#${name} returned an edit without a string path: ${JSON.stringify(edit)}.`);
    }
    if (e.content === null) return { path: e.path, content: null };
    if (typeof e.content === 'string')
      return { path: e.path, content: { data: e.content, encoding: 'utf8' } };
    if (e.content instanceof Uint8Array) return { path: e.path, content: toWire(Buffer.from(e.content)) };
    throw moduleError(`${module}#${name}: the content of ${e.path} must be a string, bytes or null.`);
  });
  return { status: 'ok', edits };
}

function moduleError(message: string): Error {
  const error = new Error(message);
  (error as Error & { code: string }).code = 'TASK_MODULE_INVALID';
  return error;
}

// Started as a script (the launcher's command): serve. Imported (tests, hosts): only export.
const entry = process.argv[1];
if (entry !== undefined && path.resolve(entry) === fileURLToPath(import.meta.url)) serveRuntimeWorker();
