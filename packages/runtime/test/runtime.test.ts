import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { killProcess } from '@ordo/contracts/testing';
import { readStateFile } from '@ordo/launcher';
import { describe, expect, it } from 'vitest';
import { tempDir } from '../../../vitest.tempDirs.js';
import { createRuntime, type FeatureEvent, type PlanInput } from '../src/index.js';
import { waitForPid } from './helpers/files.js';
import { eventWaiter, fixture, readTree, tempWorkspace } from './helpers/workspace.js';

const tasks = fixture('tasks.mjs');

describe('runFeature on subprocess workers', () => {
  it('runs a 9-task, 3-level feature: files, diff, events, metrics and the state file', async () => {
    const ws = await tempWorkspace({ 'README.md': 'start\n' });
    await using runtime = await createRuntime({ workspace: ws, workers: 3 });
    const plan: PlanInput = {
      feature: 'nine',
      seed: 7,
      tasks: [
        ...['a', 'b', 'c'].map((x) => ({
          id: `l0-${x}`,
          files: [`${x}/0.txt`],
          run: { shell: `mkdir -p ${x} && echo "$ORDO_TASK_ID" > ${x}/0.txt` },
        })),
        ...['a', 'b', 'c'].map((x) => ({
          id: `l1-${x}`,
          deps: [`l0-${x}`],
          files: [`${x}/0.txt`, `${x}/1.txt`],
          run: { shell: `cp ${x}/0.txt ${x}/1.txt && echo "$ORDO_FEATURE" >> ${x}/1.txt` },
        })),
        {
          id: 'l2-readme',
          deps: ['l1-a', 'l1-b', 'l1-c'],
          files: ['README.md'],
          run: { shell: 'echo done >> README.md' },
        },
        {
          id: 'l2-module',
          deps: ['l1-a'],
          files: ['a/1.txt'],
          run: { module: tasks, input: { path: 'a/1.txt', line: 'by module' } },
        },
        { id: 'l2-rm', deps: ['l1-c'], files: ['c/0.txt'], run: { shell: 'rm c/0.txt' } },
      ],
    };
    const events: FeatureEvent[] = [];
    const result = await runtime.runFeature(plan, { onEvent: (e) => events.push(e) });

    expect(result.status).toBe('succeeded');
    expect(result.tasks.map((t) => t.status)).toEqual(Array(9).fill('committed'));
    expect(result.tasks.map((t) => t.level)).toEqual([0, 0, 0, 1, 1, 1, 2, 2, 2]);
    expect(await readTree(ws)).toEqual({
      'README.md': 'start\ndone\n',
      'a/0.txt': 'l0-a\n',
      'a/1.txt': 'l0-a\nnine\nby module\n',
      'b/0.txt': 'l0-b\n',
      'b/1.txt': 'l0-b\nnine\n',
      'c/1.txt': 'l0-c\nnine\n',
    });
    expect(result.diff).toContain('--- a/README.md\n+++ b/README.md');
    expect(result.diff).toContain('+done');
    expect(result.diff).not.toContain('c/0.txt'); // created and deleted inside the feature: no change
    expect(result.tasks.find((t) => t.id === 'l2-rm')?.files).toEqual(['c/0.txt']);

    expect(events[0]).toMatchObject({
      type: 'feature-start',
      feature: 'nine',
      levels: 3,
      tasks: 9,
      resumed: 0,
    });
    expect(events.at(-1)).toEqual({
      type: 'feature-end',
      feature: 'nine',
      status: 'succeeded',
      traceDigest: result.traceDigest,
    });
    expect(
      events.filter((e) => e.type === 'level-end').map((e) => e.type === 'level-end' && e.status),
    ).toEqual(['completed', 'completed', 'completed']);
    expect(events.filter((e) => e.type === 'task-start')).toHaveLength(9);

    expect(result.metrics).toMatchObject({
      feature: 'nine',
      totalTasks: 9,
      completedTasks: 9,
      failedTasks: 0,
      totalLevels: 3,
      levelsCompleted: 3,
    });
    expect(result.metrics.workersUsed).toBeGreaterThanOrEqual(1);
    expect(runtime.status()).toMatchObject({ completedTasks: 9 });

    const { state } = await readStateFile(path.join(ws, '.ordo', 'state.json'));
    expect(state?.feature.name).toBe('nine');
    expect(state?.feature.completedAt).not.toBeNull();
    expect(state?.tasks.filter((t) => t.completedAt !== null)).toHaveLength(9);
    expect(state?.levels.map((l) => l.completedAt !== null)).toEqual([true, true, true]);
    expect(state?.metrics?.completedTasks).toBe(9);

    const text = await runtime.metricsText();
    expect(text).toMatch(/ordo_runtime_tasks_total\{status="committed"\} 9/);
    expect(text).toMatch(/ordo_runtime_features_total\{status="succeeded"\} 1/);
    expect(text).toContain('ordo_runtime_task_duration_seconds_bucket');
    expect(text).toContain('ordo_memory_level');
  }, 60_000); // three worker starts through tsx at once: slow on a loaded machine

  it('refuses an edit outside the declared files and writes nothing of that task', async () => {
    const ws = await tempWorkspace({ 'a.txt': 'a\n' });
    await using runtime = await createRuntime({ workspace: ws, workers: 1 });
    const result = await runtime.runFeature({
      feature: 'sneaky',
      tasks: [
        { id: 'sneak', files: ['a.txt'], run: { shell: 'echo changed > a.txt && echo x > b.txt' } },
        {
          id: 'state',
          files: ['*.txt'],
          run: { shell: 'mkdir -p .ordo && echo evil > .ordo/state.json && echo ok > ok.txt' },
        },
        { id: 'after', deps: ['sneak'], files: ['c.txt'], run: { shell: 'echo c > c.txt' } },
      ],
    });
    const sneak = result.tasks.find((t) => t.id === 'sneak');
    expect(sneak).toMatchObject({ status: 'failed', error: { code: 'SPOOL_VALIDATION_FAILED' } });
    expect(sneak?.error?.message).toMatch(/b\.txt/);
    expect(result.tasks.find((t) => t.id === 'state')).toMatchObject({
      status: 'failed',
      error: { code: 'SPOOL_VALIDATION_FAILED' },
    });
    expect(result.tasks.find((t) => t.id === 'after')).toMatchObject({ status: 'skipped' });
    expect(result.status).toBe('failed');
    expect(await readTree(ws)).toEqual({ 'a.txt': 'a\n' });
    expect(JSON.parse(await readFile(path.join(ws, '.ordo', 'state.json'), 'utf8')).feature.name).toBe(
      'sneaky',
    );
  });

  it('fails the later of two tasks of a level that edit the same file with SPOOL_CONFLICT', async () => {
    const ws = await tempWorkspace({ 'shared.txt': 'base\n' });
    await using runtime = await createRuntime({ workspace: ws, workers: 2 });
    const result = await runtime.runFeature({
      feature: 'clash',
      tasks: [
        {
          id: 'second',
          priority: 'LOW',
          files: ['shared.txt', 'second.txt'],
          run: { shell: 'echo second >> shared.txt; echo 2 > second.txt' },
        },
        { id: 'first', priority: 'HIGH', files: ['shared.txt'], run: { shell: 'echo first >> shared.txt' } },
      ],
    });
    expect(result.tasks.map((t) => [t.id, t.status, t.error?.code])).toEqual([
      ['first', 'committed', undefined],
      ['second', 'failed', 'SPOOL_CONFLICT'],
    ]);
    expect(await readTree(ws)).toEqual({ 'shared.txt': 'base\nfirst\n' });
  });

  it('fails a task whose command exits non-zero with TASK_FAILED, the exit code and the stderr tail', async () => {
    const ws = await tempWorkspace();
    await using runtime = await createRuntime({ workspace: ws, workers: 1 });
    const events: FeatureEvent[] = [];
    const result = await runtime.runFeature(
      {
        feature: 'failing',
        tasks: [
          {
            id: 'bad',
            files: ['x.txt'],
            run: { shell: 'echo partial > x.txt; echo "it broke" >&2; exit 3' },
          },
          { id: 'dependent', deps: ['bad'], files: ['y.txt'], run: { shell: 'echo y > y.txt' } },
          { id: 'independent', files: ['z.txt'], run: { shell: 'echo z > z.txt' } },
        ],
      },
      { onEvent: (e) => events.push(e) },
    );
    const bad = result.tasks.find((t) => t.id === 'bad');
    expect(bad).toMatchObject({ status: 'failed', error: { code: 'TASK_FAILED' } });
    expect(bad?.error?.message).toMatch(/exited with code 3/);
    expect(bad?.error?.message).toMatch(/it broke/);
    expect(events).toContainEqual({
      type: 'task-skipped',
      level: 1,
      taskId: 'dependent',
      reason: 'dependency-failed',
    });
    expect(await readTree(ws)).toEqual({ 'z.txt': 'z\n' });
    // The state has no 'skipped': a task skipped for a failed dependency counts as failed, with the reason.
    expect(result.metrics.failedTasks).toBe(2);
  });

  it('runs module tasks: named exports, reads, deletes, thrown and malformed results', async () => {
    const ws = await tempWorkspace({ 'log.txt': 'one\n', 'gone.txt': 'bye\n' });
    await using runtime = await createRuntime({ workspace: ws, workers: 2 });
    const result = await runtime.runFeature({
      feature: 'mods',
      tasks: [
        {
          id: 'append',
          files: ['log.txt', 'new/*.md'],
          run: { module: tasks, input: { path: 'log.txt', line: 'two', extra: { 'new/a.md': '# a\n' } } },
        },
        {
          id: 'remove',
          files: ['gone.txt'],
          run: { module: tasks, export: 'remove', input: { path: 'gone.txt' } },
        },
        { id: 'boom', files: [], run: { module: tasks, export: 'boom' } },
        { id: 'malformed', files: [], run: { module: tasks, export: 'notEdits' } },
        { id: 'missing', files: [], run: { module: tasks, export: 'nope' } },
      ],
    });
    const byId = Object.fromEntries(result.tasks.map((t) => [t.id, t]));
    expect(byId.append?.status).toBe('committed');
    expect(byId.remove?.status).toBe('committed');
    expect(byId.boom).toMatchObject({
      status: 'failed',
      error: { code: 'TASK_FAILED', message: expect.stringMatching(/the module gave up/) },
    });
    expect(byId.malformed).toMatchObject({
      status: 'failed',
      error: { code: 'TASK_FAILED', message: expect.stringMatching(/array of \{ path, content \}/) },
    });
    expect(byId.missing).toMatchObject({
      status: 'failed',
      error: { message: expect.stringMatching(/no function export "nope"/) },
    });
    expect(await readTree(ws)).toEqual({ 'log.txt': 'one\ntwo\n', 'new/a.md': '# a\n' });
  });

  it('fails the task of a killed worker with WORKER_CRASHED, replaces the worker and goes on', async () => {
    const ws = await tempWorkspace();
    const pidDir = await tempDir('ordo-pid-');
    const pidFile = path.join(pidDir, 'pid');
    await using runtime = await createRuntime({ workspace: ws, workers: 1 });
    const waiter = eventWaiter<FeatureEvent>();
    const run = runtime.runFeature(
      {
        feature: 'crash',
        tasks: [
          {
            id: 'victim',
            priority: 'HIGH',
            files: [],
            run: { module: tasks, export: 'hang', input: { pidFile } },
          },
          { id: 'survivor', files: ['s.txt'], run: { shell: 'echo s > s.txt' } },
        ],
      },
      { onEvent: waiter.onEvent },
    );
    await waiter.next((e) => e.type === 'task-start' && e.taskId === 'victim');
    const pid = await waitForPid(pidFile);
    killProcess(pid);
    const result = await run;
    const victim = result.tasks.find((t) => t.id === 'victim');
    expect(victim).toMatchObject({ status: 'failed', error: { code: 'WORKER_CRASHED' } });
    expect(victim?.error?.message).toMatch(/SIGKILL/);
    expect(result.tasks.find((t) => t.id === 'survivor')?.status).toBe('committed');
    expect(await runtime.metricsText()).toMatch(/ordo_runtime_worker_crashes_total 1/);
    // The replacement serves the next feature too.
    const again = await runtime.runFeature({
      feature: 'after-crash',
      tasks: [{ id: 't', files: ['t.txt'], run: { shell: 'echo t > t.txt' } }],
    });
    expect(again.status).toBe('succeeded');
  }, 60_000); // two worker starts through tsx (the replacement included): slow on a loaded machine

  it('cancels the tasks in flight when the signal aborts; committed tasks stay', async () => {
    const ws = await tempWorkspace();
    const pidDir = await tempDir('ordo-pid-');
    await using runtime = await createRuntime({ workspace: ws, workers: 2 });
    const controller = new AbortController();
    const waiter = eventWaiter<FeatureEvent>();
    const run = runtime.runFeature(
      {
        feature: 'aborted',
        tasks: [
          { id: 'quick', files: ['q.txt'], run: { shell: 'echo q > q.txt' } },
          {
            id: 'slow',
            deps: ['quick'],
            files: [],
            run: { module: tasks, export: 'hang', input: { pidFile: path.join(pidDir, 'pid') } },
          },
          { id: 'never', deps: ['slow'], files: ['n.txt'], run: { shell: 'echo n > n.txt' } },
        ],
      },
      { signal: controller.signal, onEvent: waiter.onEvent },
    );
    await waiter.next((e) => e.type === 'task-start' && e.taskId === 'slow');
    controller.abort(new Error('user stop'));
    const result = await run;
    expect(result.status).toBe('cancelled');
    expect(result.tasks.map((t) => [t.id, t.status])).toEqual([
      ['quick', 'committed'],
      ['slow', 'cancelled'],
      ['never', 'cancelled'],
    ]);
    expect(await readTree(ws)).toEqual({ 'q.txt': 'q\n' });
    // The cancelled worker answered CANCEL and serves again.
    expect(
      (
        await runtime.runFeature({
          feature: 'next',
          tasks: [{ id: 'n', files: ['n.txt'], run: { shell: 'echo n > n.txt' } }],
        })
      ).status,
    ).toBe('succeeded');
  });

  it('holds lower priorities in the queue under memory pressure while CRITICAL tasks run', async () => {
    const ws = await tempWorkspace();
    // A limit this process is far above: the level is emergency from the first reading (no later ticks).
    await using runtime = await createRuntime({
      workspace: ws,
      workers: 2,
      config: { memory: { limitBytes: 1024 * 1024, intervalMs: 3_600_000 } },
    });
    const controller = new AbortController();
    const events: FeatureEvent[] = [];
    const result = await runtime.runFeature(
      {
        feature: 'pressure',
        tasks: [
          { id: 'urgent', priority: 'CRITICAL', files: ['u.txt'], run: { shell: 'echo u > u.txt' } },
          { id: 'later', priority: 'LOW', files: ['l.txt'], run: { shell: 'echo l > l.txt' } },
        ],
      },
      {
        signal: controller.signal,
        onEvent: (e) => {
          events.push(e);
          if (e.type === 'task-committed') controller.abort(new Error('enough'));
        },
      },
    );
    expect(result.tasks.map((t) => [t.id, t.status])).toEqual([
      ['urgent', 'committed'],
      ['later', 'cancelled'],
    ]);
    expect(
      events.filter((e) => e.type === 'task-start').map((e) => e.type === 'task-start' && e.taskId),
    ).toEqual(['urgent']);
    expect(await readTree(ws)).toEqual({ 'u.txt': 'u\n' });
  });

  it('shows every task of a level the workspace as the previous level left it, globs included', async () => {
    const ws = await tempWorkspace();
    await using runtime = await createRuntime({ workspace: ws, workers: 1 });
    const result = await runtime.runFeature({
      feature: 'view',
      tasks: [
        { id: 'seed', files: ['gen/a.txt'], run: { shell: 'mkdir -p gen && echo a > gen/a.txt' } },
        // Level 1: with one worker, `collect` (LOW) starts after HIGH tasks of its own level, often once their
        // commits are on disk; whenever it starts, it lists `gen/` as level 0 left it (test/levelView.test.ts
        // pins the mechanism without timing).
        ...['b', 'c', 'd', 'e'].map((x) => ({
          id: `make-${x}`,
          deps: ['seed'],
          priority: 'HIGH' as const,
          files: [`gen/${x}.txt`],
          run: { shell: `echo ${x} > gen/${x}.txt` },
        })),
        {
          id: 'collect',
          deps: ['seed'],
          priority: 'LOW',
          files: ['gen/*.txt', 'all.txt'],
          run: { shell: 'ls gen > all.txt' },
        },
      ],
    });
    expect(result.status).toBe('succeeded');
    expect((await readTree(ws))['all.txt']).toBe('a.txt\n');
  });

  it('starts a task once what it waits for committed, not at the end of the previous level', async () => {
    const ws = await tempWorkspace({ 'shared.txt': 'before\n' });
    const gate = path.join(await tempDir('ordo-gate-'), 'open');
    await using runtime = await createRuntime({ workspace: ws, workers: 2 });
    const committed: string[] = [];
    const started: string[] = [];
    const result = await runtime.runFeature(
      {
        feature: 'eager',
        tasks: [
          // HIGH: first in level 0's commit order, so its commit does not wait for `gated`.
          { id: 'quick', priority: 'HIGH', files: ['q.txt'], run: { shell: 'echo q > q.txt' } },
          // Finishes only once the test opens the gate, which it does when `after-quick` has started:
          // a barrier between levels would never get there. Commits follow the plan order (level 0 first).
          {
            id: 'gated',
            files: ['shared.txt'],
            run: {
              module: tasks,
              export: 'gated',
              input: { gate, path: 'shared.txt', content: 'from gated\n' },
            },
          },
          {
            id: 'after-quick',
            deps: ['quick'],
            files: ['a.txt'],
            run: { shell: 'cat q.txt 2>/dev/null; echo a > a.txt' },
          },
          // Declares a file `gated` writes: it waits for `gated`, and reads what it wrote.
          {
            id: 'reader',
            deps: ['quick'],
            files: ['shared.txt', 'r.txt'],
            run: { shell: 'cat shared.txt > r.txt' },
          },
        ],
      },
      {
        onEvent: (e) => {
          if (e.type === 'task-start') {
            started.push(e.taskId);
            if (e.taskId === 'after-quick') void writeFile(gate, 'open');
          }
          if (e.type === 'task-committed') committed.push(e.taskId);
        },
      },
    );
    expect(result.status).toBe('succeeded');
    expect(started).toContain('after-quick');
    expect(committed).toEqual(result.tasks.map((t) => t.id));
    expect(committed.indexOf('gated')).toBeLessThan(committed.indexOf('reader'));
    // `reader` declares a file `gated` writes: it started only once `gated` had committed.
    expect(started.indexOf('reader')).toBeGreaterThan(started.indexOf('after-quick'));
    expect((await readTree(ws))['r.txt']).toBe('from gated\n');
  });

  it('fails a task past its timeoutMs with TASK_TIMEOUT and frees its worker', async () => {
    const ws = await tempWorkspace();
    const pidDir = await tempDir('ordo-pid-');
    await using runtime = await createRuntime({ workspace: ws, workers: 1 });
    const result = await runtime.runFeature({
      feature: 'slow',
      tasks: [
        {
          id: 'stuck',
          timeoutMs: 300,
          files: [],
          run: { module: tasks, export: 'hang', input: { pidFile: path.join(pidDir, 'pid') } },
        },
        { id: 'next', files: ['n.txt'], priority: 'LOW', run: { shell: 'echo n > n.txt' } },
      ],
    });
    expect(result.tasks.map((t) => [t.id, t.status, t.error?.code])).toEqual([
      ['stuck', 'failed', 'TASK_TIMEOUT'],
      ['next', 'committed', undefined],
    ]);
  });

  it('runs a YAML plan file, resolving its modules against the file', async () => {
    const ws = await tempWorkspace({
      'plans/feature.yaml': [
        'feature: from-yaml',
        'tasks:',
        '  - id: hello',
        '    files: [hello.txt]',
        '    run: { module: ./tasks.mjs, input: { path: hello.txt, line: hi } }',
        '',
      ].join('\n'),
    });
    const { copyFile } = await import('node:fs/promises');
    await copyFile(tasks, path.join(ws, 'plans', 'tasks.mjs'));
    await using runtime = await createRuntime({ workspace: ws, workers: 1 });
    const result = await runtime.runFeature('plans/feature.yaml');
    expect(result.status).toBe('succeeded');
    expect((await readTree(ws))['hello.txt']).toBe('hi\n');
    await expect(runtime.runFeature('plans/missing.yaml')).rejects.toMatchObject({ code: 'PLAN_UNREADABLE' });
  });

  it('refuses a second feature while one runs, and everything after close', async () => {
    const ws = await tempWorkspace();
    const runtime = await createRuntime({ workspace: ws, workers: 1 });
    const gate = path.join(await tempDir('ordo-gate-'), 'open');
    const first = runtime.runFeature({
      feature: 'first',
      tasks: [
        {
          id: 'g',
          files: ['g.txt'],
          run: { module: tasks, export: 'gated', input: { gate, path: 'g.txt', content: 'g' } },
        },
      ],
    });
    await expect(
      runtime.runFeature({ feature: 'second', tasks: [{ id: 'x', files: [], run: { shell: 'true' } }] }),
    ).rejects.toMatchObject({ code: 'RUNTIME_BUSY' });
    await runtime.close();
    expect((await first).status).toBe('cancelled');
    await expect(
      runtime.runFeature({ feature: 'late', tasks: [{ id: 'x', files: [], run: { shell: 'true' } }] }),
    ).rejects.toMatchObject({ code: 'RUNTIME_CLOSED' });
    await runtime.close(); // idempotent
  });
});

