import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { STACK_LINE, tempDir } from './support/memoryIo.js';
import { startOrdo } from './support/ordoProcess.js';
import { THREE_TASKS, writeFiles } from './support/planWorkspace.js';

// The bin as a real child process: node + tsx on the source, in a temp workspace. Each start transpiles
// through tsx, slow on a loaded machine: hence the 60 s timeout.

describe('the ordo executable', { timeout: 60_000 }, () => {
  it('runs a plan: exit 0, the files edited, one line per event on the pipe', async () => {
    await using dir = await tempDir();
    await writeFiles(dir.path, { 'plan.yaml': THREE_TASKS });
    const ordo = startOrdo(['run', 'plan.yaml'], dir.path);
    expect(await ordo.exited).toEqual({ code: 0, signal: null });
    expect(ordo.stderr()).toBe('');
    expect(ordo.stdout()).toMatch(/^feature demo: 3 tasks in 2 levels/);
    expect(ordo.stdout()).toContain('level 1: completed');
    expect(ordo.stdout()).toMatch(/^✓ demo succeeded: 3\/3 tasks committed, 2 files changed/m);
    expect(await readFile(join(dir.path, 'greeting.txt'), 'utf8')).toBe('HELLO\n');
    expect(await readFile(join(dir.path, 'count.txt'), 'utf8')).toBe('1\n');
  });

  it('exits 1 on a bad plan with the code and no stack', async () => {
    await using dir = await tempDir();
    await writeFiles(dir.path, { 'plan.yaml': 'feature: demo\ntasks: nope\n' });
    const ordo = startOrdo(['run', 'plan.yaml'], dir.path);
    expect((await ordo.exited).code).toBe(1);
    expect(ordo.stderr()).toMatch(/^error PLAN_INVALID: /);
    expect(ordo.stderr()).toMatch(/^hint: /m);
    expect(ordo.stderr()).not.toMatch(STACK_LINE);
  });

  it('exits 2 on a usage error', async () => {
    await using dir = await tempDir();
    const ordo = startOrdo(['run', 'plan.yaml', '--workers', '0'], dir.path);
    expect((await ordo.exited).code).toBe(2);
    expect(ordo.stderr()).toMatch(/^error CLI_USAGE: Option '--workers <n>' argument '0' is invalid/);
  });

  it('cancels the run on SIGINT and exits 130; --resume then finishes it', async () => {
    await using dir = await tempDir();
    const plan = (shell: string) =>
      `feature: nap\ntasks:\n  - id: quick\n    files: [a.txt]\n    run: { shell: "echo a > a.txt" }\n` +
      `  - id: nap\n    deps: [quick]\n    files: [b.txt]\n    run: { shell: "${shell}" }\n`;
    const go = join(dir.path, 'go');
    await writeFiles(dir.path, {
      'plan.yaml': plan(`if [ -f ${go} ]; then echo b > b.txt; else sleep 30; fi`),
    });
    const first = startOrdo(['run', 'plan.yaml'], dir.path);
    await first.waitFor('task nap: started');
    first.child.kill('SIGINT');
    expect(await first.exited).toEqual({ code: 130, signal: null });
    expect(first.stderr()).toContain('interrupted');
    expect(await readFile(join(dir.path, 'a.txt'), 'utf8')).toBe('a\n');

    await writeFiles(dir.path, { go: '' });
    const resumed = startOrdo(['run', 'plan.yaml', '--resume'], dir.path);
    expect((await resumed.exited).code).toBe(0);
    expect(resumed.stdout()).toMatch(
      /^feature nap: 2 tasks in 2 levels \(run .*, resuming: 1 already committed\)$/m,
    );
    expect(resumed.stdout()).toContain('task quick: skipped (committed before the resume)');
    expect(resumed.stdout()).toContain('task nap: committed 1 file');
    expect(resumed.stdout()).toMatch(/^✓ nap succeeded: 2\/2 tasks committed \(1 before the resume\)/m);
    expect(await readFile(join(dir.path, 'b.txt'), 'utf8')).toBe('b\n');
  });
});
