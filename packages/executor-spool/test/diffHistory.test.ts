import { execFile, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { unifiedDiffBytes } from '../src/index.js';
import { applyAll, type FilePair, gitDiffs, gitEnv, hunkProblems, scratch } from './diffFixtures.js';

const run = promisify(execFile);
const here = fileURLToPath(new URL('.', import.meta.url));
/** At most this many version pairs (the newest first), to keep the test bounded as history grows. */
const MAX_PAIRS = 3000;
/** Pairs whose sides together exceed this are left out (lockfiles of a long history would dominate). */
const MAX_PAIR_BYTES = 4 * 1024 * 1024;

async function repository(): Promise<{ root: string } | { skip: string }> {
  try {
    const env = gitEnv(here);
    const { stdout: root } = await run('git', ['rev-parse', '--show-toplevel'], { cwd: here, env });
    const { stdout: shallow } = await run('git', ['rev-parse', '--is-shallow-repository'], {
      cwd: here,
      env,
    });
    if (shallow.trim() === 'true')
      return { skip: 'the clone is shallow: fetch its history (git fetch --unshallow) to run this test' };
    return { root: root.trim() };
  } catch (error) {
    return { skip: `not in a git clone (${String(error).split('\n')[0]})` };
  }
}

interface Change {
  path: string;
  oldBlob: string;
  newBlob: string;
  mode: number;
}

/** Every change of a file between a commit and its first parent, newest first: (path, old blob, new blob). */
async function changes(root: string): Promise<Change[]> {
  const { stdout } = await run(
    'git',
    ['log', '--format=@%H', '--raw', '--no-abbrev', '--no-renames', '--first-parent', '-z'],
    { cwd: root, env: gitEnv(root), maxBuffer: 1 << 28 },
  );
  const out: Change[] = [];
  const seen = new Set<string>();
  const fields = stdout.split('\0');
  for (let k = 0; k < fields.length; k++) {
    const field = (fields[k] as string).replace(/^\n?@[0-9a-f]+\n?/, '');
    const m = /^:(\d{6}) (\d{6}) ([0-9a-f]{40}) ([0-9a-f]{40}) ([AMD])/.exec(field);
    if (!m) continue;
    const p = fields[++k] as string;
    const [, oldMode, newMode, oldBlob, newBlob] = m as unknown as [string, string, string, string, string];
    // Regular files only (no symlinks or submodules), the same mode on both sides.
    const mode = m[5] === 'D' ? oldMode : newMode;
    if (!mode.startsWith('100') || (m[5] === 'M' && oldMode !== newMode)) continue;
    const key = `${p}\0${oldBlob}\0${newBlob}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push({ path: p, oldBlob, newBlob, mode: Number.parseInt(mode.slice(3), 8) });
  }
  return out;
}

/** The bytes of each blob, through one `git cat-file --batch`. */
async function blobs(root: string, ids: readonly string[]): Promise<Map<string, Buffer>> {
  const child = spawn('git', ['cat-file', '--batch'], { cwd: root, env: gitEnv(root) });
  const chunks: Buffer[] = [];
  child.stdout.on('data', (c: Buffer) => chunks.push(c));
  const done = new Promise<void>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`git cat-file exited ${code}`))));
  });
  child.stdin.end(`${ids.join('\n')}\n`);
  await done;
  const all = Buffer.concat(chunks);
  const out = new Map<string, Buffer>();
  let at = 0;
  while (at < all.length) {
    const nl = all.indexOf(10, at);
    const [id, , size] = all.toString('latin1', at, nl).split(' ');
    const n = Number(size);
    out.set(id as string, all.subarray(nl + 1, nl + 1 + n));
    at = nl + 1 + n + 1;
  }
  return out;
}

const ZERO = '0'.repeat(40);

describe("this repository's own history", async () => {
  const repo = await repository();
  it.skipIf('skip' in repo)(
    `every consecutive version pair of every file applies with git apply${'skip' in repo ? ` (skipped: ${repo.skip})` : ''}`,
    { timeout: 120_000 },
    async () => {
      if (!('root' in repo)) return;
      const list = (await changes(repo.root)).slice(0, MAX_PAIRS);
      const ids = [...new Set(list.flatMap((c) => [c.oldBlob, c.newBlob]).filter((id) => id !== ZERO))];
      const bytes = await blobs(repo.root, ids);
      const pairs: FilePair[] = [];
      for (const [k, c] of list.entries()) {
        const before = c.oldBlob === ZERO ? null : (bytes.get(c.oldBlob) as Buffer);
        const after = c.newBlob === ZERO ? null : (bytes.get(c.newBlob) as Buffer);
        if ((before?.length ?? 0) + (after?.length ?? 0) > MAX_PAIR_BYTES) continue;
        // One directory per pair, so that versions of one file do not meet in the tree.
        pairs.push({ path: `v${k}/${c.path}`, before, after, mode: c.mode });
      }
      const patches = await Promise.all(
        pairs.map((p) => unifiedDiffBytes(p.path, p.before, p.after, { mode: p.mode })),
      );
      const isBinary = (b: Buffer | null) => b?.subarray(0, 8000).includes(0) === true;
      const text = pairs
        .map((p, k) => ({ p, patch: patches[k] as Buffer }))
        .filter(({ p }) => !isBinary(p.before) && !isBinary(p.after));
      await using tmp = await scratch();
      for (const { p, patch } of text) expect(hunkProblems(patch), p.path).toEqual([]);
      const applied = await applyAll(
        tmp.dir,
        text.map((t) => t.p),
        Buffer.concat(text.map((t) => t.patch)),
        'git',
      );
      expect(applied.failure).toBeUndefined();
      expect(applied.wrong).toEqual([]);

      const reference = await gitDiffs(tmp.dir, pairs);
      const differing = pairs.filter((p, k) => !reference.get(p.path)?.equals(patches[k] as Buffer));
      if (process.env.ORDO_DIFF_DUMP) {
        const { writeFile } = await import('node:fs/promises');
        for (const p of differing.slice(0, 5)) {
          const k = pairs.indexOf(p);
          const name = p.path.replace(/\//g, '_');
          await writeFile(`${process.env.ORDO_DIFF_DUMP}/${name}.ours`, patches[k] as Buffer);
          await writeFile(`${process.env.ORDO_DIFF_DUMP}/${name}.git`, reference.get(p.path) ?? '');
        }
      }
      const share = (pairs.length - differing.length) / pairs.length;
      // Reported, not asserted beyond a floor: git's own output is the reference for the README's figure.
      process.stdout.write(
        `history: ${pairs.length} version pairs (${text.length} text) applied with git apply; ` +
          `${pairs.length - differing.length} (${(share * 100).toFixed(2)} %) byte-identical to git diff --no-index` +
          `${
            differing.length
              ? `; differing: ${differing
                  .slice(0, 10)
                  .map((p) => p.path)
                  .join(', ')}`
              : ''
          }\n`,
      );
      expect(share).toBeGreaterThanOrEqual(0.99);
    },
  );
});