describe('createRuntime', () => {
  it('leaves no active resources after close()', async () => {
    const ws = await tempWorkspace();
    const round = async () => {
      const runtime = await createRuntime({ workspace: ws, workers: 2 });
      await runtime.runFeature({
        feature: 'tidy',
        tasks: [{ id: 't', files: ['t.txt'], run: { shell: 'echo t >> t.txt' } }],
      });
      const during = countResources();
      await runtime.close();
      return during;
    };
    await round(); // warm-up: lazy module loading of the test process itself must not count
    const before = await settledResources({}); // the baseline once earlier tests' exited children are gone
    const during = await round();
    expect(during.ProcessWrap ?? 0).toBeGreaterThanOrEqual((before.ProcessWrap ?? 0) + 2);
    const after = await settledResources(before);
    for (const [type, count] of Object.entries(after))
      expect({ type, count }).toEqual({ type, count: Math.min(count, before[type] ?? 0) });
  });

  it('refuses a missing workspace, bad workers and an unreadable config', async () => {
    await expect(createRuntime({ workspace: '/nonexistent/ordo' })).rejects.toMatchObject({
      code: 'RUNTIME_OPTIONS_INVALID',
    });
    const ws = await tempWorkspace();
    await expect(createRuntime({ workspace: ws, workers: 0 })).rejects.toMatchObject({
      code: 'RUNTIME_OPTIONS_INVALID',
    });
    await expect(createRuntime({ workspace: ws, config: '/nonexistent/ordo.yaml' })).rejects.toMatchObject({
      code: 'CONFIG_UNREADABLE',
    });
    await expect(createRuntime({ workspace: ws, config: { workers: { max: -1 } } })).rejects.toMatchObject({
      code: 'CONFIG_INVALID',
    });
    await expect(
      createRuntime({ workspace: ws, launcher: 'docker', docker: { image: '' } }),
    ).rejects.toMatchObject({ code: 'RUNTIME_OPTIONS_INVALID' });
  });

  it('takes a config object merged over the defaults', async () => {
    const ws = await tempWorkspace();
    await using runtime = await createRuntime({
      workspace: ws,
      config: { workers: { max: 3 }, queue: { maxDepth: 7 } },
    });
    expect(runtime.config.workers.max).toBe(3);
    expect(runtime.config.queue.maxDepth).toBe(7);
    expect(runtime.stateDir).toBe(path.join(ws, '.ordo'));
  });
});

function countResources(): Record<string, number> {
  const out: Record<string, number> = {};
  for (const type of process.getActiveResourcesInfo()) out[type] = (out[type] ?? 0) + 1;
  return out;
}

/**
 * The resource counts once they are back to `before`, or after 100 event-loop turns: libuv closes a
 * dead child's stdio pipes a turn or two after its exit, so a count taken at once can see them.
 */
async function settledResources(before: Record<string, number>): Promise<Record<string, number>> {
  for (let turn = 0; ; turn++) {
    const now = countResources();
    if (turn === 100 || Object.entries(now).every(([type, count]) => count <= (before[type] ?? 0)))
      return now;
    await new Promise((resolve) => setImmediate(resolve));
  }
}
