import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ManualClock } from '@ordo/contracts/testing';
import { describe, expect, it } from 'vitest';
import { main } from '../src/cli/main.js';
import { memoryIo, tempDir } from './support/memoryIo.js';
import { startOrdo } from './support/ordoProcess.js';
import { THREE_TASKS, writeFiles } from './support/planWorkspace.js';

// What a new user sees: `ordo run` as a real child process with subprocess workers, then `ordo status`.

interface StoredState {
  workers: { workerId: string; tasksFailed: number; exitedAt: string | null }[];
  levels: { level: number; startedAt: string | null; completedAt: string | null }[];
  tasks: { taskId: string; completedAt: string | null }[];
}

const readState = async (dir: string) =>
  JSON.parse(await readFile(join(dir, '.ordo', 'state.json'), 'utf8')) as StoredState;

/** Two tasks that sleep in level 0, one in level 1 that depends on both. */
const NAPS = `feature: naps
tasks:
  - id: nap1
    files: [a.txt]
    run: { shell: "sleep 30" }
  - id: nap2
    files: [b.txt]
    run: { shell: "sleep 30" }
  - id: after
    deps: [nap1, nap2]
    files: [c.txt]
    run: { shell: "echo c > c.txt" }
`;

describe('a new user on the CLI', { timeout: 90_000 }, () => {
  it('SIGINT reports each cancelled task once, and the workers count one failure per task', async () => {
    await using dir = await tempDir();
    await writeFiles(dir.path, { 'plan.yaml': NAPS });
    const ordo = startOrdo(['run', 'plan.yaml', '--workers', '2'], dir.path);
    await ordo.waitFor(
      /task nap1: started[\s\S]*task nap2: started|task nap2: started[\s\S]*task nap1: started/,
    );
    ordo.child.kill('SIGINT');
    expect((await ordo.exited).code).toBe(130);
    const lines = ordo.stdout().split('\n');
    for (const id of ['nap1', 'nap2', 'after']) {
      expect(lines.filter((l) => l.startsWith(`  task ${id}: FAILED TASK_CANCELLED`))).toHaveLength(1);
    }
    const state = await readState(dir.path);
    const failed = state.workers.reduce((n, w) => n + w.tasksFailed, 0);
    expect(failed).toBe(2); // nap1 and nap2 ran on workers; `after` never got one

    // The cancelled level is not shown as done, and `ordo status` says it was cancelled.
    const status = memoryIo({ cwd: dir.path });
    expect(await main(['status'], status.io)).toBe(0);
    expect(status.stdout()).not.toMatch(/✓ DONE/);
    expect(status.stdout()).toMatch(/CANCELLED/);
  });

  it('prints a level header when its first task starts, and times the level from there', async () => {
    await using dir = await tempDir();
    await writeFiles(dir.path, { 'plan.yaml': THREE_TASKS });
    const ordo = startOrdo(['run', 'plan.yaml', '--workers', '2'], dir.path);
    expect((await ordo.exited).code).toBe(0);
    const lines = ordo.stdout().split('\n');
    const header1 = lines.findIndex((l) => l.startsWith('level 1: started'));
    const greetCommitted = lines.findIndex((l) => l.startsWith('  task greet: committed'));
    // `shout` (level 1) depends on `greet`: level 1 cannot start before greet committed
    expect(header1).toBeGreaterThan(greetCommitted);
    expect(greetCommitted).toBeGreaterThan(0);
    expect(lines[header1 + 1]).toMatch(/^ {2}task shout: started/);

    const state = await readState(dir.path);
    const level1 = state.levels.find((l) => l.level === 1);
    const greet = state.tasks.find((t) => t.taskId === 'greet');
    expect(Date.parse(level1?.startedAt ?? '')).toBeGreaterThanOrEqual(Date.parse(greet?.completedAt ?? ''));
  });

  it('after a run, `ordo status` shows the workers stopped: uptime does not grow', async () => {
    await using dir = await tempDir();
    await writeFiles(dir.path, { 'plan.yaml': THREE_TASKS });
    const ordo = startOrdo(['run', 'plan.yaml', '--workers', '2'], dir.path);
    expect((await ordo.exited).code).toBe(0);
    const state = await readState(dir.path);
    expect(state.workers.length).toBeGreaterThan(0);
    for (const worker of state.workers) expect(worker.exitedAt).not.toBeNull();

    const clock = new ManualClock(Date.now());
    const uptimes = async () => {
      const io = memoryIo({ cwd: dir.path, clock });
      expect(await main(['status', '--json'], io.io)).toBe(0);
      return (JSON.parse(io.stdout()) as { workers: { uptimeMs: number }[] }).workers.map((w) => w.uptimeMs);
    };
    const first = await uptimes();
    clock.advance(3_600_000);
    expect(await uptimes()).toEqual(first);
  });
});
