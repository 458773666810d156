/**
 * File spool benchmarks: ordo against jsdiff and mem-fs-editor in the same run. Writes
 * bench/results/spool.json. Run with `pnpm --filter @ordo/executor-spool bench`.
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { createTwoFilesPatch } from 'diff';
import { create as createMemFs } from 'mem-fs';
import { create as createEditor } from 'mem-fs-editor';
import writeFileAtomic from 'write-file-atomic';
import { createSpool, DiffCache, type SpoolCommitMode } from '../src/index.js';
import { median, round, time } from './util.js';

const here = path.dirname(fileURLToPath(import.meta.url));

const benchDir = process.env.SPOOL_BENCH_DIR ?? os.tmpdir();

async function tempDir(): Promise<string> {
  return mkdtemp(path.join(benchDir, 'ordo-spool-bench-'));
}

/** 100,000 lines, 10 edited lines spread over the file: spool.diff() vs createTwoFilesPatch. */
async function diffBench() {
  const LINES = 100_000;
  const RUNS = 9;
  const WARMUP = 2;
  const base = Array.from(
    { length: LINES },
    (_, i) => `  const value${i} = compute(${i}, 'item-${i % 997}');`,
  );
  const edited = [...base];
  for (let k = 0; k < 10; k++) edited[Math.floor(((k + 0.5) * LINES) / 10)] = `  // edited line ${k}`;
  const before = `${base.join('\n')}\n`;
  const after = `${edited.join('\n')}\n`;
  const dir = await tempDir();
  await writeFile(path.join(dir, 'big.ts'), before);

  const jsdiff: number[] = [];
  const ordo: number[] = [];
  const firstDiff: number[] = [];
  const secondDiff: number[] = [];
  let jsdiffPatch = '';
  let ordoPatch = '';
  for (let run = 0; run < WARMUP + RUNS; run++) {
    if (run === WARMUP) for (const list of [jsdiff, ordo, firstDiff, secondDiff]) list.length = 0;
    jsdiff.push(await time(() => (jsdiffPatch = createTwoFilesPatch('a/big.ts', 'b/big.ts', before, after))));
    await using spool = createSpool({ root: dir, diffCache: false });
    await spool.write('big.ts', after);
    ordo.push(await time(async () => (ordoPatch = await spool.diff())));
    await using cached = createSpool({ root: dir, diffCache: new DiffCache() });
    await cached.write('big.ts', after);
    firstDiff.push(await time(() => cached.diff()));
    secondDiff.push(await time(() => cached.diff()));
  }
  await rm(dir, { recursive: true, force: true });
  const hunks = (patch: string) => (patch.match(/^@@/gm) ?? []).length;
  const result = {
    lines: LINES,
    editedLines: 10,
    runs: RUNS,
    warmupRuns: WARMUP,
    jsdiffMs: round(median(jsdiff)),
    ordoMs: round(median(ordo)),
    speedup: round(median(jsdiff) / median(ordo)),
    target: '>= 5x',
    hunks: { ordo: hunks(ordoPatch), jsdiff: hunks(jsdiffPatch) },
    firstDiffMs: round(median(firstDiff)),
    secondDiffMs: round(median(secondDiff), 4),
    memoSpeedup: round(median(firstDiff) / median(secondDiff), 0),
    memoTarget: '>= 100x',
  };
  console.log(
    `diff, ${LINES} lines with 10 scattered edits: ordo ${result.ordoMs} ms (reads the base from disk), jsdiff createTwoFilesPatch ${result.jsdiffMs} ms (texts in memory): ${result.speedup}x (target >= 5x); second diff() of the same state ${result.secondDiffMs} ms vs first ${result.firstDiffMs} ms: ${result.memoSpeedup}x (target >= 100x)`,
  );
  return result;
}

