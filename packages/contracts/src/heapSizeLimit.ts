import { execFileSync } from 'node:child_process';

/**
 * The `v8.getHeapStatistics().heap_size_limit` this Node binary reports when started with
 * `--max-old-space-size=<heapMb>` (and this process's environment): the old space plus a young generation
 * whose size differs between Node versions (64 MB on Node 20, 192 MB on Node 24). For tests that check a
 * worker's heap cap: compare with this, not with a fixed margin.
 *
 * @example
 * ```js
 * expect(workerLimit).toBe(heapSizeLimitFor(80));
 * ```
 */
export function heapSizeLimitFor(heapMb: number): number {
  const out = execFileSync(
    process.execPath,
    // Written as plain digits: `-p` would colour the number when FORCE_COLOR is set (as nx sets it).
    [
      `--max-old-space-size=${heapMb}`,
      '-e',
      'process.stdout.write(String(require("node:v8").getHeapStatistics().heap_size_limit))',
    ],
    { encoding: 'utf8' },
  );
  return Number(out.trim());
}
