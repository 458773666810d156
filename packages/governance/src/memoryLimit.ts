import { readFileSync } from 'node:fs';
import { totalmem } from 'node:os';
import { join, posix } from 'node:path';

/** The memory limit a process lives under, and where it was found. */
export interface MemoryLimit {
  /** The limit in bytes. */
  bytes: number;
  /** `cgroup-v2` (`memory.max`), `cgroup-v1` (`memory.limit_in_bytes`) or `total-memory` (no cgroup limit). */
  source: 'cgroup-v2' | 'cgroup-v1' | 'total-memory';
  /** The cgroup file the limit was read from, when it came from one. */
  file?: string | undefined;
}

/** Options for {@link detectMemoryLimit}; the defaults read the live system. */
export interface DetectMemoryLimitOptions {
  /**
   * Where the cgroup file systems are mounted.
   * @default '/sys/fs/cgroup'
   */
  cgroupRoot?: string | undefined;
  /**
   * The file that names this process's cgroups.
   * @default '/proc/self/cgroup'
   */
  procSelfCgroup?: string | undefined;
  /**
   * The machine's total memory in bytes, the answer when no cgroup limit is set.
   * @default os.totalmem()
   */
  totalMemory?: number | undefined;
}

/**
 * Finds the memory limit of this process: the cgroup v2 `memory.max` or the cgroup v1
 * `memory.limit_in_bytes` of its cgroup (the smallest along the path up to the root, as a parent's limit
 * binds its children), else the machine's total memory. "No limit" values (`max`, v1's huge sentinel) and
 * limits above total memory count as no limit.
 *
 * @example
 * ```ts
 * const { bytes, source } = detectMemoryLimit(); // e.g. { bytes: 536870912, source: 'cgroup-v2', file: … }
 * ```
 */
export function detectMemoryLimit(options: DetectMemoryLimitOptions = {}): MemoryLimit {
  const root = options.cgroupRoot ?? '/sys/fs/cgroup';
  const total = options.totalMemory ?? totalmem();
  const groups = parseProcCgroup(readText(options.procSelfCgroup ?? '/proc/self/cgroup') ?? '');
  const v2 = smallestLimit(root, groups.v2 ?? '/', 'memory.max', total);
  if (v2) return { bytes: v2.bytes, source: 'cgroup-v2', file: v2.file };
  const v1 = smallestLimit(join(root, 'memory'), groups.v1 ?? '/', 'memory.limit_in_bytes', total);
  if (v1) return { bytes: v1.bytes, source: 'cgroup-v1', file: v1.file };
  return { bytes: total, source: 'total-memory' };
}

function parseProcCgroup(text: string): { v1?: string; v2?: string } {
  const groups: { v1?: string; v2?: string } = {};
  for (const line of text.split('\n')) {
    const match = /^(\d+):([^:]*):(.*)$/.exec(line.trim());
    if (!match) continue;
    const [, id, controllers = '', path = '/'] = match;
    if (id === '0' && controllers === '') groups.v2 = path;
    else if (controllers.split(',').includes('memory')) groups.v1 = path;
  }
  return groups;
}

/** The smallest real limit in `file` from the cgroup at `path` up to the mount's root. */
function smallestLimit(
  mount: string,
  path: string,
  file: string,
  total: number,
): { bytes: number; file: string } | undefined {
  let best: { bytes: number; file: string } | undefined;
  for (let dir = posix.normalize(path); ; dir = posix.dirname(dir)) {
    const candidate = join(mount, dir, file);
    const bytes = parseLimit(readText(candidate));
    if (bytes !== undefined && bytes < total && (!best || bytes < best.bytes))
      best = { bytes, file: candidate };
    if (dir === '/' || dir === '.') return best;
  }
}

function parseLimit(text: string | undefined): number | undefined {
  const value = text?.trim();
  if (!value || value === 'max' || !/^\d+$/.test(value)) return undefined;
  const bytes = Number(value);
  return bytes > 0 && Number.isSafeInteger(bytes) ? bytes : undefined;
}

function readText(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}
