/** What {@link signalProcessGroup} needs of a child process (a `ChildProcess` fits). */
export interface GroupLeader {
  readonly pid?: number | undefined;
  kill(signal?: NodeJS.Signals): boolean;
}

/**
 * Whether `pid` may name a child's process group to signal as `-pid`: a safe integer above 1. `kill(0)`
 * and `kill(-0)` signal the caller's own group (CI's shell with it), `kill(-1)` every process the caller
 * may signal, and pid 1 is init; NaN or a fraction is a bug upstream (`Number('')` of an empty pid file is 0).
 */
export function isChildGroupPid(pid: number | undefined): pid is number {
  return pid !== undefined && Number.isSafeInteger(pid) && pid > 1;
}

/**
 * Sends `signal` to the whole process group a child leads (it must have been spawned with
 * `detached: true`, which makes it a group and session leader), so what it started (a `sleep` a task
 * spawned, a shell's pipeline) ends with it. Falls back to the child alone when the group is gone or
 * the platform has no process groups. Returns whether a signal was sent.
 *
 * Gotchas: a descendant that called `setsid()` or `setpgid()` left the group and is not reached.
 *
 * @example
 * ```ts
 * const child = spawn(process.execPath, [entry], { detached: true, stdio: 'pipe' });
 * child.once('exit', () => signalProcessGroup(child, 'SIGKILL')); // what it left behind
 * signalProcessGroup(child, 'SIGTERM');
 * ```
 */
export function signalProcessGroup(child: GroupLeader, signal: NodeJS.Signals): boolean {
  const pid = child.pid;
  if (isChildGroupPid(pid) && process.platform !== 'win32') {
    try {
      process.kill(-pid, signal);
      return true;
    } catch {
      // No such group (already gone, or not a leader): fall back to the child itself.
    }
  }
  try {
    return child.kill(signal);
  } catch {
    return false;
  }
}
