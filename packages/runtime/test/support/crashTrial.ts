import { createHash, randomUUID } from 'node:crypto';
import { mkdir, readdir, readFile, readlink, rm, writeFile } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { tempDir } from '../../../../vitest.tempDirs.js';
import { startOrdo } from './ordoProcess.js';

/*
 * Kill-and-resume trials of the real `ordo` CLI: a plan of shell tasks in a temp workspace, `ordo run`
 * SIGKILLed (by a test-only kill point or at a random moment), `ordo run --resume` until it exits 0, and
 * the end state compared with an uninterrupted run of the same plan on a copy of the same workspace.
 * Used by test/crashResume.test.ts (bounded, in CI) and scripts/soak.ts (long, by hand).
 */

interface ShellTask {
  id: string;
  deps?: string[];
  files: string[];
  run: { shell: string };
}

/** A plan of shell tasks over `out/`, as JSON text. */
export interface CrashPlan {
  text: string;
  tasks: number;
  /** Files the workspace starts with. */
  seed: Record<string, string>;
}

/**
 * A plan of `width`-wide levels (`levels` of them): each task writes its own file from what its
 * dependencies wrote, some tasks write two files, one in the second level overwrites a first-level file
 * and one deletes a seed file, so a lost, doubled or rolled-back commit changes the final bytes.
 */
export function crashPlan(shape: { levels: number; widths: readonly number[]; feature?: string }): CrashPlan {
  const tasks: ShellTask[] = [];
  const byLevel: string[][] = [];
  for (let level = 0; level < shape.levels; level++) {
    const width = shape.widths[level] ?? 1;
    const ids: string[] = [];
    for (let i = 1; i <= width; i++) {
      const id = `l${level}t${i}`;
      const out = `out/${id}.txt`;
      const prev = byLevel[level - 1] ?? [];
      // Each task reads two tasks of the level before (wrapping round), so every level depends on the last.
      const deps =
        prev.length === 0 ? [] : [...new Set([prev[(i - 1) % prev.length], prev[i % prev.length]])];
      const inputs = deps.map((d) => `out/${d}.txt`) as string[];
      const files = [out];
      let shell = inputs.length
        ? `{ echo ${id}; cat ${inputs.join(' ')} | sha256sum; } > ${out}`
        : `echo ${id} > ${out}`;
      if (i === 2) {
        files.push(`out/${id}.extra`);
        shell += ` && seq 1 ${200 + level * 50} > out/${id}.extra`;
      }
      if (level === 1 && i === 1) {
        const first = `out/${byLevel[0]?.[0]}.txt`;
        files.push(first);
        shell += ` && echo overwritten-by-${id} >> ${first}`;
      }
      if (level === 2 && i === 1) {
        // A directory the commit creates: a rolled-back commit must not leave it behind half made.
        files.push(`out/deep/${id}/r.txt`);
        shell += ` && mkdir -p out/deep/${id} && echo deep > out/deep/${id}/r.txt`;
      }
      if (level === 1 && i === 3) {
        files.push('seed/gone.txt');
        shell += ' && rm seed/gone.txt';
      }
      tasks.push({ id, ...(deps.length ? { deps: deps as string[] } : {}), files, run: { shell } });
      ids.push(id);
    }
    byLevel.push(ids);
  }
  return {
    text: JSON.stringify({ feature: shape.feature ?? 'crashy', seed: 7, tasks }, null, 2),
    tasks: tasks.length,
    seed: { 'seed/gone.txt': 'to be deleted\n', 'seed/kept.txt': 'kept\n' },
  };
}

/** The plan: 15 tasks in 4 levels. */
export const FIFTEEN_TASKS = crashPlan({ levels: 4, widths: [5, 4, 4, 2] });

/**
 * A small plan for the per-step trials: 6 tasks in 3 levels, 10 file commits (3 tasks write two files,
 * one overwrites a first-level file, one deletes a seed file).
 */
export const SIX_TASKS = crashPlan({ levels: 3, widths: [2, 3, 1] });

/**
 * sha256 over every entry under `dir` but the state dir `.ordo` (path, kind, mode, content), in path
 * order: equal exactly when the two trees hold the same bytes. `.ordo-spool` and temp files count.
 */
export async function treeHash(dir: string): Promise<string> {
  const hash = createHash('sha256');
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  const rows: string[] = [];
  for (const entry of entries) {
    const abs = join(entry.parentPath, entry.name);
    const rel = relative(dir, abs).split(sep).join('/');
    if (rel === '.ordo' || rel.startsWith('.ordo/') || rel === 'plan.json') continue;
    if (entry.isDirectory()) rows.push(`d ${rel}`);
    else if (entry.isSymbolicLink()) rows.push(`l ${rel} ${await readlink(abs)}`);
    else
      rows.push(
        `f ${rel} ${createHash('sha256')
          .update(await readFile(abs))
          .digest('hex')}`,
      );
  }
  for (const row of rows.sort()) hash.update(`${row}\n`);
  return hash.digest('hex');
}

/** The pids of live processes whose environment holds `ORDO_TEST_TRIAL=<marker>` (this user's, via /proc). */
export async function processesOf(marker: string): Promise<number[]> {
  const needle = `ORDO_TEST_TRIAL=${marker}\0`;
  const pids: number[] = [];
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const env = await readFile(`/proc/${name}/environ`, 'latin1').catch(() => '');
    if (!env.includes(needle)) continue;
    // A zombie (exited, not reaped yet) is not running.
    const stat = await readFile(`/proc/${name}/stat`, 'latin1').catch(() => '');
    if (/^\d+ \(.*\) [ZX] /s.test(stat)) continue;
    pids.push(Number(name));
  }
  return pids;
}

