/**
 * `@ordo/runtime/worker`: the process a runtime launches to run tasks. It speaks IPC protocol v1 on its
 * stdin/stdout (through `@ordo/governance/worker`), or on a connection to the runtime's worker endpoint
 * ({@link connectWorker}, `ordo worker --connect`), and runs one task at a time: a bash command on the
 * worker's persistent shell (one bash per worker, `createShellPool` of `@ordo/executor-spool`; every task in a
 * fresh subshell, so none sees another's cwd, environment, functions, traps or options) in a scratch copy of
 * the task's declared files, or an ES module's export. It never writes to the workspace:
 * it reports edits, and the runtime stages, checks and commits them.
 * @packageDocumentation
 */
import { access, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import {
  type Clock,
  LineSplitter,
  type Logger,
  noopLogger,
  parseParentMessage,
  systemClock,
} from '@ordo/contracts';
import type { ShellPool } from '@ordo/executor-spool';
import { serveWorker, type WorkerServer } from '@ordo/governance/worker';
import type { WorkerTlsOptions } from '@ordo/launcher';
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

/** Options for {@link serveRuntimeWorker}. */
export interface ServeRuntimeWorkerOptions {
  /**
   * The duplex the protocol runs on (a socket to the worker endpoint): RUN/CANCEL/SHUTDOWN are read from it
   * and messages written to it. @default stdin and stdout
   */
  channel?: (NodeJS.ReadableStream & { write(text: string): unknown }) | undefined;
  /** Results longer than this are sent as CHUNK messages. @default the pool's, from the environment */
  maxMessageBytes?: number | undefined;
  /** How often MEMORY and HEARTBEAT are sent, in ms. @default the pool's, from the environment */
  reportIntervalMs?: number | undefined;
  /** Stop this process's persistent bash when the loop stops (off between sessions of a connected worker). @default true */
  closeShell?: boolean | undefined;
}

/**
 * Serves runtime tasks over protocol v1 until SHUTDOWN or the end of the input: on stdin/stdout (the
 * attached worker), or on any duplex `channel` (a connected worker's socket).
 */
export function serveRuntimeWorker(options: ServeRuntimeWorkerOptions = {}): WorkerServer {
  const server = serveWorker<TaskPayload, TaskResult>(
    (payload, context) => runWorkerTask(payload, context.signal),
    {
      ...(options.channel !== undefined && { input: options.channel, output: options.channel }),
      maxMessageBytes: options.maxMessageBytes,
      reportIntervalMs: options.reportIntervalMs,
    },
  );
  if (options.closeShell !== false) void server.closed.then(closeWorkerShell, closeWorkerShell);
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

// ---- connected workers ------------------------------------------------------------------------------

/** Options for {@link connectWorker}. */
export interface ConnectWorkerOptions {
  /**
   * The runtime's worker endpoint: `unix:///path.sock`, `tcp://127.0.0.1:port` or `tls://host:port`.
   * @default `ORDO_WORKER_CONNECT`, else the `url` in a JSON credential file
   */
  url?: string | undefined;
  /**
   * The credential file: the token alone, or JSON `{ "token": "…", "url"?: "…" }`. The token is only ever
   * read from a file, never from an argument or an environment value.
   * @default `ORDO_WORKER_TOKEN_FILE`
   */
  tokenFile?: string | undefined;
  /** The id the starter gave this worker. @default `ORDO_WORKER_ID`, else the host assigns one */
  workerId?: string | undefined;
  /** For `tls://`: the endpoint's CA, and this worker's certificate and key for mutual TLS. @default {} */
  tls?: WorkerTlsOptions | undefined;
  /** Allow `tcp://` to a host that is not loopback. @default false */
  allowInsecure?: boolean | undefined;
  /** The first wait before connecting again, in ms; doubled after each failed attempt. @default 200 */
  backoffMs?: number | undefined;
  /** The longest wait between attempts, in ms. @default 10000 */
  maxBackoffMs?: number | undefined;
  /** Failed attempts in a row after which it gives up (`REMOTE_UNREACHABLE`). @default Infinity */
  maxAttempts?: number | undefined;
  /** Where `ORDO_WORKER_*` defaults come from. @default process.env */
  env?: Readonly<Record<string, string | undefined>> | undefined;
  /** Times the backoff. @default systemClock */
  clock?: Clock | undefined;
  /** @default noopLogger */
  logger?: Logger | undefined;
  /** Aborting it stops the worker: running tasks are aborted and it resolves with `aborted`. */
  signal?: AbortSignal | undefined;
}

/** How {@link connectWorker} ended. */
export interface ConnectWorkerResult {
  /**
   * `shutdown`: the host sent SHUTDOWN and then closed (or refused with `closing`); `unassigned`: the host no
   * longer expects this worker id (it was replaced); `aborted`: the signal.
   */
  reason: 'shutdown' | 'unassigned' | 'aborted';
  /** How many sessions (authenticated connections) it served. */
  sessions: number;
}

/** Refusals that connecting again cannot fix. */
const FATAL_REFUSALS: ReadonlySet<string> = new Set([
  'missing-token',
  'bad-token',
  'version',
  'malformed',
  'oversized',
  'tls',
]);

/**
 * Runs this process as a remote worker: connects to the runtime's worker endpoint, authenticates with the
 * token from the credential file, and runs tasks with the same loop as the attached worker until the host
 * shuts down. A lost connection is retried with exponential backoff (on `clock`); heartbeats go every
 * `reportIntervalMs` the host asked for. After a SHUTDOWN it connects once more: a host that still runs
 * (it retired this session) gives it new work, a host that is gone ends it cleanly.
 *
 * @throws CredentialInvalidError (`REMOTE_CREDENTIAL_INVALID`), RemoteRefusedError (`REMOTE_REFUSED`) for a
 * wrong or missing token, another IPC version or a failed TLS handshake, RemoteUnreachableError after
 * `maxAttempts` failed attempts, RemoteOptionsError for a bad URL.
 * @example
 * ```ts
 * const { reason } = await connectWorker({ url: 'unix:///run/ordo/workers.sock', tokenFile: '/run/secrets/ordo' });
 * ```
 */
export async function connectWorker(options: ConnectWorkerOptions = {}): Promise<ConnectWorkerResult> {
  const launcher = await import('@ordo/launcher');
  const env = options.env ?? process.env;
  const clock = options.clock ?? systemClock;
  const logger = options.logger ?? noopLogger;
  const { signal } = options;
  const credential = await readCredential(options.tokenFile ?? env[launcher.WORKER_TOKEN_FILE_ENV], launcher);
  const url = options.url ?? env[launcher.WORKER_CONNECT_ENV] ?? credential.url;
  if (url === undefined || url === '') {
    throw new launcher.RemoteOptionsError(
      `No endpoint to connect to: pass --connect <url> (or set ${launcher.WORKER_CONNECT_ENV}).`,
    );
  }
  const workerId = options.workerId ?? (env.ORDO_WORKER_ID || undefined);
  const backoffMs = options.backoffMs ?? 200;
  const maxBackoffMs = options.maxBackoffMs ?? 10_000;
  const maxAttempts = options.maxAttempts ?? Number.POSITIVE_INFINITY;
  let sessions = 0;
  let failures = 0;
  /** The last session ended with the host's SHUTDOWN: a host that cannot be reached now is gone. */
  let toldToStop = false;
  try {
    for (;;) {
      if (signal?.aborted) return { reason: 'aborted', sessions };
      let connection: Awaited<ReturnType<typeof launcher.openWorkerConnection>>;
      try {
        connection = await launcher.openWorkerConnection({
          url,
          token: credential.token,
          workerId,
          tls: options.tls,
          allowInsecure: options.allowInsecure,
          clock,
          signal,
        });
      } catch (error) {
        if (signal?.aborted) return { reason: 'aborted', sessions };
        if (error instanceof launcher.RemoteRefusedError) {
          if (FATAL_REFUSALS.has(error.reason)) throw error;
          if (error.reason === 'closing') return { reason: 'shutdown', sessions };
          if (error.reason === 'unassigned') return { reason: 'unassigned', sessions };
        } else if (!(error instanceof launcher.RemoteUnreachableError)) throw error;
        if (toldToStop) return { reason: 'shutdown', sessions };
        failures++;
        if (failures >= maxAttempts) throw error;
        const wait = Math.min(maxBackoffMs, backoffMs * 2 ** (failures - 1));
        logger.warn({ err: error, attempt: failures, waitMs: wait }, 'could not join the endpoint; retrying');
        try {
          await clock.sleep(wait, signal);
        } catch {
          return { reason: 'aborted', sessions };
        }
        continue;
      }
      failures = 0;
      sessions++;
      logger.info({ url, workerId: connection.workerId }, 'connected to the worker endpoint');
      toldToStop = await serveSession(connection, signal);
      logger.info({ workerId: connection.workerId, shutdown: toldToStop }, 'session ended');
      if (signal?.aborted) return { reason: 'aborted', sessions };
      // A worker its starter made belongs to one spawn: the host's SHUTDOWN ends it.
      if (toldToStop && workerId !== undefined) return { reason: 'shutdown', sessions };
    }
  } finally {
    await closeWorkerShell();
  }
}

/** Serves one authenticated connection; resolves with whether the host sent SHUTDOWN. */
async function serveSession(
  connection: { socket: Socket; maxMessageBytes: number; reportIntervalMs: number; rest: Buffer },
  signal: AbortSignal | undefined,
): Promise<boolean> {
  const { socket } = connection;
  let shutdown = false;
  // Registered before the loop's own reader, so the flag is set before the loop stops. SHUTDOWN is a tiny
  // line: longer ones (RUN payloads) are skipped without being kept.
  const tap = new LineSplitter(
    (line) => {
      const parsed = parseParentMessage(line);
      if (parsed.ok && parsed.message.type === 'SHUTDOWN') shutdown = true;
    },
    { maxLineLength: 256 },
  );
  socket.on('data', (chunk: string | Buffer) => tap.push(chunk));
  if (connection.rest.length > 0) {
    tap.push(connection.rest);
    socket.unshift(connection.rest);
  }
  const server = serveRuntimeWorker({
    channel: socket,
    maxMessageBytes: connection.maxMessageBytes,
    reportIntervalMs: connection.reportIntervalMs,
    closeShell: false,
  });
  const onAbort = () => void server.close();
  signal?.addEventListener('abort', onAbort, { once: true });
  socket.once('close', onAbort);
  socket.resume();
  try {
    await server.closed;
  } finally {
    signal?.removeEventListener('abort', onAbort);
    socket.off('close', onAbort);
    socket.end();
    socket.destroy();
  }
  return shutdown;
}

/** Reads the credential file: the token alone, or JSON `{ token, url? }`. */
async function readCredential(
  file: string | undefined,
  launcher: typeof import('@ordo/launcher'),
): Promise<{ token: string; url: string | undefined }> {
  if (file === undefined || file === '') {
    throw new launcher.CredentialInvalidError(undefined, 'no credential file was given');
  }
  let text: string;
  try {
    text = (await readFile(file, 'utf8')).trim();
  } catch (error) {
    throw new launcher.CredentialInvalidError(
      file,
      (error as NodeJS.ErrnoException).code ?? 'unreadable',
      error,
    );
  }
  if (text.startsWith('{')) {
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (error) {
      throw new launcher.CredentialInvalidError(file, 'it starts with "{" but is not JSON', error);
    }
    const { token, url } = (value ?? {}) as { token?: unknown; url?: unknown };
    if (typeof token !== 'string' || token === '') {
      throw new launcher.CredentialInvalidError(file, 'its JSON has no "token" string');
    }
    return { token, url: typeof url === 'string' ? url : undefined };
  }
  if (text === '' || /\s/.test(text)) {
    throw new launcher.CredentialInvalidError(
      file,
      text === '' ? 'it is empty' : 'it holds more than one token',
    );
  }
  return { token: text, url: undefined };
}

// Started as a script (the launcher's command): serve. Imported (tests, hosts): only export.
const entry = process.argv[1];
if (entry !== undefined && path.resolve(entry) === fileURLToPath(import.meta.url)) serveRuntimeWorker();
