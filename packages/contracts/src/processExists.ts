/**
 * Whether a process with this pid exists on this host (signal 0: nothing is sent), for the owner checks of
 * lock, journal and temp files that name their writer's pid. A pid that is not a positive safe integer is
 * never a live writer: `kill(0, 0)` and `kill(-1, 0)` would succeed (they address process groups), so a
 * `0` parsed from a torn or forged file name would otherwise keep that file forever. `EPERM` (another
 * user's process) counts as alive.
 *
 * @example
 * ```ts
 * if (!processExists(owner.pid)) await rm(lockFile);
 * ```
 */
export function processExists(pid: number): boolean {
  if (!Number.isSafeInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
