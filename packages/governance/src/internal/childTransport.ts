import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { LineSplitter, type Logger, signalProcessGroup } from '@ordo/contracts';
import type { TransportEvents, WorkerTransport } from './workerTransport.js';

/** What {@link startChildWorker} starts. */
export interface ChildWorkerCommand {
  entry: string;
  args: readonly string[];
  execArgv: readonly string[];
  env: Readonly<Record<string, string>>;
  heapMB: number;
  /** The longest stdout line kept, in characters. */
  maxLineLength: number;
}

/**
 * Starts `node [execArgv] --max-old-space-size=<heapMB> entry [args]` as a detached child (it leads its own
 * process group, so a kill ends what its tasks started) and reads its stdout and stderr as lines. Throws
 * when the process cannot be spawned.
 */
export function startChildWorker(
  command: ChildWorkerCommand,
  events: TransportEvents,
  logger: Logger,
): WorkerTransport {
  const args = [
    ...command.execArgv,
    `--max-old-space-size=${command.heapMB}`,
    command.entry,
    ...command.args,
  ];
  // detached: the worker no longer gets the terminal's SIGHUP; it exits when its stdin ends instead.
  const child: ChildProcessWithoutNullStreams = spawn(process.execPath, args, {
    detached: true,
    stdio: ['pipe', 'pipe', 'pipe'],
    env: { ...process.env, ...command.env },
  });
  const stdout = new LineSplitter(events.line, {
    maxLineLength: command.maxLineLength,
    onOverflow: events.overflow,
    skipEmpty: true,
  });
  const stderr = new LineSplitter(events.stderr, { maxLineLength: 65_536, skipEmpty: true });
  child.stdout.on('data', (bytes: Buffer) => stdout.push(bytes));
  child.stderr.on('data', (bytes: Buffer) => stderr.push(bytes));
  child.stdin.on('error', (error) => logger.debug({ err: error }, 'worker stdin closed'));
  child.on('error', (error) => logger.error({ err: error }, 'worker process error'));
  // Whatever the worker left behind in its group (a task's child processes) ends with it.
  child.on('exit', () => signalProcessGroup(child, 'SIGKILL'));
  child.on('close', (code, signal) => {
    stdout.end();
    stderr.end();
    events.exit({ code, signal });
  });
  return {
    pid: child.pid,
    // Lines come from stream callbacks, always after the synchronous start: nothing to hold back.
    listen: () => {},
    send: (line) => {
      child.stdin.write(`${line}\n`);
    },
    shutdown: () => child.stdin.end(),
    kill: () => signalProcessGroup(child, 'SIGKILL'),
  };
}
