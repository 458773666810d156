import { readdirSync, readFileSync } from 'node:fs';
import { isChildGroupPid } from '@ordo/contracts';

/**
 * Finds and signals every process a slot's shell left behind, without cgroups (so it works as root and
 * not). A slot's bash is started with `detached: true`, so it leads a new session and process group; its
 * descendants stay in that session even when they make process groups of their own (`set -m` jobs), and
 * they inherit the slot's marker variable. A process that both calls `setsid()` and clears its
 * environment escapes both nets: document such programs as "allowing X allows anything X can run".
 */

/** The session id of a `/proc/<pid>/stat` line (field 6, after the parenthesized command name). */
function sessionOf(stat: string): number | undefined {
  const end = stat.lastIndexOf(')');
  if (end === -1) return undefined;
  const fields = stat.slice(end + 2).split(' ');
  // After `)`: state ppid pgrp session …
  const session = Number(fields[3]);
  return Number.isInteger(session) ? session : undefined;
}

function hasMarker(pid: string, marker: string): boolean {
  try {
    return readFileSync(`/proc/${pid}/environ`, 'latin1').split('\0').includes(marker);
  } catch {
    return false;
  }
}

/**
 * The pids of the live processes in `session`, or whose environment holds `marker` (`NAME=value`).
 * Empty where there is no `/proc`.
 */
export function sessionMembers(session: number, marker: string | undefined): number[] {
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return [];
  }
  const found: number[] = [];
  for (const entry of entries) {
    if (!/^[0-9]+$/.test(entry)) continue;
    const pid = Number(entry);
    if (pid === process.pid) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'latin1');
    } catch {
      continue;
    }
    if (stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) === 'Z') continue;
    if (sessionOf(stat) === session || (marker !== undefined && hasMarker(entry, marker))) found.push(pid);
  }
  return found;
}

/**
 * Sends `signal` to the process group `leader` leads, then to every other process of its session or with
 * its marker; with SIGKILL it scans again (up to 5 times) while it still finds some, to catch what forked
 * meanwhile. Returns how many processes outside the group were signalled.
 */
export function signalTree(leader: number, signal: NodeJS.Signals, marker: string | undefined): number {
  // Not a child's group (0 is ours, and session 0 holds the kernel's threads): nothing to signal or scan.
  if (!isChildGroupPid(leader)) return 0;
  try {
    process.kill(-leader, signal);
  } catch {
    // The group is already gone.
  }
  let others = 0;
  for (let pass = 0; pass < (signal === 'SIGKILL' ? 5 : 1); pass++) {
    const members = sessionMembers(leader, marker);
    if (members.length === 0) break;
    for (const pid of members) {
      try {
        process.kill(pid, signal);
        others++;
      } catch {
        // Gone meanwhile.
      }
    }
  }
  return others;
}