/**
 * 1,000 small files edited: spool.commit() (commitMode 'rename', the default, and 'in-place') vs
 * mem-fs-editor's commit of the same edits, fsync off for all three (mem-fs-editor 12 has no fsync); ordo
 * in both modes with fsync on against write-file-atomic with fsync on. The trees live under
 * `SPOOL_BENCH_DIR` (default: the OS temp directory), so another file system can be measured.
 */
async function commitBench() {
  const FILES = 1000;
  const RUNS = 5;
  const content = (i: number, v: string) =>
    `export const file${i} = '${v}';\n${'// filler line\n'.repeat(20)}`;
  const setup = async () => {
    const dir = await tempDir();
    for (let d = 0; d < 10; d++) await mkdir(path.join(dir, `d${d}`));
    await Promise.all(
      Array.from({ length: FILES }, (_, i) =>
        writeFile(path.join(dir, `d${i % 10}`, `f${i}.ts`), content(i, 'old')),
      ),
    );
    return dir;
  };
  const rel = (i: number) => `d${i % 10}/f${i}.ts`;
  const ordoOff: number[] = [];
  const ordoOn: number[] = [];
  const inPlaceOff: number[] = [];
  const inPlaceOn: number[] = [];
  const editor: number[] = [];
  const atomicOff: number[] = [];
  const atomicOn: number[] = [];
  const ordoStage: number[] = [];
  const editorStage: number[] = [];
  const writeAllAtomic = (dir: string, fsync: boolean) =>
    Promise.all(
      Array.from({ length: FILES }, (_, i) =>
        writeFileAtomic(path.join(dir, rel(i)), content(i, 'new'), { fsync }),
      ),
    );
  const ordo = async (fsync: boolean, commitMode: SpoolCommitMode = 'rename') => {
    const dir = await setup();
    await using spool = createSpool({ root: dir, fsync, commitMode });
    const stage = await time(() =>
      spool.batch(
        Array.from({ length: FILES }, (_, i) => ({
          op: 'write' as const,
          path: rel(i),
          data: content(i, 'new'),
        })),
      ),
    );
    const took = await time(() => spool.commit());
    if (commitMode === 'in-place') (fsync ? inPlaceOn : inPlaceOff).push(took);
    else (fsync ? ordoOn : ordoOff).push(took);
    if (!fsync && commitMode === 'rename') ordoStage.push(stage);
    await rm(dir, { recursive: true, force: true });
  };
  const atomic = async (fsync: boolean) => {
    const dir = await setup();
    (fsync ? atomicOn : atomicOff).push(await time(() => writeAllAtomic(dir, fsync)));
    await rm(dir, { recursive: true, force: true });
  };
  const memFsEditor = async () => {
    const dir = await setup();
    const fs = createEditor(createMemFs() as never);
    editorStage.push(
      await time(() => {
        for (let i = 0; i < FILES; i++) fs.write(path.join(dir, rel(i)), content(i, 'new'));
      }),
    );
    editor.push(await time(() => fs.commit()));
    await rm(dir, { recursive: true, force: true });
  };
  for (let run = 0; run < RUNS; run++) {
    // The three in the ratios run back to back, in rotating order, so drifting load falls on all of them.
    const trio = [() => ordo(false), () => ordo(false, 'in-place'), memFsEditor];
    for (let k = 0; k < trio.length; k++) await (trio[(run + k) % trio.length] as () => Promise<void>)();
    await atomic(false);
    const fsyncOn = [() => ordo(true), () => ordo(true, 'in-place'), () => atomic(true)];
    for (let k = 0; k < fsyncOn.length; k++)
      await (fsyncOn[(run + k) % fsyncOn.length] as () => Promise<void>)();
  }
  const result = {
    files: FILES,
    runs: RUNS,
    dir: benchDir,
    fsync:
      'off for all in the ratios to mem-fs-editor (mem-fs-editor 12 cannot fsync); ordo with fsync on is compared with write-file-atomic with fsync on',
    ordoCommitMs: round(median(ordoOff)),
    memFsEditorCommitMs: round(median(editor)),
    ratio: round(median(editor) / median(ordoOff)),
    target: '>= 1x (not slower)',
    inPlaceCommitMs: round(median(inPlaceOff)),
    inPlaceRatio: round(median(editor) / median(inPlaceOff)),
    ordoCommitFsyncOnMs: round(median(ordoOn)),
    inPlaceCommitFsyncOnMs: round(median(inPlaceOn)),
    writeFileAtomicMs: round(median(atomicOff)),
    writeFileAtomicFsyncOnMs: round(median(atomicOn)),
    ratioVsWriteFileAtomic: round(median(atomicOff) / median(ordoOff)),
    ratioVsWriteFileAtomicFsyncOn: round(median(atomicOn) / median(ordoOn)),
    inPlaceRatioVsWriteFileAtomicFsyncOn: round(median(atomicOn) / median(inPlaceOn)),
    ordoStageMs: round(median(ordoStage)),
    memFsEditorStageMs: round(median(editorStage)),
  };
  console.log(
    `commit of ${FILES} small files in ${benchDir}, fsync off for all: ordo 'rename' ${result.ordoCommitMs} ms (${result.ratio}x), ordo 'in-place' ${result.inPlaceCommitMs} ms (${result.inPlaceRatio}x), mem-fs-editor ${result.memFsEditorCommitMs} ms (target >= 1x)`,
  );
  console.log(
    `  fsync on: ordo 'rename' ${result.ordoCommitFsyncOnMs} ms (${result.ratioVsWriteFileAtomicFsyncOn}x), ordo 'in-place' ${result.inPlaceCommitFsyncOnMs} ms (${result.inPlaceRatioVsWriteFileAtomicFsyncOn}x), write-file-atomic ${result.writeFileAtomicFsyncOnMs} ms`,
  );
  console.log(
    `  same edits with write-file-atomic (Promise.all): fsync off for both ${result.writeFileAtomicMs} ms (ordo ${result.ratioVsWriteFileAtomic}x), fsync on for both ${result.writeFileAtomicFsyncOnMs} ms vs ordo ${result.ordoCommitFsyncOnMs} ms (ordo ${result.ratioVsWriteFileAtomicFsyncOn}x); staging: ordo ${result.ordoStageMs} ms, mem-fs-editor ${result.memFsEditorStageMs} ms`,
  );
  return result;
}

