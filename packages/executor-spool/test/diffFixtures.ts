import { execFile } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { tempDir } from '../../../vitest.tempDirs.js';
import { quotePath } from '../src/unifiedDiff.js';

const run = promisify(execFile);

/** One file change: its path, both sides (`null` = absent) and its mode. */
export interface FilePair {
  path: string;
  before: Buffer | null;
  after: Buffer | null;
  mode?: number | undefined;
}

/** An environment where git reads no user or system configuration. */
export const gitEnv = (home: string) => ({
  ...process.env,
  HOME: home,
  GIT_CONFIG_NOSYSTEM: '1',
  GIT_CONFIG_GLOBAL: '/dev/null',
  LC_ALL: 'C',
});

/** A temp directory, removed on dispose. */
export async function scratch() {
  const dir = await tempDir('ordo-diff-test-');
  return {
    dir,
    async [Symbol.asyncDispose]() {
      await rm(dir, { recursive: true, force: true });
    },
  };
}

async function put(file: string, bytes: Buffer, mode: number | undefined) {
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, bytes);
  if (mode !== undefined) await chmod(file, mode);
}

const readOrNull = (file: string) =>
  readFile(file).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return null;
    throw error;
  });

/**
 * Applies `patch` (the concatenated patches of `pairs`) with the real `git apply` or GNU `patch` in a tree
 * holding every `before`, and returns the paths whose result is not `after` byte for byte (and the tool's
 * output when it failed).
 */
export async function applyAll(
  dir: string,
  pairs: readonly FilePair[],
  patch: Buffer,
  tool: 'git' | 'patch',
): Promise<{ wrong: string[]; failure?: string }> {
  const tree = await mkdtemp(path.join(dir, `${tool}-`));
  for (const pair of pairs) if (pair.before) await put(path.join(tree, pair.path), pair.before, pair.mode);
  const patchFile = path.join(dir, `${path.basename(tree)}.patch`);
  await writeFile(patchFile, patch);
  try {
    if (tool === 'git') {
      await run('git', ['apply', '--whitespace=nowarn', patchFile], { cwd: tree, env: gitEnv(dir) });
    } else {
      await run('patch', ['-p1', '-s', '-f', '--no-backup-if-mismatch', '-i', patchFile], {
        cwd: tree,
        env: gitEnv(dir),
      });
    }
  } catch (error) {
    const { stdout, stderr } = error as { stdout?: string; stderr?: string };
    return { wrong: pairs.map((p) => p.path), failure: `${tool} failed: ${stderr ?? ''}${stdout ?? ''}` };
  }
  const wrong: string[] = [];
  for (const pair of pairs) {
    const got = await readOrNull(path.join(tree, pair.path));
    const same = got === null || pair.after === null ? got === pair.after : got.equals(pair.after);
    if (!same) wrong.push(pair.path);
  }
  return { wrong };
}

/**
 * `git diff --no-index` of every pair, in one process (both sides written under `left/` and `right/`),
 * split per file and keyed by path, with the `left/` and `right/` prefixes taken out.
 */
export async function gitDiffs(dir: string, pairs: readonly FilePair[]): Promise<Map<string, Buffer>> {
  const base = await mkdtemp(path.join(dir, 'nodiff-'));
  for (const side of ['left', 'right']) await mkdir(path.join(base, side));
  for (const pair of pairs) {
    if (pair.before) await put(path.join(base, 'left', pair.path), pair.before, pair.mode);
    if (pair.after) await put(path.join(base, 'right', pair.path), pair.after, pair.mode);
  }
  let out: Buffer;
  try {
    await run('git', ['diff', '--no-index', '--no-renames', '--no-color', '--no-ext-diff', 'left', 'right'], {
      cwd: base,
      env: gitEnv(dir),
      encoding: 'buffer',
      maxBuffer: 1 << 30,
    });
    out = Buffer.alloc(0);
  } catch (error) {
    const { code, stdout } = error as { code?: number; stdout?: Buffer };
    if (code !== 1 || !stdout) throw error;
    out = stdout;
  }
  const text = out
    .toString('latin1')
    .replace(/^(?:diff --git |--- |\+\+\+ |Binary files ).*$/gm, (line) =>
      line.replace(/("?[ab]\/)(?:left|right)\//g, '$1'),
    );
  const byPath = new Map<string, Buffer>();
  const starts = [...text.matchAll(/^diff --git /gm)].map((m) => m.index as number);
  const names = new Map(pairs.map((p) => [headerOf(p.path), p.path]));
  for (const [k, start] of starts.entries()) {
    const chunk = text.slice(start, starts[k + 1] ?? text.length);
    const first = chunk.slice(0, chunk.indexOf('\n'));
    const name = names.get(first);
    if (name !== undefined) byPath.set(name, Buffer.from(chunk, 'latin1'));
  }
  return byPath;
}

/**
 * The first line git prints for a path. It uses the package's own quoting: a wrong quote would leave git's
 * chunk for that path unfound, and the comparison fails on the missing file.
 */
function headerOf(p: string): string {
  return `diff --git ${quotePath(`a/${p}`)} ${quotePath(`b/${p}`)}`;
}

/** A hunk header's numbers. */
export interface HunkHeader {
  oldStart: number;
  oldCount: number;
  newStart: number;
  newCount: number;
}

/**
 * Checks the hunk arithmetic of one file's patch: each header's counts match its lines, no count is
 * negative, hunks are in order and do not overlap, and the new start follows from the old start and the
 * lines added and removed before it. Returns what is wrong, or `[]`.
 */
export function hunkProblems(patch: Buffer): string[] {
  const lines = patch.toString('latin1').split('\n');
  const problems: string[] = [];
  let header: HunkHeader | undefined;
  let seenOld = 0;
  let seenNew = 0;
  let lastOldEnd = 0;
  let delta = 0;
  const close = () => {
    if (!header) return;
    if (seenOld !== header.oldCount || seenNew !== header.newCount)
      problems.push(
        `hunk -${header.oldStart},${header.oldCount} has ${seenOld} old and ${seenNew} new lines`,
      );
    delta += header.newCount - header.oldCount;
  };
  for (const line of lines) {
    const m = /^@@ -(\d+)(?:,(-?\d+))? \+(\d+)(?:,(-?\d+))? @@/.exec(line);
    if (m) {
      close();
      header = {
        oldStart: Number(m[1]),
        oldCount: m[2] === undefined ? 1 : Number(m[2]),
        newStart: Number(m[3]),
        newCount: m[4] === undefined ? 1 : Number(m[4]),
      };
      if (header.oldCount < 0 || header.newCount < 0) problems.push(`negative count in ${line}`);
      const oldFirst = header.oldCount === 0 ? header.oldStart + 1 : header.oldStart;
      const newFirst = header.newCount === 0 ? header.newStart + 1 : header.newStart;
      if (oldFirst <= lastOldEnd && lastOldEnd > 0) problems.push(`hunk ${line} overlaps the one before`);
      if (newFirst - oldFirst !== delta)
        problems.push(`hunk ${line} starts off by ${newFirst - oldFirst - delta}`);
      lastOldEnd = oldFirst + header.oldCount - 1;
      seenOld = 0;
      seenNew = 0;
      continue;
    }
    if (!header) continue;
    if (line.startsWith(' ')) {
      seenOld++;
      seenNew++;
    } else if (line.startsWith('-')) seenOld++;
    else if (line.startsWith('+')) seenNew++;
  }
  close();
  return problems;
}
