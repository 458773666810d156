import { isOrdoError } from '@ordo/contracts';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createScheduler, type GraphTask, planLevels, planOrder } from '../src/index.js';
import { deferred, hops } from './helpers.js';

const idsOf = (levels: { id: string }[][]) => levels.map((level) => level.map((t) => t.id));

describe('planLevels', () => {
  it('splits a graph into Kahn levels, each in the deterministic order', () => {
    const tasks = [
      { id: 'deploy', deps: ['test', 'lint'] },
      { id: 'test', deps: ['build'] },
      { id: 'lint' },
      { id: 'build' },
      { id: 'docs', deps: ['build', 'build'] },
    ];
    const levels = idsOf(planLevels(tasks, 'seed'));
    expect(levels).toHaveLength(3);
    expect(levels[0]).toEqual(planOrder([{ id: 'lint' }, { id: 'build' }], 'seed').map((t) => t.id));
    expect(levels[1]).toEqual(planOrder([{ id: 'test' }, { id: 'docs' }], 'seed').map((t) => t.id));
    expect(levels[2]).toEqual(['deploy']);
    expect(idsOf(planLevels([...tasks].reverse(), 'seed'))).toEqual(levels);
  });

  it('orders a later level by when each task becomes ready (its last dependency), priority first', () => {
    const roots = Array.from({ length: 8 }, (_, i) => ({ id: `a${i}` }));
    const rootOrder = planOrder(roots, 's').map((t) => t.id);
    // b_i depends on a_i; b_urgent (priority 0) on the last root: it still comes first.
    const children = [
      ...roots.map((r, i) => ({ id: `b${i}`, deps: [r.id] })),
      { id: 'b-urgent', priority: 0, deps: [rootOrder.at(-1) as string] },
      { id: 'b-both', deps: [rootOrder[0] as string, rootOrder[1] as string] },
    ];
    const [first, second] = idsOf(planLevels([...children, ...roots], 's'));
    expect(first).toEqual(rootOrder);
    const expected = [
      'b-urgent',
      ...rootOrder.flatMap((a, i) => (i === 1 ? [`b${a.slice(1)}`, 'b-both'] : [`b${a.slice(1)}`])),
    ];
    // b-both is ready with the second root; it ties with that root's child, which the seeded order breaks.
    expect(second?.filter((id) => id !== 'b-both')).toEqual(expected.filter((id) => id !== 'b-both'));
    const both = second?.indexOf('b-both') as number;
    expect(both === 2 || both === 3).toBe(true);
  });

  it('property: every later level is in (priority, ready position, seeded order) order; levels are Kahn levels', () => {
    const graph = fc
      .integer({ min: 1, max: 30 })
      .chain((n) =>
        fc.tuple(
          fc.array(fc.integer({ min: 0, max: 4 }), { minLength: n, maxLength: n }),
          fc.array(fc.array(fc.nat(), { maxLength: 3 }), { minLength: n, maxLength: n }),
          fc.string({ maxLength: 4 }),
        ),
      );
    fc.assert(
      fc.property(graph, ([priorities, depPicks, seed]) => {
        // Task i may depend only on tasks before it: always a DAG.
        const tasks = priorities.map((priority, i) => ({
          id: `t${i}`,
          priority,
          deps: i === 0 ? [] : (depPicks[i] ?? []).map((d) => `t${d % i}`),
        }));
        const levels = planLevels(tasks, seed);
        const position = new Map(levels.flat().map((t, i) => [t.id, i]));
        const levelOf = new Map(levels.flatMap((l, k) => l.map((t) => [t.id, k] as const)));
        for (const task of tasks) {
          const depLevels = task.deps.map((d) => levelOf.get(d) as number);
          expect(levelOf.get(task.id)).toBe(depLevels.length === 0 ? 0 : Math.max(...depLevels) + 1);
        }
        levels.forEach((level, k) => {
          const ready = (t: (typeof tasks)[number]) =>
            k === 0 ? -1 : Math.max(-1, ...t.deps.map((d) => position.get(d) as number));
          const seeded = planOrder(level, seed).map((t) => t.id);
          const expected = [...seeded]
            .map((id) => tasks.find((t) => t.id === id) as (typeof tasks)[number])
            .sort((a, b) => a.priority - b.priority || ready(a) - ready(b))
            .map((t) => t.id);
          expect(level.map((t) => t.id)).toEqual(expected);
        });
      }),
      { numRuns: 300 },
    );
  });

  it('names the ids on a cycle', () => {
    const error = (() => {
      try {
        planLevels(
          [
            { id: 'root' },
            { id: 'a', deps: ['root', 'c'] },
            { id: 'b', deps: ['a'] },
            { id: 'c', deps: ['b'] },
            { id: 'after', deps: ['c'] },
          ],
          's',
        );
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(isOrdoError(error, 'SCHEDULER_CYCLE')).toBe(true);
    const cycle = (error as { details: { cycle: string[] } }).details.cycle;
    expect([...cycle].sort()).toEqual(['a', 'b', 'c']);
    expect((error as Error).message).toMatch(/cycle: (\w+ -> ){3}\w+/);
  });

  it('reports a task that depends on itself as a cycle', () => {
    expect(() => planLevels([{ id: 'self', deps: ['self'] }], 's')).toThrow(
      expect.objectContaining({ code: 'SCHEDULER_CYCLE', details: { cycle: ['self'] } }),
    );
  });

  it('rejects unknown dependencies and duplicate ids', () => {
    expect(() => planLevels([{ id: 'a', deps: ['ghost'] }], 's')).toThrow(
      expect.objectContaining({ code: 'SCHEDULER_UNKNOWN_DEP', details: { id: 'a', dependency: 'ghost' } }),
    );
    expect(() => planLevels([{ id: 'a' }, { id: 'a' }], 's')).toThrow(
      expect.objectContaining({ code: 'SCHEDULER_DUPLICATE_ID' }),
    );
  });
});

describe('scheduleGraph', () => {
  // A seed that puts build before slow-lint in level 0, so build can commit while slow-lint still runs.
  const seed = Array.from({ length: 50 }, (_, i) => `s${i}`).find(
    (s) => planOrder([{ id: 'build' }, { id: 'slow-lint' }], s)[0]?.id === 'build',
  ) as string;
  const graph = (log: string[], gates?: Map<string, Promise<void>>): GraphTask<string>[] =>
    [
      { id: 'build' },
      { id: 'slow-lint' },
      { id: 'test', deps: ['build'] },
      { id: 'package', deps: ['test'] },
    ].map((spec) => ({
      ...spec,
      run: async () => {
        log.push(`start ${spec.id}`);
        await gates?.get(spec.id);
        return spec.id;
      },
    }));

  it('eager mode starts a task as soon as its dependencies committed', async () => {
    await using scheduler = createScheduler({ concurrency: 4, seed });
    const lint = deferred();
    const log: string[] = [];
    const running = scheduler.scheduleGraph(graph(log, new Map([['slow-lint', lint.promise]])), {
      mode: 'eager',
    });
    await hops(5);
    // test started as soon as build committed; package waits for test, which commits after slow-lint.
    expect(log).toEqual(['start build', 'start slow-lint', 'start test']);
    lint.resolve();
    const run = await running;
    expect(run.records.map((r) => r.id)).toEqual(['build', 'slow-lint', 'test', 'package']);
    expect(run.records.map((r) => r.status)).toEqual(['ok', 'ok', 'ok', 'ok']);
  });

  it('levels mode waits for a whole level before the next one starts', async () => {
    await using scheduler = createScheduler({ concurrency: 4, seed });
    const lint = deferred();
    const log: string[] = [];
    const running = scheduler.scheduleGraph(graph(log, new Map([['slow-lint', lint.promise]])), {
      mode: 'levels',
    });
    await hops(5);
    expect(log.sort()).toEqual(['start build', 'start slow-lint']);
    lint.resolve();
    const run = await running;
    expect(run.records.map((r) => r.id).slice(2)).toEqual(['test', 'package']);
  });

  it('both modes commit the same records and the same trace', async () => {
    await using scheduler = createScheduler({ concurrency: 2, seed: 'same' });
    const eager = await scheduler.scheduleGraph(graph([]), { mode: 'eager' });
    const levels = await scheduler.scheduleGraph(graph([]), { mode: 'levels' });
    expect(levels.records.map((r) => [r.id, r.status, r.value])).toEqual(
      eager.records.map((r) => [r.id, r.status, r.value]),
    );
    expect(levels.trace.digest).toBe(eager.trace.digest);
  });

  it.each([
    'eager',
    'levels',
  ] as const)('%s: a failed dependency cancels its dependents, transitively', async (mode) => {
    await using scheduler = createScheduler({ seed: 's' });
    const started: string[] = [];
    const tasks: GraphTask[] = [
      {
        id: 'build',
        run: () => {
          started.push('build');
          throw new Error('compile error');
        },
      },
      { id: 'test', deps: ['build'], run: () => started.push('test') },
      { id: 'package', deps: ['test'], run: () => started.push('package') },
      { id: 'lint', run: () => started.push('lint') },
    ];
    const run = await scheduler.scheduleGraph(tasks, { mode });
    const byId = Object.fromEntries(run.records.map((r) => [r.id, r]));
    expect(byId.build?.status).toBe('failed');
    expect(byId.test?.status).toBe('cancelled');
    expect(byId.package?.status).toBe('cancelled');
    expect(byId.lint?.status).toBe('ok');
    expect(byId.test?.error).toMatchObject({
      code: 'TASK_CANCELLED',
      details: { reason: 'dependency', dependency: 'build' },
    });
    expect(byId.package?.error).toMatchObject({ details: { dependency: 'test' } });
    expect(started.sort()).toEqual(['build', 'lint']);
  });

  it('rejects cycles and unknown dependencies before anything runs', async () => {
    await using scheduler = createScheduler();
    let ran = false;
    const run = () => {
      ran = true;
    };
    await expect(
      scheduler.scheduleGraph([
        { id: 'a', deps: ['b'], run },
        { id: 'b', deps: ['a'], run },
        { id: 'c', run },
      ]),
    ).rejects.toMatchObject({ code: 'SCHEDULER_CYCLE' });
    await expect(scheduler.scheduleGraph([{ id: 'a', deps: ['nope'], run }])).rejects.toMatchObject({
      code: 'SCHEDULER_UNKNOWN_DEP',
    });
    expect(ran).toBe(false);
  });
});