/** 200 MB file, one edited line: peak RSS growth of a fresh child process during stage + diff + commit. */
async function rssBench() {
  const { stdout } = await promisify(execFile)(
    process.execPath,
    [...process.execArgv, path.join(here, 'spoolRss.ts')],
    {
      maxBuffer: 1 << 20,
    },
  );
  const result = JSON.parse(stdout.trim().split('\n').at(-1) as string) as { peakRssGrowthMb: number };
  console.log(
    `200 MB file, one edited line, stage + diff + commit: peak RSS growth ${result.peakRssGrowthMb} MB (target < 64 MB)`,
    result,
  );
  return { ...result, target: '< 64 MB' };
}

/** `SPOOL_BENCH=diff,commit` runs only those parts (and writes no results file). */
const only = process.env.SPOOL_BENCH?.split(',');
const want = (name: string) => !only || only.includes(name);
const results = {
  date: new Date().toISOString(),
  machine: `${os.cpus().length} x ${os.cpus()[0]?.model ?? 'cpu'}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, ${process.platform} ${process.version}`,
  diff: want('diff') ? await diffBench() : undefined,
  commit: want('commit') ? await commitBench() : undefined,
  rss: want('rss') ? await rssBench() : undefined,
};
if (only) process.exit(0);
await mkdir(path.join(here, 'results'), { recursive: true });
await writeFile(path.join(here, 'results', 'spool.json'), `${JSON.stringify(results, null, 2)}\n`);
