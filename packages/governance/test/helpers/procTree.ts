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

const VM_RSS = /^VmRSS:\s+(\d+) kB/m;
const RSS_ANON = /^RssAnon:\s+(\d+) kB/m;

/**
 * One process's resident memory in bytes, all of it (`VmRSS`) and its anonymous part (`RssAnon`, undefined
 * on a kernel before 4.5); 0 once the process is gone.
 */
function memoryOf(pid: number): { rss: number; anon: number | undefined } {
  let status: string;
  try {
    status = readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return { rss: 0, anon: 0 };
  }
  const kB = (pattern: RegExp) => {
    const match = pattern.exec(status);
    return match ? Number(match[1]) * 1024 : undefined;
  };
  const rss = kB(VM_RSS) ?? 0;
  // A process without memory (a zombie) has neither line.
  return { rss, anon: kB(RSS_ANON) ?? (rss > 0 ? undefined : 0) };
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
  return { bytes: pids.reduce((sum, pid) => sum + memoryOf(pid).rss, 0), processes: pids.length };
}

/**
 * The summed RSS of `root` and its descendants in one pass over /proc, in bytes: all of it (`rss`) and its
 * anonymous part (`anon`, RssAnon: heap, stacks, malloc). The anonymous part is what a leak grows;
 * file-backed pages (the node binary and libraries, paged in as code paths first run, and dropped by the
 * kernel at will) are left out of it.
 */
export function processTreeMemory(root = process.pid): { rss: number; anon: number; processes: number } {
  const pids = processTree(root);
  let rss = 0;
  let anon = 0;
  for (const pid of pids) {
    const memory = memoryOf(pid);
    // Read as 0, a missing RssAnon would make a flat series that hides any leak.
    if (memory.anon === undefined)
      throw new Error(`/proc/${pid}/status has no RssAnon: Linux 4.5 or later is needed`);
    rss += memory.rss;
    anon += memory.anon;
  }
  return { rss, anon, processes: pids.length };
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
