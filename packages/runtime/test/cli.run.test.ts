import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ManualClock } from '@ordo/contracts/testing';
import { describe, expect, it } from 'vitest';
import { CLEAR_DOWN } from '../src/cli/liveStatusView.js';
import { main } from '../src/cli/main.js';
import { memoryIo, STACK_LINE, tempDir } from './support/memoryIo.js';
import { THREE_TASKS, writeFiles } from './support/planWorkspace.js';

// Every test runs real subprocess workers (bash) against a temp workspace.

function deferred() {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

describe('ordo run on a pipe', { timeout: 60_000 }, () => {
  it('prints one line per event and a summary, commits the edits, exit 0', async () => {
    await using dir = await tempDir();
    await writeFiles(dir.path, { 'plan.yaml': THREE_TASKS });
    const io = memoryIo({ cwd: dir.path });
    const code = await main(['run', 'plan.yaml', '--workers', '2'], io.io);
    expect(io.stderr()).toBe('');
    expect(code).toBe(0);
    const lines = io.stdout().split('\n');
    expect(lines[0]).toMatch(/^feature demo: 3 tasks in 2 levels \(run .+\)$/);
    expect(lines).toContain('level 0: started 2 tasks (count, greet)');
    expect(lines).toContain('level 1: started 1 task (shout)');
    expect(lines.filter((l) => /^ {2}task \w+: committed 1 file in /.test(l))).toHaveLength(3);
    expect(lines).toContain('level 1: completed');
    expect(lines.find((l) => l.startsWith('✓ '))).toMatch(
      /^✓ demo succeeded: 3\/3 tasks committed, 2 files changed \(trace [0-9a-f]{12}\)$/,
    );
    expect(io.stdout()).not.toContain('\u001b[');
    expect(await readFile(join(dir.path, 'greeting.txt'), 'utf8')).toBe('HELLO\n');
    expect(await readFile(join(dir.path, '.ordo', 'state.json'), 'utf8')).toContain('"demo"');
  });

  it('prints the diff with --diff and keeps the state where --state says', async () => {
    await using dir = await tempDir();
    await writeFiles(dir.path, { 'plans/plan.yaml': THREE_TASKS, 'repo/count.txt': '0\n' });
    const io = memoryIo({ cwd: dir.path });
    const argv = ['run', 'plans/plan.yaml', '--workspace', 'repo', '--state', 'state', '--diff'];
    expect(await main(argv, io.io)).toBe(0);
    expect(io.stdout()).toContain('diff --git a/count.txt b/count.txt\n');
    expect(io.stdout()).toContain('-0\n+1\n');
    expect(await readFile(join(dir.path, 'repo', 'count.txt'), 'utf8')).toBe('1\n');
    expect(await readFile(join(dir.path, 'state', 'state.json'), 'utf8')).toContain('"demo"');

    const status = memoryIo({ cwd: dir.path });
    expect(await main(['status', '--state', 'state'], status.io)).toBe(0);
    expect(status.stdout()).toContain('100% (3/3 tasks)');
  });

  it('prints only the FeatureResult with --json', async () => {
    await using dir = await tempDir();
    await writeFiles(dir.path, { 'plan.yaml': THREE_TASKS });
    const io = memoryIo({ cwd: dir.path });
    expect(await main(['run', 'plan.yaml', '--json'], io.io)).toBe(0);
    const result = JSON.parse(io.stdout());
    expect(result).toMatchObject({ feature: 'demo', status: 'succeeded', metrics: { completedTasks: 3 } });
    expect(result.tasks.map((t: { id: string; status: string }) => `${t.id}:${t.status}`).sort()).toEqual([
      'count:committed',
      'greet:committed',
      'shout:committed',
    ]);
    expect(result.diff).toContain('+HELLO');
  });

  it('exits 1 when a task fails, naming it with its code; dependents are skipped', async () => {
    await using dir = await tempDir();
    const plan = THREE_TASKS.replace(`"printf 'hello\\\\n' > greeting.txt"`, '"echo broken >&2; exit 3"');
    await writeFiles(dir.path, { 'plan.yaml': plan });
    const io = memoryIo({ cwd: dir.path });
    expect(await main(['run', 'plan.yaml'], io.io)).toBe(1);
    expect(io.stdout()).toMatch(/ {2}task greet: FAILED TASK_FAILED: /);
    expect(io.stdout()).toContain('  task shout: skipped (a dependency failed)');
    expect(io.stdout()).toMatch(/^✗ demo failed: 1\/3 tasks committed/m);
    expect(io.stdout()).toMatch(/^ {2}✗ greet: TASK_FAILED: /m);
  });
});

describe('ordo run in a terminal', { timeout: 60_000 }, () => {
  it('redraws the status view in place and ends on a frame with the final counts', async () => {
    await using dir = await tempDir();
    await writeFiles(dir.path, { 'plan.yaml': THREE_TASKS });
    // A clock that never moves: the first frame is drawn at once, every later change waits for the
    // interval, and finish() draws the last frame over it.
    const io = memoryIo({
      cwd: dir.path,
      isTTY: true,
      env: { NO_COLOR: '1' },
      columns: 100,
      clock: new ManualClock(0),
    });
    expect(await main(['run', 'plan.yaml'], io.io)).toBe(0);
    const out = io.stdout();
    const frames = out.split(CLEAR_DOWN);
    expect(frames).toHaveLength(2);
    const first = frames[0] as string;
    const firstLines = first.split('\n').length - 1;
    expect(first.endsWith(`\u001b[${firstLines}A`)).toBe(true);
    expect(first).toContain('Feature: demo');
    const last = frames[1] as string;
    expect(last).toContain('100% (3/3 tasks)');
    expect(last).toContain('Total: 3/3 tasks done, 0 failed, 0 running, 0 pending');
    expect(last).toMatch(/✓ demo succeeded: 3\/3 tasks committed/);
    expect(out).not.toMatch(/^ {2}task /m); // no plain event lines on a terminal
  });
});

describe('ordo run with a bad plan or options', { timeout: 60_000 }, () => {
  it.each([
    ['a task without files', 'tasks:\n  - id: a\n    run: { shell: "true" }\n', 'tasks[0].files (line 3)'],
    [
      'a dependency on no task',
      'tasks:\n  - id: a\n    deps: [ghost]\n    files: [a]\n    run: { shell: "true" }\n',
      'ghost',
    ],
  ])('prints PLAN_INVALID for %s with the field and a hint, no stack; exit 1', async (_, tasks, field) => {
    await using dir = await tempDir();
    await writeFiles(dir.path, { 'plan.yaml': `feature: demo\n${tasks}` });
    const io = memoryIo({ cwd: dir.path });
    expect(await main(['run', 'plan.yaml'], io.io)).toBe(1);
    expect(io.stdout()).toBe('');
    const stderr = io.stderr();
    expect(stderr).toMatch(/^error PLAN_INVALID: The plan .*plan\.yaml is invalid/);
    expect(stderr).toContain(field);
    expect(stderr).toMatch(/^hint: a plan needs `feature` and `tasks`/m);
    expect(stderr).not.toMatch(STACK_LINE);
  });

  it('prints PLAN_INVALID for a plan that is not YAML', async () => {
    await using dir = await tempDir();
    await writeFiles(dir.path, { 'plan.yaml': 'feature: [unclosed\n' });
    const io = memoryIo({ cwd: dir.path });
    expect(await main(['run', 'plan.yaml'], io.io)).toBe(1);
    expect(io.stderr()).toMatch(/^error PLAN_INVALID: .*\n {2}- \(plan\)[^:]*: not valid YAML\/JSON: /);
    expect(io.stderr()).not.toMatch(STACK_LINE);
  });

  it('refuses --image without --launcher docker as a usage error', async () => {
    await using dir = await tempDir();
    await writeFiles(dir.path, { 'plan.yaml': THREE_TASKS });
    const io = memoryIo({ cwd: dir.path });
    expect(await main(['run', 'plan.yaml', '--image', 'ordo/worker:1'], io.io)).toBe(2);
    expect(io.stderr()).toBe(
      'error CLI_USAGE: Option --image only applies to --launcher docker.\nhint: add --launcher docker, or leave --image out\n',
    );
  });

  it.skipIf(process.env.ORDO_WORKER_IMAGE !== undefined)(
    'asks for a worker image with --launcher docker and none given',
    async () => {
      await using dir = await tempDir();
      await writeFiles(dir.path, { 'plan.yaml': THREE_TASKS });
      const io = memoryIo({ cwd: dir.path });
      expect(await main(['run', 'plan.yaml', '--launcher', 'docker'], io.io)).toBe(1);
      expect(io.stderr()).toMatch(/^error RUNTIME_OPTIONS_INVALID: .*needs a worker image/);
      expect(io.stderr()).toContain(
        'hint: pass the worker image with --image <ref>, or set ORDO_WORKER_IMAGE',
      );
    },
  );

  it('names --workspace when the workspace does not exist', async () => {
    await using dir = await tempDir();
    await writeFiles(dir.path, { 'plan.yaml': THREE_TASKS });
    const io = memoryIo({ cwd: dir.path });
    expect(await main(['run', 'plan.yaml', '--workspace', 'nope'], io.io)).toBe(1);
    expect(io.stderr()).toMatch(/^error RUNTIME_OPTIONS_INVALID: .*nope is not an existing directory/);
    expect(io.stderr()).toContain('hint: pass an existing directory with --workspace');
  });

  it('refuses a bad --config before running anything', async () => {
    await using dir = await tempDir();
    await writeFiles(dir.path, { 'plan.yaml': THREE_TASKS, 'bad.yaml': 'workers:\n  max: -1\n' });
    const io = memoryIo({ cwd: dir.path });
    expect(await main(['run', 'plan.yaml', '--config', 'bad.yaml'], io.io)).toBe(1);
    expect(io.stderr()).toMatch(/^error CONFIG_INVALID: /);
    expect(io.stderr()).toContain('workers.max');
  });
});

describe('ordo status while ordo run writes the state', { timeout: 60_000 }, () => {
  it('shows the running level and task without disturbing the run', async () => {
    await using dir = await tempDir();
    const go = join(dir.path, 'go');
    await writeFiles(dir.path, {
      'plan.yaml':
        'feature: busy\ntasks:\n  - id: quick\n    files: [a.txt]\n    run: { shell: "echo a > a.txt" }\n' +
        `  - id: wait\n    files: [b.txt]\n    run: { shell: "while [ ! -f ${go} ]; do sleep 0.05; done; echo b > b.txt" }\n`,
    });
    const started = deferred();
    const io = memoryIo({ cwd: dir.path });
    io.io.stdout = {
      write: (chunk: string) => {
        if (chunk.includes('task quick: committed')) started.resolve();
      },
    };
    const running = main(['run', 'plan.yaml'], io.io);
    try {
      await started.promise;
      // The runtime writes the state file a few ms after a change (coalesced), so it may not exist yet
      // (`CLI_NO_STATE`, exit 1): read until it shows the commit.
      let shown = '';
      for (let attempt = 0; attempt < 100 && !shown.includes('(1/2 tasks)'); attempt++) {
        const status = memoryIo({ cwd: dir.path });
        if ((await main(['status'], status.io)) === 0) shown = status.stdout();
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      expect(shown).toContain('Feature: busy');
      expect(shown).toContain('50% (1/2 tasks)');
      expect(shown).toMatch(/Level 0 {2}RUNNING .* \(1\/2 tasks\)/);
      expect(shown).toContain('1 running, 0 pending');
    } finally {
      await writeFiles(dir.path, { go: '' });
      expect(await running).toBe(0);
    }
    expect(await readFile(join(dir.path, 'b.txt'), 'utf8')).toBe('b\n');
  });
});

describe('ordo run interrupted', { timeout: 60_000 }, () => {
  it('cancels the feature when the signal aborts and exits 130', async () => {
    await using dir = await tempDir();
    await writeFiles(dir.path, {
      'plan.yaml': 'feature: slow\ntasks:\n  - id: nap\n    files: [x.txt]\n    run: { shell: "sleep 30" }\n',
    });
    const controller = new AbortController();
    const out: string[] = [];
    const io = memoryIo({ cwd: dir.path, signal: controller.signal });
    io.io.stdout = {
      write: (chunk: string) => {
        out.push(chunk);
        if (chunk.includes('task nap: started')) controller.abort('SIGINT');
      },
    };
    expect(await main(['run', 'plan.yaml'], io.io)).toBe(130);
    expect(out.join('')).toContain('task nap: started');
  });
});
