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

/**
 * {@link killProcess} for every pid of `pids`, for a test's teardown: a pid that cannot be signalled does not
 * spare the ones after it; the failures are thrown together at the end as an `AggregateError`.
 * Returns how many were signalled.
 *
 * @example
 * ```js
 * afterEach(() => killProcesses(strays.splice(0)));
 * ```
 */
export function killProcesses(pids: Iterable<number>, signal: NodeJS.Signals = 'SIGKILL'): number {
  const failures: unknown[] = [];
  let signalled = 0;
  for (const pid of pids) {
    try {
      if (killProcess(pid, signal)) signalled++;
    } catch (error) {
      failures.push(error);
    }
  }
  if (failures.length > 0)
    throw new AggregateError(failures, `killProcesses: ${failures.length} pid(s) could not be signalled`);
  return signalled;
}