/** Polls until no process of `marker` is left; resolves with the ones still alive after `ms`. */
export async function waitForNoProcesses(marker: string, ms = 15_000): Promise<number[]> {
  const until = Date.now() + ms;
  for (;;) {
    const left = await processesOf(marker);
    if (left.length === 0 || Date.now() > until) return left;
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** A workspace holding the plan and its seed files; removed on dispose. */
export async function planWorkspace(plan: CrashPlan) {
  const dir = await tempDir('ordo-crash-');
  await mkdir(join(dir, 'out'), { recursive: true });
  for (const [rel, content] of Object.entries(plan.seed)) {
    await mkdir(join(dir, rel, '..'), { recursive: true });
    await writeFile(join(dir, rel), content);
  }
  await writeFile(join(dir, 'plan.json'), plan.text);
  return {
    dir,
    async [Symbol.asyncDispose]() {
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** How one `ordo run` ended. */
export interface RunEnd {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** The trace digest of the `--json` result, when it printed one. */
  traceDigest: string | undefined;
  status: string | undefined;
  /** With `watchProcesses`: the most processes of the trial seen alive at once during the run. */
  peakProcesses: number;
}

/** Options of one `ordo run` in a trial. */
export interface RunOptions {
  workers: number;
  resume?: boolean;
  marker: string;
  /** `ORDO_TEST_KILL_AT`, test-only. */
  killAt?: string | undefined;
  /** SIGKILL the process this many ms after it started. */
  killAfterMs?: number | undefined;
  /** Count the run's processes (itself, workers, their shells) while it runs: `RunEnd.peakProcesses`. */
  watchProcesses?: boolean | undefined;
}

/** Runs `ordo run plan.json --json` in `dir` (the real CLI through tsx) and waits for it to end. */
export async function runOrdo(dir: string, options: RunOptions): Promise<RunEnd> {
  const argv = ['run', 'plan.json', '--json', '--workers', String(options.workers)];
  if (options.resume) argv.push('--resume');
  const env: Record<string, string> = { ORDO_TEST_TRIAL: options.marker };
  if (options.killAt !== undefined) env.ORDO_TEST_KILL_AT = options.killAt;
  const ordo = startOrdo(argv, dir, env);
  const timer =
    options.killAfterMs === undefined
      ? undefined
      : setTimeout(() => ordo.child.kill('SIGKILL'), options.killAfterMs);
  let peakProcesses = 0;
  let watching = options.watchProcesses === true;
  const watch = (async () => {
    while (watching) {
      peakProcesses = Math.max(peakProcesses, (await processesOf(options.marker)).length);
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  const { code, signal } = await ordo.exited;
  watching = false;
  await watch;
  if (timer) clearTimeout(timer);
  let result: { traceDigest?: string; status?: string } = {};
  try {
    result = JSON.parse(ordo.stdout());
  } catch {
    // killed before it printed, or failed
  }
  return {
    code,
    signal,
    stdout: ordo.stdout(),
    stderr: ordo.stderr(),
    traceDigest: result.traceDigest,
    status: result.status,
    peakProcesses,
  };
}

/** The end state of a workspace after a run: what a trial compares. */
export interface EndState {
  tree: string;
  traceDigest: string | undefined;
  spoolLeft: boolean;
  processesLeft: number[];
}

/** Reads the end state of `dir` once the processes of `marker` are gone. */
export async function endState(
  dir: string,
  marker: string,
  traceDigest: string | undefined,
): Promise<EndState> {
  const processesLeft = await waitForNoProcesses(marker);
  const names = await readdir(dir);
  return { tree: await treeHash(dir), traceDigest, spoolLeft: names.includes('.ordo-spool'), processesLeft };
}

/** A fresh trial marker. */
export const newMarker = () => randomUUID();

/**
 * One trial: `ordo run` killed by `first` (a kill point or a delay), then `--resume` (each resume killed
 * by the next of `then`, if any) until one exits 0. Returns the end state and every run's end.
 */
export async function killAndResume(
  dir: string,
  workers: number,
  first: Pick<RunOptions, 'killAt' | 'killAfterMs'>,
  then: ReadonlyArray<Pick<RunOptions, 'killAt' | 'killAfterMs'>> = [],
  maxResumes = 10,
): Promise<{ state: EndState; runs: RunEnd[] }> {
  const marker = newMarker();
  const runs: RunEnd[] = [await runOrdo(dir, { workers, marker, ...first })];
  for (let i = 0; i < maxResumes; i++) {
    // The killed host's workers must go on their own (nobody signals them): wait before resuming.
    const left = await waitForNoProcesses(marker);
    if (left.length > 0) {
      return { state: { tree: '', traceDigest: undefined, spoolLeft: false, processesLeft: left }, runs };
    }
    const end = await runOrdo(dir, { workers, marker, resume: true, ...(then[i] ?? {}) });
    runs.push(end);
    if (end.code === 0) return { state: await endState(dir, marker, end.traceDigest), runs };
    if (end.signal !== 'SIGKILL') break; // failed on its own: report it
  }
  return { state: await endState(dir, marker, undefined), runs };
}

/** An uninterrupted run of `plan` on a fresh workspace: the reference end state. */
export async function referenceRun(plan: CrashPlan, workers: number): Promise<EndState & { ms: number }> {
  await using ws = await planWorkspace(plan);
  const marker = newMarker();
  const t0 = Date.now();
  const end = await runOrdo(ws.dir, { workers, marker });
  const ms = Date.now() - t0;
  if (end.code !== 0)
    throw new Error(`the reference run failed (${end.code}):\n${end.stdout}\n${end.stderr}`);
  return { ...(await endState(ws.dir, marker, end.traceDigest)), ms };
}
