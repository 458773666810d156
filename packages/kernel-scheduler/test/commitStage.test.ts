import { isOrdoError } from '@ordo/contracts';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createScheduler, type GraphTask, planLevels, verifyTrace } from '../src/index.js';
import { deferred, hops } from './helpers.js';

describe('the ordered commit stage', () => {
  it('calls commit hooks one at a time in commit order, and the trace digests what they return', async () => {
    await using scheduler = createScheduler({ concurrency: 8, seed: 's' });
    const calls: string[] = [];
    let inCommit = 0;
    const tasks = ['a', 'b', 'c', 'd', 'e'].map((id, i) => ({
      id,
      // later ids finish first
      run: async (): Promise<{ staged?: string; committed?: string }> => {
        await hops(10 - 2 * i);
        return { staged: id, handle: () => id } as { staged: string }; // never digested
      },
      commit: async (value: { staged?: string; committed?: string }) => {
        inCommit++;
        expect(inCommit).toBe(1);
        calls.push(value.staged as string);
        await hops(2);
        inCommit--;
        return { committed: value.staged as string };
      },
    }));
    const run = await scheduler.schedule(tasks);
    expect(calls).toEqual(run.records.map((r) => r.id));
    expect(run.records.map((r) => r.value)).toEqual(calls.map((id) => ({ committed: id })));
    expect(verifyTrace(run.trace).ok).toBe(true);

    // The same committed values without a commit stage give the same digest.
    await using plain = createScheduler({ concurrency: 8, seed: 's' });
    const same = await plain.schedule(tasks.map(({ id }) => ({ id, run: () => ({ committed: id }) })));
    expect(same.trace.digest).toBe(run.trace.digest);
  });

  it('a throwing commit records the task failed, and its dependents cancelled', async () => {
    await using scheduler = createScheduler({ seed: 's' });
    const run = await scheduler.scheduleGraph([
      { id: 'build', run: () => 'staged', commit: () => Promise.reject(new Error('disk full')) },
      { id: 'test', deps: ['build'], run: () => 'green' },
      {
        id: 'sync',
        run: () => 'x',
        commit: () => {
          throw new Error('sync throw');
        },
      },
    ]);
    const byId = Object.fromEntries(run.records.map((r) => [r.id, r]));
    expect(byId.build?.status).toBe('failed');
    expect((byId.build?.error as Error).message).toBe('disk full');
    expect(byId.sync?.status).toBe('failed');
    expect(byId.test?.status).toBe('cancelled');
    expect(isOrdoError(byId.test?.error, 'TASK_CANCELLED')).toBe(true);
  });

  it('is not called for a task that failed, and a dependent starts only after the commit returned', async () => {
    await using scheduler = createScheduler({ seed: 's', concurrency: 4 });
    const events: string[] = [];
    const gate = deferred();
    const run = await scheduler.scheduleGraph([
      {
        id: 'a',
        run: () => 'a',
        commit: async (v) => {
          events.push('commit a start');
          await gate.promise;
          events.push('commit a end');
          return v;
        },
      },
      {
        id: 'b',
        deps: ['a'],
        run: () => {
          events.push('run b');
          return 'b';
        },
      },
      {
        id: 'bad',
        run: () => {
          throw new Error('no');
        },
        commit: () => {
          events.push('commit bad');
          return 'x';
        },
      },
      {
        id: 'release',
        run: async () => {
          await hops(5);
          gate.resolve();
          return 'r';
        },
      },
    ]);
    expect(events.indexOf('run b')).toBeGreaterThan(events.indexOf('commit a end'));
    expect(events).not.toContain('commit bad');
    expect(run.records.find((r) => r.id === 'bad')?.status).toBe('failed');
  });

  it('a value the trace cannot digest fails the task at its commit', async () => {
    await using scheduler = createScheduler({ seed: 's' });
    const run = await scheduler.schedule([
      { id: 'big', run: () => 1, commit: () => 10n as unknown as number },
    ]);
    expect(run.records[0]?.status).toBe('failed');
    expect(isOrdoError(run.records[0]?.error, 'SCHEDULER_UNSERIALIZABLE')).toBe(true);
  });

  it('an abort during a commit waits for it: that task keeps its outcome, the later ones are cancelled', async () => {
    await using scheduler = createScheduler({ seed: 's', concurrency: 4 });
    const controller = new AbortController();
    const gate = deferred();
    let finished = false;
    const ids = ['one', 'two', 'three'];
    const first = planLevels(
      ids.map((id) => ({ id })),
      's',
    )[0]?.[0]?.id as string;
    const tasks = ids.map((id) => ({
      id,
      run: () => id,
      commit: async (v: string) => {
        if (id === first) {
          controller.abort(new Error('stop'));
          await gate.promise;
          finished = true;
        }
        return v;
      },
    }));
    const ended = new Promise<unknown>((resolve) => scheduler.once('end', (run) => resolve(run)));
    const result = scheduler.schedule(tasks, { signal: controller.signal });
    await hops(3);
    expect(finished).toBe(false);
    gate.resolve();
    await expect(result).rejects.toThrow('stop');
    const run = (await ended) as { records: { id: string; status: string }[] };
    expect(finished).toBe(true);
    expect(run.records[0]).toMatchObject({ id: first, status: 'ok' });
    expect(run.records.slice(1).map((r) => r.status)).toEqual(['cancelled', 'cancelled']);
  });

  it("a commit's signal aborts with the stop's error; a commit that gives up with it is recorded cancelled", async () => {
    for (const how of ['abort', 'close'] as const) {
      const scheduler = createScheduler({ seed: 's', concurrency: 2 });
      const controller = new AbortController();
      const seen: AbortSignal[] = [];
      const tasks = ['one', 'two'].map((id) => ({
        id,
        run: () => id,
        commit: (v: string, context: { signal: AbortSignal }) => {
          seen.push(context.signal);
          if (how === 'abort') controller.abort(new Error('stop'));
          else void scheduler.close();
          // A commit waiting on something that honours the signal.
          return new Promise<string>((resolve, reject) => {
            if (context.signal.aborted) reject(context.signal.reason);
            context.signal.addEventListener('abort', () => reject(context.signal.reason), { once: true });
            setTimeout(() => resolve(v), 5_000).unref();
          });
        },
      }));
      const ended = new Promise<unknown>((resolve) => scheduler.once('end', (run) => resolve(run)));
      const result = scheduler.schedule(tasks, { signal: controller.signal });
      await expect(result).rejects.toBeDefined();
      const run = (await ended) as { records: { status: string; error?: unknown }[] };
      expect(seen, how).toHaveLength(1);
      expect(seen[0]?.aborted, how).toBe(true);
      if (how === 'abort') expect((seen[0]?.reason as Error).message).toBe('stop');
      expect(
        run.records.map((r) => r.status),
        how,
      ).toEqual(['cancelled', 'cancelled']);
      expect(isOrdoError(run.records[0]?.error, 'TASK_CANCELLED'), how).toBe(true);
      await scheduler.close();
    }
  });

  it('with failFast, a failed commit cancels every later task, and their commits never run', async () => {
    await using scheduler = createScheduler({ seed: 's', failFast: true, concurrency: 4 });
    const committed: string[] = [];
    const ids = ['a', 'b', 'c', 'd'];
    const order = planLevels(
      ids.map((id) => ({ id })),
      's',
    )[0]?.map((t) => t.id) as string[];
    const run = await scheduler.schedule(
      ids.map((id) => ({
        id,
        run: () => id,
        commit: (v: string) => {
          committed.push(id);
          if (id === order[1]) throw new Error('commit failed');
          return v;
        },
      })),
    );
    expect(committed).toEqual(order.slice(0, 2));
    expect(run.records.map((r) => r.status)).toEqual(['ok', 'failed', 'cancelled', 'cancelled']);
    expect(verifyTrace(run.trace).ok).toBe(true);
  });

  it('rejects a commit that is not a function', async () => {
    await using scheduler = createScheduler();
    await expect(
      scheduler.schedule([{ id: 'a', run: () => 1, commit: 'yes' as unknown as () => number }]),
    ).rejects.toMatchObject({ code: 'SCHEDULER_INVALID_TASK' });
  });
});

