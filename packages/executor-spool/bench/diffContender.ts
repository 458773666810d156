/**
 * One contender of the diff benchmark in a fresh process (started by bench/diff.ts):
 * `tsx --conditions=@ordo/source bench/diffContender.ts <ordo|jsdiff|git> <case index> <dir>`, where `dir`
 * holds the case's old file as `a.txt` and its new one as `b.txt`. Times the first call (cold), warms up (at
 * least 5 calls and 1 s in all), times `RUNS` calls one after another and prints one JSON line: the first
 * call, the samples and what the last patch held.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { createTwoFilesPatch } from 'diff';
import { createSpool, DiffCache } from '../src/index.js';
import { blobId } from '../src/internal/content.js';
import { diffCases } from './diffCases.js';
import { time } from './util.js';

const RUNS = Number(process.env.DIFF_BENCH_RUNS ?? 9);
const WARMUP_CALLS = 5;
const WARMUP_MS = 1000;
const run = promisify(execFile);
const [contender, caseIndex, dir] = process.argv.slice(2) as [string, string, string];
const c = diffCases()[Number(caseIndex)];
if (!c || !dir) throw new Error('usage: diffContender.ts <ordo|jsdiff|git> <case index> <dir>');
const { before, after } = c;

let patch = '';
const contenders: Record<string, () => Promise<void> | void> = {
  // What a user does: a spool over the tree, the edit staged, its diff (no memo).
  async ordo() {
    await using spool = createSpool({ root: dir, diffCache: false });
    await spool.write('a.txt', after);
    patch = await spool.diff();
  },
  jsdiff() {
    patch = createTwoFilesPatch('a/a.txt', 'b/a.txt', before, after);
  },
  // git's own binary as a process, wall time including its start.
  async git() {
    try {
      await run('git', ['diff', '--no-index', '--no-color', 'a.txt', 'b.txt'], {
        cwd: dir,
        env: { ...process.env, GIT_CONFIG_NOSYSTEM: '1', GIT_CONFIG_GLOBAL: '/dev/null', HOME: dir },
        maxBuffer: 1 << 28,
      });
    } catch (error) {
      if ((error as { code?: number }).code !== 1) throw error;
      patch = (error as { stdout: string }).stdout;
    }
  },
};
const call = contenders[contender];
if (!call) throw new Error(`unknown contender ${contender}`);

// The first call in a fresh process (cold code, as a one-shot host pays it), then the warm-up.
const firstCallMs = await time(call);
const warmStart = performance.now();
for (let k = 1; k < WARMUP_CALLS || performance.now() - warmStart < WARMUP_MS; k++) await call();
const samples: number[] = [];
for (let k = 0; k < RUNS; k++) samples.push(await time(call));

const count = (re: RegExp) => (patch.match(re) ?? []).length;
const report: Record<string, unknown> = {
  contender,
  firstCallMs,
  samples,
  hunks: count(/^@@/gm),
  changedLines: count(/^[-+](?![-+]{2} )/gm),
};
if (contender === 'ordo') {
  // The memo: a first diff() with a DiffCache, then the same diff() again.
  const first: number[] = [];
  const again: number[] = [];
  const hashes: number[] = [];
  const beforeBytes = Buffer.from(before);
  const afterBytes = Buffer.from(after);
  for (let k = 0; k < RUNS; k++) {
    await using cached = createSpool({ root: dir, diffCache: new DiffCache() });
    await cached.write('a.txt', after);
    first.push(await time(() => cached.diff()));
    again.push(await time(() => cached.diff()));
    // The floor under any git-identical diff: the blob ids of both sides its `index` line carries.
    hashes.push(await time(() => blobId(beforeBytes) + blobId(afterBytes)));
  }
  Object.assign(report, { firstDiffMs: first, repeatDiffMs: again, blobIdsMs: hashes });
}
process.stdout.write(`${JSON.stringify(report)}\n`);
