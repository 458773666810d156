import { readFileSync } from 'node:fs';

/**
 * Whether `pid` is a live process (one that exists and is not a zombie), read from `/proc/<pid>/stat`.
 * For tests that check no worker, shell or grandchild outlived a kill; Linux only (`false` without `/proc`).
 *
 * @example
 * ```js
 * await vi.waitFor(() => expect(processAlive(pid)).toBe(false));
 * ```
 */
export function processAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    // The state letter follows the command name, which is in parentheses and may itself hold spaces or ')'.
    return !stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    return false;
  }
}
