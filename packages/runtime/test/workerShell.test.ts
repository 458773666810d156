import { describe, expect, it } from 'vitest';
import { createRuntime } from '../src/index.js';
import { readTree, tempWorkspace } from './helpers/workspace.js';

// Real subprocess workers running shell tasks on their persistent bash.

/** Leaves every kind of shell state behind it that a later task could see. */
const DIRTY = [
  'echo "$$" > a.txt',
  'echo "$BASHPID" >> a.txt',
  'mkdir -p sub && cd sub',
  'export LEAK=exported',
  'plain=shell-variable',
  'f() { echo from-a; }',
  "trap 'echo trapped' USR1",
  'shopt -s extglob nullglob',
  'set -o noclobber',
  'umask 077',
  "alias ll='echo aliased'",
  'cd "$OLDPWD"',
  'echo done >> a.txt',
].join('\n');

/** Reports what it sees of that state, one line each. */
const PROBE = [
  'echo "$$" > b.txt',
  'echo "$BASHPID" >> b.txt',
  'echo "cwd=$([ -d sub ] && echo has-sub || echo clean) $(basename "$PWD" | cut -c1-10)" >> b.txt',
  // biome-ignore lint/suspicious/noTemplateCurlyInString: a bash expansion, not a template
  'echo "LEAK=${LEAK-unset} plain=${plain-unset}" >> b.txt',
  'echo "f=$(type -t f || echo none)" >> b.txt',
  'echo "trap=$(trap -p USR1)" >> b.txt',
  'echo "extglob=$(shopt -q extglob && echo on || echo off) nullglob=$(shopt -q nullglob && echo on || echo off)" >> b.txt',
  'echo "noclobber=$([[ -o noclobber ]] && echo on || echo off)" >> b.txt',
  'echo "umask=$(umask)" >> b.txt',
  'echo "alias=$(alias ll 2>/dev/null || echo none)" >> b.txt',
  'echo "task=$ORDO_TASK_ID" >> b.txt',
].join('\n');

describe('shell tasks on the worker', { timeout: 60_000 }, () => {
  it('share one bash per worker but none of the previous task’s state', async () => {
    const ws = await tempWorkspace();
    await using runtime = await createRuntime({ workspace: ws, workers: 1 });
    const result = await runtime.runFeature({
      feature: 'shells',
      tasks: [
        { id: 'dirty', files: ['a.txt', 'sub/**'], run: { shell: DIRTY } },
        { id: 'probe', deps: ['dirty'], files: ['b.txt'], run: { shell: PROBE } },
      ],
    });
    expect(result.status).toBe('succeeded');
    const tree = await readTree(ws);
    const [pidA, subshellA] = (tree['a.txt'] ?? '').split('\n');
    const lines = (tree['b.txt'] ?? '').trimEnd().split('\n');
    const [pidB, subshellB, ...seen] = lines;
    expect(pidA).toMatch(/^\d+$/);
    expect(pidB).toBe(pidA); // the same bash ran both
    expect(subshellB).not.toBe(subshellA); // each in a fresh subshell
    expect(seen).toEqual([
      expect.stringMatching(/^cwd=clean ordo-task-/),
      'LEAK=unset plain=unset',
      'f=none',
      'trap=',
      'extglob=off nullglob=off',
      'noclobber=off',
      expect.stringMatching(/^umask=00[0-2][0-2]$/),
      'alias=none',
      'task=probe',
    ]);
  });

  it('keeps the worker usable after a cancelled or failing command (the shell is replaced)', async () => {
    const ws = await tempWorkspace();
    await using runtime = await createRuntime({ workspace: ws, workers: 1 });
    const result = await runtime.runFeature({
      feature: 'shells-after-kill',
      tasks: [
        { id: 'slow', files: ['s.txt'], timeoutMs: 300, run: { shell: 'echo $$ > s.txt; sleep 30' } },
        { id: 'bad', files: ['x.txt'], run: { shell: 'echo oops >&2; exit 3' } },
        { id: 'next', deps: [], files: ['n.txt'], run: { shell: 'echo "$$" > n.txt' } },
      ],
    });
    const byId = Object.fromEntries(result.tasks.map((t) => [t.id, t]));
    expect(byId.slow?.error?.code).toBe('TASK_TIMEOUT');
    expect(byId.bad?.error?.code).toBe('TASK_FAILED');
    expect(byId.bad?.error?.message).toContain('exited with code 3');
    expect(byId.bad?.error?.message).toContain('oops');
    expect(byId.next?.status).toBe('committed');
    expect((await readTree(ws))['n.txt']).toMatch(/^\d+\n$/);
  });
});
