import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { type Clock, type Logger, noopLogger, systemClock, type TimerHandle } from '@ordo/contracts';
import { checkCommand, validateAllowlist } from './commandPolicy.js';
import {
  ShellAbortedError,
  ShellClosedError,
  ShellCrashedError,
  ShellNotAllowedError,
  ShellOptionError,
  ShellTimeoutError,
} from './errors.js';
import { OutputCollector } from './internal/outputCollector.js';
import { signalTree } from './internal/processTree.js';

/** Options of {@link createShellPool}. */
export interface ShellPoolOptions {
  /**
   * How many shells run side by side; more commands wait for a free one in arrival order (FIFO).
   * @default 4
   */
  size?: number | undefined;
  /**
   * The bash binary each slot runs (a name on `PATH` or a path). It must be bash: the protocol uses its
   * `$'…'` quoting.
   * @default 'bash'
   */
  shell?: string | undefined;
  /**
   * The directory commands start in; a relative `run({ cwd })` resolves against it.
   * @default process.cwd()
   */
  cwd?: string | undefined;
  /**
   * The environment every command starts with; `run({ env })` adds to it (`undefined` removes a name).
   * @default process.env, as it is when the pool is created
   */
  env?: Readonly<Record<string, string | undefined>> | undefined;
  /**
   * The command names that may run (see {@link checkCommand}). Leave it out to run any command: only for
   * commands you trust.
   * @default undefined (no allowlist)
   */
  allow?: readonly string[] | undefined;
  /**
   * Allow pipes, lists, subshells, redirections and substitutions; every command word is still checked.
   * Only meaningful with `allow`.
   * @default false
   */
  allowCompound?: boolean | undefined;
  /**
   * The most bytes kept of each of stdout and stderr per command. The rest is read and dropped, and the
   * result says `truncated: true`.
   * @default 2097152 (2 MiB)
   */
  maxOutputBytes?: number | undefined;
  /**
   * How long a command may run before its process group is killed (`SHELL_TIMEOUT`). `Infinity` disables it.
   * @default 60000
   */
  timeoutMs?: number | undefined;
  /**
   * How long `close()` lets the shells and what they started end after SIGTERM before it sends SIGKILL to
   * every process left in their sessions.
   * @default 2000
   */
  killGraceMs?: number | undefined;
  /** The time source for timeouts, the kill grace and `durationMs`. @default systemClock */
  clock?: Clock | undefined;
  /** Where the pool logs shell starts, kills and crashes. @default noopLogger */
  logger?: Logger | undefined;
}

/** Options of {@link ShellPool.run}. */
export interface ShellRunOptions {
  /** The directory the command starts in, resolved against the pool's `cwd`. @default the pool's cwd */
  cwd?: string | undefined;
  /** Variables added to the pool's environment for this command only; `undefined` removes one. */
  env?: Readonly<Record<string, string | undefined>> | undefined;
  /** This command's timeout. @default the pool's timeoutMs */
  timeoutMs?: number | undefined;
  /** Aborts the wait for a slot, or kills the running command (`SHELL_ABORTED`). */
  signal?: AbortSignal | undefined;
  /** What the command reads on stdin. @default empty (stdin is /dev/null) */
  stdin?: string | Uint8Array | undefined;
}

/** What a command produced. */
export interface ShellResult {
  /** Standard output, decoded as UTF-8, at most `maxOutputBytes` bytes. */
  stdout: string;
  /** Standard error, decoded as UTF-8, at most `maxOutputBytes` bytes. */
  stderr: string;
  /** The exit status (128 + n when killed by signal n). */
  exitCode: number;
  /** From the command's start in its shell to its end, on the pool's clock. */
  durationMs: number;
  /** Whether stdout or stderr went past `maxOutputBytes` and was cut. */
  truncated: boolean;
  /** Which shell ran it: a number unique within the pool, new for every replacement shell. */
  shellId: number;
}

