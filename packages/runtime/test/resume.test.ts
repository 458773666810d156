import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { readStateFile } from '@ordo/launcher';
import { describe, expect, it, onTestFinished } from 'vitest';
import { tempDir } from '../../../vitest.tempDirs.js';
import { createRuntime, type FeatureEvent, type PlanInput } from '../src/index.js';
import { fixture, readTree, tempWorkspace } from './helpers/workspace.js';

const tasks = fixture('tasks.mjs');

function crashPlan(gate: string): PlanInput {
  return {
    feature: 'crashy',
    seed: 3,
    tasks: [
      ...[1, 2, 3].map((n) => ({
        id: `early-${n}`,
        files: [`early/${n}.txt`],
        run: { module: tasks, input: { path: `early/${n}.txt`, line: `early ${n}` } },
      })),
      ...[1, 2, 3].map((n) => ({
        id: `late-${n}`,
        deps: [`early-${n}`],
        files: [`early/${n}.txt`, `late/${n}.txt`],
        run: {
          module: tasks,
          export: 'gated',
          input: { gate, path: `late/${n}.txt`, content: `late ${n}\n` },
        },
      })),
      {
        id: 'last',
        deps: ['late-1', 'late-2', 'late-3'],
        files: ['done.txt'],
        run: { shell: 'ls > /dev/null; echo done > done.txt' },
      },
    ],
  };
}

/**
 * Resolves once the state file shows at least `count` completed tasks. It reads the file every 100 ms
 * (a file watch can miss a rename under load) and fails at once if the child exits first, instead of waiting
 * for the test's timeout.
 */
async function waitForCompleted(stateDir: string, count: number, exited: Promise<unknown>): Promise<void> {
  const file = path.join(stateDir, 'state.json');
  const done = async () => {
    const { state } = await readStateFile(file).catch(() => ({ state: undefined }));
    return (state?.tasks.filter((t) => t.completedAt !== null).length ?? 0) >= count;
  };
  let childGone = false;
  void exited.then(() => {
    childGone = true;
  });
  for (;;) {
    if (await done()) return;
    if (childGone) throw new Error(`the child exited before ${count} tasks completed (see its stderr above)`);
    await sleep(100);
  }
}

describe('resume after a crash', () => {
  it('skips the committed tasks after kill -9 and ends with the digest of an uninterrupted run', async () => {
    const gateDir = await tempDir('ordo-gate-');
    const gate = path.join(gateDir, 'open');
    const plan = crashPlan(gate);
    const ws = await tempWorkspace({ 'early/1.txt': 'seed\n' });
    const stateDir = path.join(ws, '.ordo');
    await import('node:fs/promises').then((fs) => fs.mkdir(stateDir, { recursive: true }));

    const child = spawn(
      process.execPath,
      [
        '--conditions=@ordo/source',
        '--import',
        'tsx',
        fixture('run-feature.mts'),
        JSON.stringify({ workspace: ws, workers: 2, plan }),
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    const exited = new Promise<NodeJS.Signals | null>((resolve) =>
      child.once('exit', (_code, signal) => resolve(signal)),
    );
    // Even when the test times out (the finally below never runs then): never leave the child behind.
    onTestFinished(() => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    });
    try {
      await waitForCompleted(stateDir, 3, exited);
    } finally {
      child.kill('SIGKILL'); // also when the wait fails: never leave the child behind
    }
    expect(await exited).toBe('SIGKILL');
    expect(await readTree(ws)).toEqual({
      'early/1.txt': 'seed\nearly 1\n',
      'early/2.txt': 'early 2\n',
      'early/3.txt': 'early 3\n',
    });

    await writeFile(gate, 'open');
    const events: FeatureEvent[] = [];
    const resumed = await (async () => {
      await using runtime = await createRuntime({ workspace: ws, workers: 2 });
      return await runtime.runFeature(plan, { resume: true, onEvent: (e) => events.push(e) });
    })();
    expect(resumed.status).toBe('succeeded');
    expect(events[0]).toMatchObject({ type: 'feature-start', resumed: 3 });
    expect(
      events
        .filter((e) => e.type === 'task-skipped')
        .map((e) => e.type === 'task-skipped' && [e.taskId, e.reason])
        .sort(),
    ).toEqual([
      ['early-1', 'committed-before-resume'],
      ['early-2', 'committed-before-resume'],
      ['early-3', 'committed-before-resume'],
    ]);
    expect(resumed.diff).toContain('+early 1'); // the diff spans the crash: against the workspace before the feature

    const fresh = await tempWorkspace({ 'early/1.txt': 'seed\n' });
    const uninterrupted = await (async () => {
      await using runtime = await createRuntime({ workspace: fresh, workers: 3 });
      return await runtime.runFeature(plan);
    })();
    expect(uninterrupted.status).toBe('succeeded');
    expect(resumed.traceDigest).toBe(uninterrupted.traceDigest);
    expect(await readTree(ws)).toEqual(await readTree(fresh));
    expect(resumed.diff).toBe(uninterrupted.diff);
  }, 180_000);

  it('refuses to resume with another plan, and starts over without resume', async () => {
    const ws = await tempWorkspace();
    await using runtime = await createRuntime({ workspace: ws, workers: 1 });
    await runtime.runFeature({
      feature: 'one',
      tasks: [{ id: 'a', files: ['a.txt'], run: { shell: 'echo a > a.txt' } }],
    });
    await expect(
      runtime.runFeature(
        { feature: 'one', tasks: [{ id: 'a', files: ['a.txt'], run: { shell: 'echo b > a.txt' } }] },
        { resume: true },
      ),
    ).rejects.toMatchObject({ code: 'RESUME_MISMATCH' });
    // Resuming a finished feature changes nothing and keeps its digest.
    const first = await runtime.runFeature({
      feature: 'two',
      tasks: [{ id: 'b', files: ['b.txt'], run: { shell: 'echo b >> b.txt' } }],
    });
    const again = await runtime.runFeature(
      { feature: 'two', tasks: [{ id: 'b', files: ['b.txt'], run: { shell: 'echo b >> b.txt' } }] },
      { resume: true },
    );
    expect(again.tasks[0]?.status).toBe('skipped');
    expect(again.traceDigest).toBe(first.traceDigest);
    expect(await readTree(ws)).toEqual({ 'a.txt': 'a\n', 'b.txt': 'b\n' });
    const { state } = await readStateFile(path.join(ws, '.ordo', 'state.json'));
    expect(state?.feature.name).toBe('two');
  });
});
