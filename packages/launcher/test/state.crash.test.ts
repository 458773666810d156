import { type ChildProcess, spawn } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'tsup';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from '../../../vitest.tempDirs.js';
import { type LauncherState, readStateFile } from '../src/index.js';

const CHILDREN = 50;
/** The writer prints `ready` once this many tasks are on disk (as in fixtures/stateWriter.ts). */
const READY_AT = 100;
const PARALLEL = 10;
const packageDir = fileURLToPath(new URL('..', import.meta.url));
/** The writer, bundled once to plain JS inside the package (so its dependencies resolve): a child then
 * starts in a fraction of the time a TypeScript loader takes, which keeps 50 children fast on 2 cores. */
const bundleDir = join(packageDir, 'node_modules', '.cache', `ordo-crash-test-${process.pid}`);
const writer = join(bundleDir, 'stateWriter.js');

let dir: string;
beforeAll(async () => {
  dir = await tempDir('ordo-crash-');
  await build({
    entry: { stateWriter: fileURLToPath(new URL('./fixtures/stateWriter.ts', import.meta.url)) },
    outDir: bundleDir,
    format: ['esm'],
    platform: 'node',
    target: 'node20',
    config: false,
    silent: true,
    dts: false,
    noExternal: ['@ordo/contracts'],
    esbuildOptions(options) {
      options.conditions = ['@ordo/source'];
    },
  });
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
  await rm(bundleDir, { recursive: true, force: true });
});

/** Starts a writer, waits until its first state is on disk, lets it write a while, then SIGKILLs it. */
async function writeAndKill(file: string, killAfterMs: number): Promise<void> {
  const child: ChildProcess = spawn(process.execPath, [writer, file], {
    cwd: packageDir,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const exited = new Promise<NodeJS.Signals | null>((resolve) =>
    child.on('exit', (_code, signal) => resolve(signal)),
  );
  await new Promise<void>((resolve, reject) => {
    child.stdout?.on('data', (chunk: Buffer) => {
      if (chunk.toString().includes('ready')) resolve();
    });
    child.on('exit', (code) =>
      reject(new Error(`the writer exited (${code}) before it was ready: ${stderr}`)),
    );
  });
  // Real time only decides where in the stream the kill lands; nothing is asserted about it.
  await new Promise((resolve) => setTimeout(resolve, killAfterMs));
  child.kill('SIGKILL');
  expect(await exited).toBe('SIGKILL');
}

/** The state must hold tasks t0 … t(k-1) for some k >= 1, and nothing else: a prefix of the writes. */
function expectPrefix(state: LauncherState | undefined): number {
  expect(state).toBeDefined();
  const ids = (state as LauncherState).tasks.map((t) => t.taskId);
  expect(ids.length).toBeGreaterThanOrEqual(1);
  expect(ids).toEqual(ids.map((_, i) => `t${i}`));
  expect((state as LauncherState).revision).toBe(ids.length + 1); // the level, then one change per task
  return ids.length;
}

describe('StateStore crash safety', () => {
  it(`keeps a loadable prefix of the writes when ${CHILDREN} writers are killed with SIGKILL`, async () => {
    const files = Array.from({ length: CHILDREN }, (_, i) => join(dir, `run-${i}`, 'state.json'));
    for (let start = 0; start < CHILDREN; start += PARALLEL) {
      const batch = files.slice(start, start + PARALLEL);
      await Promise.all(batch.map((file) => writeAndKill(file, Math.floor(Math.random() * 120))));
    }
    const lengths: number[] = [];
    for (const file of files) {
      // The file itself must be valid: no recovery from the backup allowed.
      const main = await readStateFile(file, { recover: false });
      expect(main.source).toBe('file');
      const length = expectPrefix(main.state);
      lengths.push(length);
      // The backup is an earlier prefix (or the same one).
      const backup = await readStateFile(`${file}.bak`, { recover: false });
      if (backup.state) expect(expectPrefix(backup.state)).toBeLessThanOrEqual(length);
    }
    // Each writer had flushed READY_AT tasks before it said ready, so each kill landed mid-stream.
    expect(Math.min(...lengths)).toBeGreaterThanOrEqual(READY_AT);
  }, 120_000);
});
