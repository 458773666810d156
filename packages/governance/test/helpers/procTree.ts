import { readdirSync, readFileSync } from 'node:fs';

/** Whether /proc is there to read (Linux). */
export const hasProc = (() => {
  try {
    readFileSync('/proc/self/status');
    return true;
  } catch {
    return false;
  }
})();

function parentOf(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may contain spaces and parentheses: fields restart after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(fields[1]);
  } catch {
    return undefined;
  }
}

/** Resident memory of one process: all of it (`VmRSS`) or its anonymous part (`RssAnon`), in bytes. */
function rssOf(pid: number, field: 'VmRSS' | 'RssAnon' = 'VmRSS'): number {
  try {
    const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(
      readFileSync(`/proc/${pid}/status`, 'utf8'),
    );
    return match ? Number(match[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/** The pids of `root` and all its descendants, read from /proc. */
export function processTree(root = process.pid): number[] {
  const children = new Map<number, number[]>();
  for (const name of readdirSync('/proc')) {
    const pid = Number(name);
    if (!Number.isInteger(pid)) continue;
    const parent = parentOf(pid);
    if (parent === undefined) continue;
    const list = children.get(parent) ?? [];
    list.push(pid);
    children.set(parent, list);
  }
  const tree: number[] = [];
  const stack = [root];
  while (stack.length > 0) {
    const pid = stack.pop() as number;
    tree.push(pid);
    stack.push(...(children.get(pid) ?? []));
  }
  return tree;
}

/** The summed RSS of `root` and its descendants, in bytes (VmRSS from /proc). */
export function processTreeRss(root = process.pid): { bytes: number; processes: number } {
  const pids = processTree(root);
  return { bytes: pids.reduce((sum, pid) => sum + rssOf(pid), 0), processes: pids.length };
}

/** Samples the tree's RSS every `everyMs` until `stop()`; returns the peak and the samples. */
export function sampleTreeRss(everyMs = 50, root = process.pid) {
  const samples: number[] = [];
  const take = () => samples.push(processTreeRss(root).bytes);
  take();
  const timer = setInterval(take, everyMs);
  return {
    samples,
    stop(): { peak: number; samples: number[] } {
      clearInterval(timer);
      take();
      return { peak: Math.max(...samples), samples };
    },
  };
}

/**
 * The summed anonymous RSS (`RssAnon`: heap, stacks, malloc) of `root` and its descendants, in bytes. What
 * a leak grows; file-backed pages (the node binary and libraries, paged in as code paths are first run, and
 * dropped by the kernel at will) are left out.
 */
export function processTreeAnonRss(root = process.pid): { bytes: number; processes: number } {
  const pids = processTree(root);
  return { bytes: pids.reduce((sum, pid) => sum + rssOf(pid, 'RssAnon'), 0), processes: pids.length };
}