describe('after: ordering constraints', () => {
  it('starts a task only once the tasks it is ordered after committed, whatever their status', async () => {
    await using scheduler = createScheduler({ seed: 's', concurrency: 4 });
    const events: string[] = [];
    const [first, second] = planLevels([{ id: 'x' }, { id: 'y' }], 's')[0] as { id: string }[];
    const run = await scheduler.scheduleGraph([
      {
        id: first?.id as string,
        run: async () => {
          await hops(5);
          events.push('first done');
          throw new Error('first fails');
        },
      },
      {
        id: second?.id as string,
        after: [first?.id as string],
        run: () => {
          events.push('second start');
          return 'ok';
        },
      },
    ]);
    expect(events).toEqual(['first done', 'second start']);
    expect(run.records.map((r) => r.status)).toEqual(['failed', 'ok']);
  });

  it('rejects an unknown id, an id later in commit order and a malformed list', async () => {
    await using scheduler = createScheduler({ seed: 's' });
    await expect(
      scheduler.scheduleGraph([{ id: 'a', after: ['ghost'], run: () => 1 }]),
    ).rejects.toMatchObject({ code: 'SCHEDULER_UNKNOWN_DEP', details: { id: 'a', dependency: 'ghost' } });
    await expect(
      scheduler.scheduleGraph([
        { id: 'a', after: ['b'], run: () => 1 },
        { id: 'b', deps: ['a'], run: () => 1 },
      ]),
    ).rejects.toMatchObject({ code: 'SCHEDULER_INVALID_TASK', details: { id: 'a', after: 'b' } });
    await expect(
      scheduler.scheduleGraph([{ id: 'a', after: 'b' as unknown as string[], run: () => 1 }]),
    ).rejects.toMatchObject({ code: 'SCHEDULER_INVALID_TASK' });
    await expect(scheduler.scheduleGraph([{ id: 'a', after: ['a'], run: () => 1 }])).rejects.toMatchObject({
      code: 'SCHEDULER_INVALID_TASK',
    });
  });
});