/** A snapshot of the pool's load. */
export interface ShellPoolStats {
  /** The number of slots. */
  size: number;
  /** Commands running now. */
  running: number;
  /** Commands waiting for a slot. */
  waiting: number;
  /** Shells started so far, replacements included. */
  shellsStarted: number;
}

/** A pool of long-lived bash processes that run one command at a time each. */
export interface ShellPool {
  /**
   * Runs `command` in a free shell (waiting in FIFO order for one), in a fresh subshell that starts in the
   * requested cwd with the requested env, so nothing (`cd`, `export`, `set -o`, functions, traps) carries
   * over to the next command. A non-zero exit status is a result, not an error.
   *
   * Rejects with `SHELL_NOT_ALLOWED` before running anything when the allowlist refuses the command; with
   * `SHELL_TIMEOUT` / `SHELL_ABORTED` after killing its process group; with `SHELL_CRASHED` when its shell
   * died; with `SHELL_CLOSED` once the pool is closed; with `signal.reason` if aborted before it started.
   */
  run(command: string, options?: ShellRunOptions): Promise<ShellResult>;
  /** The pool's load now. */
  stats(): ShellPoolStats;
  /** Rejects waiting commands, kills running ones (`SHELL_CLOSED`) and stops every shell. Idempotent. */
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

interface Job {
  readonly out: OutputCollector;
  readonly err: OutputCollector;
  /** Ends the job with an error: kills the process group, replaces the shell, rejects. */
  fail(error: Error): void;
  /** Resolves the job once both sentinels have arrived. */
  check(): void;
}

interface Slot {
  readonly index: number;
  proc: ChildProcess | undefined;
  shellId: number;
  job: Job | undefined;
  /** Settles when the current shell's streams have closed. */
  exited: Promise<void>;
  /** Settles when the current shell's process has exited (or could not start). */
  ended: Promise<void>;
}

/** The name of the variable that marks every process a slot started (see `internal/processTree.ts`). */
const MARKER_NAME = 'ORDO_SHELL_SLOT';

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * Creates a pool of persistent bash shells. A command costs a subshell fork in an already-running bash
 * instead of a new process from Node, which makes short commands several times cheaper than spawning each.
 *
 * How it works: each command is sent to its slot's bash as one line that runs it in a subshell and then
 * prints a sentinel with a fresh random nonce and the exit status on stdout and on stderr. Output is read
 * until both sentinels arrive; a command cannot fake one, because it never sees the nonce.
 *
 * Gotchas: a command's background processes (`cmd &`) outlive it and share its slot's process group; what
 * they print later shows up in that slot's next command. The whole group is killed on timeout and abort.
 *
 * @example
 * ```ts
 * import { createShellPool } from '@ordo/executor-spool';
 * await using pool = createShellPool({ size: 2, allow: ['git', 'ls'], timeoutMs: 10_000 });
 * const { stdout, exitCode } = await pool.run('git status --short', { cwd: '/repo' });
 * ```
 */
export function createShellPool(options: ShellPoolOptions = {}): ShellPool {
  const size = options.size ?? 4;
  if (!Number.isInteger(size) || size < 1)
    throw new ShellOptionError('size', `needs an integer >= 1, got ${size}`);
  const maxOutputBytes = options.maxOutputBytes ?? 2 * 1024 * 1024;
  if (!Number.isInteger(maxOutputBytes) || maxOutputBytes < 0) {
    throw new ShellOptionError('maxOutputBytes', `needs an integer >= 0, got ${maxOutputBytes}`);
  }
  const poolTimeoutMs = checkTimeout('timeoutMs', options.timeoutMs ?? 60_000);
  const killGraceMs = options.killGraceMs ?? 2_000;
  if (!(killGraceMs >= 0) || !Number.isFinite(killGraceMs)) {
    throw new ShellOptionError('killGraceMs', `needs a finite number >= 0, got ${killGraceMs}`);
  }
  if (options.allow) validateAllowlist(options.allow);
  const policy = options.allow && { allow: options.allow, allowCompound: options.allowCompound };
  const shell = options.shell ?? 'bash';
  const poolCwd = resolve(options.cwd ?? process.cwd());
  const poolEnv = definedEntries(options.env ?? process.env);
  if (policy && poolEnv.PATH !== undefined) poolEnv.PATH = absoluteEntries(poolEnv.PATH);
  const clock = options.clock ?? systemClock;
  const logger = options.logger ?? noopLogger;

  const slots: Slot[] = Array.from({ length: size }, (_, index) => ({
    index,
    proc: undefined,
    shellId: 0,
    job: undefined,
    exited: Promise.resolve(),
    ended: Promise.resolve(),
  }));
  const poolMarker = randomBytes(8).toString('hex');
  const markers = new WeakMap<ChildProcess, string>();
  const free: Slot[] = [...slots];
  const waiters: { resolve: (slot: Slot) => void; reject: (error: unknown) => void }[] = [];
  let shellsStarted = 0;
  let closed = false;
  let closing: Promise<void> | undefined;
  let stdinDir: Promise<string> | undefined;

  function startShell(slot: Slot): ChildProcess {
    const shellId = ++shellsStarted;
    const marker = `${MARKER_NAME}=${poolMarker}.${shellId}`;
    // detached: the shell leads its own session and process group, which every descendant stays in
    // (unless it calls setsid()); the marker variable is a second net for those.
    const proc = spawn(shell, ['--noprofile', '--norc', '+m'], {
      cwd: poolCwd,
      env: { ...poolEnv, [MARKER_NAME]: `${poolMarker}.${shellId}` },
      stdio: 'pipe',
      detached: true,
    });
    markers.set(proc, marker);
    slot.proc = proc;
    slot.shellId = shellId;
    slot.ended = new Promise((done) => {
      proc.once('exit', () => done());
      proc.once('error', () => done());
    });
    logger.debug({ shellId, slot: slot.index, pid: proc.pid }, 'shell started');
    slot.exited = new Promise((done) => {
      let ended = false;
      const onEnd = (reason: string, cause?: unknown) => {
        if (ended) return;
        ended = true;
        done();
        if (slot.proc !== proc) return;
        slot.proc = undefined;
        logger.warn({ shellId, slot: slot.index, reason }, 'shell died');
        slot.job?.fail(
          new ShellCrashedError(`The shell (id ${shellId}) ${reason} while it ran the command.`, { cause }),
        );
      };
      // Kill what is left of the session at once, so children holding the pipes cannot delay `close`.
      proc.on('exit', () => killTree(proc, 'SIGKILL'));
      proc.on('close', (code, signal) =>
        onEnd(signal ? `was killed by ${signal}` : `exited with code ${code}`),
      );
      proc.on('error', (error) => onEnd(`could not run (${error.message})`, error));
    });
    proc.stdin?.on('error', () => {}); // EPIPE when the shell is gone; 'close' reports it.
    proc.stdout?.on('data', (chunk: Buffer) => {
      if (slot.proc === proc && slot.job?.out.push(chunk)) slot.job.check();
    });
    proc.stderr?.on('data', (chunk: Buffer) => {
      if (slot.proc === proc && slot.job?.err.push(chunk)) slot.job.check();
    });
    return proc;
  }

  function acquire(signal: AbortSignal | undefined): Promise<Slot> {
    const slot = free.shift();
    if (slot) return Promise.resolve(slot);
    return new Promise((resolveSlot, reject) => {
      const onAbort = () => {
        waiters.splice(waiters.indexOf(waiter), 1);
        reject(signal?.reason);
      };
      const waiter = {
        resolve: (s: Slot) => {
          signal?.removeEventListener('abort', onAbort);
          resolveSlot(s);
        },
        reject: (error: unknown) => {
          signal?.removeEventListener('abort', onAbort);
          reject(error);
        },
      };
      waiters.push(waiter);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  function release(slot: Slot): void {
    const waiter = waiters.shift();
    if (waiter) waiter.resolve(slot);
    else free.push(slot);
  }

  async function stdinFile(slot: Slot, data: string | Uint8Array): Promise<string> {
    stdinDir ??= mkdtemp(join(tmpdir(), 'ordo-shell-'));
    const file = join(await stdinDir, `stdin-${slot.index}`);
    await writeFile(file, data);
    return file;
  }

  function execute(
    slot: Slot,
    command: string,
    runOptions: ShellRunOptions,
    timeoutMs: number,
    stdinPath: string,
  ): Promise<ShellResult> {
    const { signal } = runOptions;
    const proc = slot.proc ?? startShell(slot);
    const shellId = slot.shellId;
    const nonce = randomBytes(16).toString('hex');
    const marker = Buffer.from(`\n__ordo_${nonce}:`);
    const startedAt = clock.now();
    return new Promise<ShellResult>((resolveRun, rejectRun) => {
      const finish = () => {
        slot.job = undefined;
        if (timer !== undefined) clock.clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
      };
      const job: Job = {
        out: new OutputCollector(marker, maxOutputBytes),
        err: new OutputCollector(marker, maxOutputBytes),
        fail(error) {
          finish();
          if (slot.proc === proc) {
            slot.proc = undefined;
            killTree(proc, 'SIGKILL');
            if (!closed) startShell(slot);
          }
          logger.warn({ shellId, code: (error as { code?: string }).code }, 'command ended early');
          rejectRun(error);
        },
        check() {
          if (!job.out.done || !job.err.done) return;
          finish();
          resolveRun({
            stdout: job.out.text(),
            stderr: job.err.text(),
            exitCode: job.out.status,
            durationMs: clock.now() - startedAt,
            truncated: job.out.truncated || job.err.truncated,
            shellId,
          });
        },
      };
      const onAbort = () => job.fail(new ShellAbortedError({ cause: signal?.reason }));
      const timer =
        timeoutMs === Number.POSITIVE_INFINITY
          ? undefined
          : clock.setTimeout(() => job.fail(new ShellTimeoutError(timeoutMs)), timeoutMs);
      slot.job = job;
      signal?.addEventListener('abort', onAbort, { once: true });
      proc.stdin?.write(commandLine(command, runOptions, stdinPath, nonce));
    });
  }

  function commandLine(
    command: string,
    runOptions: ShellRunOptions,
    stdinPath: string,
    nonce: string,
  ): string {
    let env = '';
    for (const [name, given] of Object.entries(runOptions.env ?? {})) {
      const value = policy && name === 'PATH' && given !== undefined ? absoluteEntries(given) : given;
      env += value === undefined ? `unset ${name}; ` : `export ${name}=${bashQuote(value)}; `;
    }
    const cwd = resolve(poolCwd, runOptions.cwd ?? '.');
    const sentinel = `printf '\\n__ordo_${nonce}:%d\\n' "$1"`;
    return (
      `(${env}cd -- ${bashQuote(cwd)} && eval -- ${bashQuote(command)}) <${bashQuote(stdinPath)}; ` +
      `set -- $?; ${sentinel}; ${sentinel} >&2; set --\n`
    );
  }

  async function run(command: string, runOptions: ShellRunOptions = {}): Promise<ShellResult> {
    const { signal } = runOptions;
    signal?.throwIfAborted();
    if (closed) throw new ShellClosedError();
    if (typeof command !== 'string') throw new ShellOptionError('command', 'needs a string');
    if (command.includes('\0')) throw new ShellNotAllowedError('\\0', 'a command cannot contain a NUL byte');
    for (const [name, value] of Object.entries(runOptions.env ?? {})) {
      if (!ENV_NAME.test(name))
        throw new ShellOptionError('env', `${JSON.stringify(name)} is not a variable name`);
      if (value?.includes('\0'))
        throw new ShellOptionError('env', `the value of ${name} contains a NUL byte`);
    }
    const timeoutMs = checkTimeout('timeoutMs', runOptions.timeoutMs ?? poolTimeoutMs);
    if (policy && runOptions.env && 'PATH' in runOptions.env) {
      // Unsetting PATH in a running bash makes it search the current directory.
      if (runOptions.env.PATH === undefined) {
        throw new ShellOptionError(
          'env',
          'with an allowlist, PATH cannot be removed (bash would then search the current directory)',
        );
      }
    }
    if (policy) checkCommand(command, policy);
    const slot = await acquire(signal);
    try {
      if (closed) throw new ShellClosedError();
      const stdinPath =
        runOptions.stdin === undefined ? '/dev/null' : await stdinFile(slot, runOptions.stdin);
      signal?.throwIfAborted();
      return await execute(slot, command, runOptions, timeoutMs, stdinPath);
    } finally {
      if (!closed) release(slot);
    }
  }

  function killTree(proc: ChildProcess, signal: NodeJS.Signals): void {
    if (proc.pid !== undefined) signalTree(proc.pid, signal, markers.get(proc));
  }

  /**
   * SIGTERM to every shell's session; once the shells have exited (or after killGraceMs), SIGKILL to
   * whatever is left in their sessions; then the pipes are closed from this side, so a process that
   * escaped and still holds them cannot keep `close()` waiting.
   */
  async function shutdown(): Promise<void> {
    for (const waiter of waiters.splice(0)) waiter.reject(new ShellClosedError());
    const running: { slot: Slot; proc: ChildProcess }[] = [];
    for (const slot of slots) {
      const proc = slot.proc;
      slot.proc = undefined;
      if (proc) {
        running.push({ slot, proc });
        proc.stdin?.end();
        killTree(proc, 'SIGTERM');
      }
      slot.job?.fail(new ShellClosedError());
    }
    const ended = Promise.all(running.map(({ slot }) => slot.ended));
    let grace: TimerHandle | undefined;
    await Promise.race([
      ended,
      new Promise<void>((done) => {
        grace = clock.setTimeout(done, killGraceMs);
      }),
    ]);
    if (grace !== undefined) clock.clearTimeout(grace);
    for (const { proc } of running) killTree(proc, 'SIGKILL');
    await ended;
    for (const { proc } of running) {
      proc.stdout?.destroy();
      proc.stderr?.destroy();
    }
    await Promise.all(running.map(({ slot }) => slot.exited));
    if (stdinDir) await rm(await stdinDir, { recursive: true, force: true });
  }

  const pool: ShellPool = {
    run,
    stats: () => ({
      size,
      running: size - free.length,
      waiting: waiters.length,
      shellsStarted,
    }),
    close() {
      closed = true;
      closing ??= shutdown();
      return closing;
    },
    [Symbol.asyncDispose]: () => pool.close(),
  };
  return pool;
}

/** Quotes any string for bash as `$'…'`, escaping every byte outside printable ASCII. */
function bashQuote(value: string): string {
  let out = "$'";
  for (const byte of Buffer.from(value, 'utf8')) {
    if (byte >= 0x20 && byte < 0x7f && byte !== 0x5c && byte !== 0x27) out += String.fromCharCode(byte);
    else out += `\\x${byte.toString(16).padStart(2, '0')}`;
  }
  return `${out}'`;
}

/**
 * With an allowlist, `PATH` keeps only its absolute entries: an empty or relative one (`.`,
 * `./node_modules/.bin`) would run a file named like an allowed command from the current directory, or
 * from one a command `cd`s to.
 */
function absoluteEntries(path: string): string {
  return path
    .split(':')
    .filter((entry) => entry.startsWith('/'))
    .join(':');
}

function checkTimeout(option: string, value: number): number {
  if (!(value > 0)) throw new ShellOptionError(option, `needs a number > 0 (or Infinity), got ${value}`);
  return value;
}

function definedEntries(env: Readonly<Record<string, string | undefined>>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(env)) if (value !== undefined) out[name] = value;
  return out;
}
