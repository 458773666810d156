/**
 * Sends `signal` (SIGKILL unless told) to the one process `pid`, for tests that clean up what they
 * started. Anything but a positive integer other than this process is refused with a `RangeError`:
 * `process.kill(0)` and a negative pid signal a whole process group, and a pid read from a file that
 * is still empty is `Number('') === 0`, which would kill the test runner and CI's shell with it.
 * Returns whether the signal was sent (`false` when the process is already gone).
 *
 * @example
 * ```js
 * afterEach(() => strays.splice(0).forEach((pid) => killProcess(pid)));
 * ```
 */
export function killProcess(pid: number, signal: NodeJS.Signals = 'SIGKILL'): boolean {
  if (!Number.isSafeInteger(pid) || pid <= 0 || pid === process.pid) {
    throw new RangeError(
      `killProcess: ${String(pid)} is not another process's pid; it signals one process only`,
    );
  }
  try {
    process.kill(pid, signal);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ESRCH') return false;
    throw error;
  }
}