interface Node {
  id: string;
  deps: string[];
  after: string[];
  latency: number;
  commitLatency: number;
  fails: boolean;
  commitFails: boolean;
}

/** Random graphs whose `after` lists name tasks earlier in commit order. */
const graphs = (seed: string) =>
  fc
    .uniqueArray(fc.string({ minLength: 1, maxLength: 4 }), { minLength: 1, maxLength: 16 })
    .chain((ids) =>
      fc.tuple(
        ...ids.map((id, index) =>
          fc.record({
            id: fc.constant(id),
            deps:
              index > 0
                ? fc.uniqueArray(fc.constantFrom(...ids.slice(0, index)), { maxLength: 2 })
                : fc.constant([]),
            afterPicks: fc.array(fc.nat(), { maxLength: 3 }),
            latency: fc.integer({ min: 0, max: 4 }),
            commitLatency: fc.integer({ min: 0, max: 2 }),
            fails: fc.integer({ min: 0, max: 6 }).map((n) => n === 0),
            commitFails: fc.integer({ min: 0, max: 6 }).map((n) => n === 0),
          }),
        ),
      ),
    )
    .map((raw): Node[] => {
      const order = planLevels(raw, seed)
        .flat()
        .map((t) => t.id);
      return raw.map(({ afterPicks, ...node }) => {
        const before = order.slice(0, order.indexOf(node.id));
        const after =
          before.length === 0 ? [] : [...new Set(afterPicks.map((p) => before[p % before.length] as string))];
        return { ...node, deps: [...node.deps], after };
      });
    });

function build(nodes: readonly Node[], log: string[], committed: Set<string>, violations: string[]) {
  let inCommit = 0;
  return nodes.map(
    (node): GraphTask<string> => ({
      id: node.id,
      deps: node.deps,
      after: node.after,
      run: async () => {
        for (const id of [...node.deps, ...node.after]) {
          if (!committed.has(id)) violations.push(`${node.id} started before ${id} committed`);
        }
        await hops(node.latency);
        if (node.fails) throw new Error(`boom ${node.id}`);
        return `staged ${node.id}`;
      },
      commit: async (value) => {
        if (++inCommit !== 1) violations.push(`${node.id}: two commits at once`);
        if (!committed.has(node.id) && log.includes(node.id)) violations.push(`${node.id}: committed twice`);
        log.push(node.id);
        await hops(node.commitLatency);
        inCommit--;
        if (node.commitFails) throw new Error(`commit ${node.id} failed`);
        return `committed ${value}`;
      },
    }),
  );
}

describe('commit stage and after (properties)', () => {
  it('commits in the planned order, never two at once, never before the constraints, same digest at any concurrency and mode', async () => {
    const seed = 'prop';
    await fc.assert(
      fc.asyncProperty(
        graphs(seed),
        fc.integer({ min: 1, max: 8 }),
        fc.constantFrom<'eager' | 'levels'>('eager', 'levels'),
        async (nodes, concurrency, mode) => {
          const digests: string[] = [];
          for (const c of [1, concurrency]) {
            await using scheduler = createScheduler({ seed, concurrency: c });
            const log: string[] = [];
            const committed = new Set<string>();
            const violations: string[] = [];
            const onCommit = (record: { id: string }) => {
              committed.add(record.id);
            };
            const run = await scheduler.scheduleGraph(build(nodes, log, committed, violations), {
              mode,
              onCommit,
            });
            expect(violations).toEqual([]);
            // hooks ran in commit order, and every task recorded ok went through its commit stage
            const order = run.trace.order;
            expect(log).toEqual([...log].sort((a, b) => order.indexOf(a) - order.indexOf(b)));
            for (const record of run.records) {
              if (record.status === 'ok') {
                expect(log).toContain(record.id);
                expect(record.value).toBe(`committed staged ${record.id}`);
              }
            }
            expect(verifyTrace(run.trace).ok).toBe(true);
            digests.push(run.trace.digest);
          }
          expect(digests[1]).toBe(digests[0]);
        },
      ),
      { numRuns: 60 },
    );
  });
});
