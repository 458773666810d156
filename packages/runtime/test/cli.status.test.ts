import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ManualClock } from '@ordo/contracts/testing';
import { StateStore } from '@ordo/launcher';
import { describe, expect, it } from 'vitest';
import { main } from '../src/cli/main.js';
import { memoryIo, STACK_LINE, tempDir } from './support/memoryIo.js';

const START = Date.parse('2026-03-01T10:00:00Z');

/** A feature of 4 tasks in 2 levels, stopped while level 1 runs: a, b committed; c running; d pending. */
async function writeState(file: string): Promise<void> {
  const clock = new ManualClock(START);
  await using store = await StateStore.open({ file, clock, feature: 'checkout', writeDelayMs: 0 });
  store.recordFeatureStarted('checkout');
  store.recordTaskCreated('c', 1);
  store.recordTaskCreated('d', 1);
  store.recordLevelStarted(0, ['a', 'b']);
  store.recordWorkerStarted('w1');
  clock.advance(200);
  store.recordWorkerReady('w1');
  for (const id of ['a', 'b']) {
    store.recordTaskClaimed(id, 'w1');
    store.recordTaskStarted(id);
    clock.advance(1500);
    store.recordTaskCompleted(id);
  }
  await store.recordLevelCompleted(0);
  store.recordLevelStarted(1, ['c', 'd']);
  store.recordTaskClaimed('c', 'w1');
  store.recordTaskStarted('c');
  clock.advance(3000);
  await store.flush();
}

async function status(
  argv: string[],
  cwd: string,
  overrides: { isTTY?: boolean; env?: Record<string, string> } = {},
) {
  const io = memoryIo({ cwd, clock: new ManualClock(START + 10_000), ...overrides });
  const code = await main(['status', ...argv], io.io);
  return { code, stdout: io.stdout(), stderr: io.stderr() };
}

describe('ordo status', () => {
  it('renders the state file of the workspace: progress, levels, workers, totals', async () => {
    await using dir = await tempDir();
    await writeState(join(dir.path, '.ordo', 'state.json'));
    const { code, stdout, stderr } = await status([], dir.path);
    expect(code).toBe(0);
    expect(stderr).toBe('');
    expect(stdout).toContain('Feature: checkout');
    expect(stdout).toContain('50% (2/4 tasks)');
    expect(stdout).toContain('Level 0  ✓ DONE 3.2s (2 tasks, avg=1.5s, p95=1.5s)');
    // Open durations are measured to the injected clock's now, 10 s after the start.
    expect(stdout).toContain('Level 1  RUNNING 6.8s (0/2 tasks)');
    expect(stdout).toMatch(/│ w1 +│ 200ms +│ 2 +│ 1\.5s +│ 10s +│/);
    expect(stdout).toContain(
      'Total: 2/4 tasks done, 0 failed, 1 running, 1 pending · 1 worker used · 1/2 levels · 10s elapsed',
    );
    expect(stdout).not.toContain('\u001b[');
  });

  it('reads --workspace and --state relative to the working directory', async () => {
    await using dir = await tempDir();
    await writeState(join(dir.path, 'repo', 'elsewhere', 'state.json'));
    const byState = await status(['--state', 'repo/elsewhere'], dir.path);
    expect(byState.code).toBe(0);
    expect(byState.stdout).toContain('Feature: checkout');

    await writeState(join(dir.path, 'repo', '.ordo', 'state.json'));
    const byWorkspace = await status(['--workspace', 'repo'], dir.path);
    expect(byWorkspace.code).toBe(0);
    expect(byWorkspace.stdout).toContain('(2/4 tasks)');
  });

  it('prints the feature metrics as JSON with --json', async () => {
    await using dir = await tempDir();
    await writeState(join(dir.path, '.ordo', 'state.json'));
    const { code, stdout } = await status(['--json'], dir.path);
    expect(code).toBe(0);
    const metrics = JSON.parse(stdout);
    expect(metrics).toMatchObject({
      feature: 'checkout',
      totalTasks: 4,
      completedTasks: 2,
      runningTasks: 1,
      pendingTasks: 1,
      levelsCompleted: 1,
      totalLevels: 2,
      avgTaskMs: 1500,
    });
    expect(metrics.generatedAt).toBe(new Date(START + 10_000).toISOString());
  });

  it.skipIf((process.env.NO_COLOR ?? '') !== '')(
    'colors on a terminal, and not when NO_COLOR is set',
    async () => {
      await using dir = await tempDir();
      await writeState(join(dir.path, '.ordo', 'state.json'));
      expect((await status([], dir.path, { isTTY: true })).stdout).toContain('\u001b[');
      expect((await status([], dir.path, { isTTY: true, env: { NO_COLOR: '1' } })).stdout).not.toContain(
        '\u001b[',
      );
    },
  );

  it('exits 1 with CLI_NO_STATE and a hint when nothing has run', async () => {
    await using dir = await tempDir();
    const { code, stdout, stderr } = await status([], dir.path);
    expect(code).toBe(1);
    expect(stdout).toBe('');
    expect(stderr).toBe(
      `error CLI_NO_STATE: No feature has run here yet: there is no state file at ${join(dir.path, '.ordo', 'state.json')}.\n` +
        'hint: run `ordo run <plan>` first, or point --state (or --workspace) at the directory a run used\n',
    );
  });

  it('shows the backup with a warning when the state file is corrupt', async () => {
    await using dir = await tempDir();
    const file = join(dir.path, '.ordo', 'state.json');
    await writeState(file);
    await writeState(file); // the second open keeps the first file as the backup
    await writeFile(file, '{"version": 1, "feat');
    const { code, stdout, stderr } = await status([], dir.path);
    expect(code).toBe(0);
    expect(stderr).toMatch(/^warning STATE_CORRUPT: .* Showing the backup\.\n$/);
    expect(stdout).toContain('Feature: checkout');
  });

  it('exits 1 with STATE_CORRUPT when the file is corrupt and there is no backup', async () => {
    await using dir = await tempDir();
    await mkdir(join(dir.path, '.ordo'));
    await writeFile(join(dir.path, '.ordo', 'state.json'), 'not json');
    const { code, stderr } = await status([], dir.path);
    expect(code).toBe(1);
    expect(stderr).toMatch(/^error STATE_CORRUPT: /);
    expect(stderr).not.toMatch(STACK_LINE);
  });
});
