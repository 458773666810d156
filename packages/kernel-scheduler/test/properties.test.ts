import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createScheduler, planLevels, planOrder, seededHash, verifyTrace } from '../src/index.js';
import { type Spec, tasksFrom } from './helpers.js';

const specs = (withDeps = false): fc.Arbitrary<Spec[]> =>
  fc.uniqueArray(fc.string({ minLength: 1, maxLength: 6 }), { maxLength: 24 }).chain((ids) =>
    fc.tuple(
      ...ids.map((id, index) =>
        fc.record({
          id: fc.constant(id),
          priority: fc.integer({ min: 0, max: 4 }),
          latency: fc.integer({ min: 0, max: 3 }),
          fails: fc.integer({ min: 0, max: 7 }).map((n) => n === 0),
          // Depending only on earlier ids keeps the graph acyclic.
          deps:
            withDeps && index > 0
              ? fc.uniqueArray(fc.constantFrom(...ids.slice(0, index)), { maxLength: 3 })
              : fc.constant([]),
        }),
      ),
    ),
  );

const concurrency = fc.integer({ min: 1, max: 16 });
const seed = fc.string({ maxLength: 8 });
const runs = { numRuns: 60 };

describe('properties', () => {
  it('commits in the planned order, every task once, and the digest ignores concurrency', async () => {
    await fc.assert(
      fc.asyncProperty(
        specs(),
        concurrency,
        concurrency,
        seed,
        fc.boolean(),
        async (list, c1, c2, s, failFast) => {
          const starts1: string[] = [];
          const starts2: string[] = [];
          await using one = createScheduler({ concurrency: c1, seed: s, failFast });
          await using two = createScheduler({ concurrency: c2, seed: s, failFast });
          const committed: string[] = [];
          const a = await one.schedule(tasksFrom(list, starts1), { onCommit: (r) => committed.push(r.id) });
          const b = await two.schedule(tasksFrom([...list].reverse(), starts2));

          const planned = planOrder(list, s).map((t) => t.id);
          expect(committed).toEqual(planned);
          expect(a.records.map((r) => r.id)).toEqual(planned);
          expect(a.trace.digest).toBe(b.trace.digest);
          expect(b.records.map((r) => [r.id, r.status, r.value])).toEqual(
            a.records.map((r) => [r.id, r.status, r.value]),
          );
          expect(verifyTrace(a.trace).ok).toBe(true);
          for (const starts of [starts1, starts2]) expect(new Set(starts).size).toBe(starts.length);
          if (!failFast) expect(starts1.sort()).toEqual([...planned].sort());
        },
      ),
      runs,
    );
  });

  it('with failFast, no task starts after the first committed failure', async () => {
    await fc.assert(
      fc.asyncProperty(specs(), concurrency, seed, async (list, c, s) => {
        const log: string[] = [];
        await using scheduler = createScheduler({ concurrency: c, seed: s, failFast: true });
        scheduler.on('start', (e) => log.push(`start ${e.id}`));
        const run = await scheduler.schedule(tasksFrom(list), {
          onCommit: (r) => log.push(`commit ${r.status}`),
        });
        const firstFailure = log.indexOf('commit failed');
        if (firstFailure === -1) {
          expect(run.ok).toBe(true);
          return;
        }
        expect(log.slice(firstFailure).filter((line) => line.startsWith('start'))).toEqual([]);
        const failedSeq = run.records.findIndex((r) => r.status === 'failed');
        expect(run.records.slice(failedSeq + 1).every((r) => r.status === 'cancelled')).toBe(true);
      }),
      runs,
    );
  });

  it('eager and levels modes agree on records and trace for random graphs', async () => {
    await fc.assert(
      fc.asyncProperty(specs(true), concurrency, seed, fc.boolean(), async (list, c, s, failFast) => {
        await using scheduler = createScheduler({ concurrency: c, seed: s, failFast });
        const eagerStarts: string[] = [];
        const eager = await scheduler.scheduleGraph(tasksFrom(list, eagerStarts), { mode: 'eager' });
        const levels = await scheduler.scheduleGraph(tasksFrom(list), { mode: 'levels' });
        const planned = planLevels(list, s).flatMap((level) => level.map((t) => t.id));
        expect(eager.records.map((r) => r.id)).toEqual(planned);
        expect(levels.records.map((r) => [r.id, r.status, r.value])).toEqual(
          eager.records.map((r) => [r.id, r.status, r.value]),
        );
        expect(levels.trace.digest).toBe(eager.trace.digest);
        // A task only ever starts after all of its dependencies succeeded.
        const ok = new Set(eager.records.filter((r) => r.status === 'ok').map((r) => r.id));
        for (const id of eagerStarts) {
          for (const dep of list.find((t) => t.id === id)?.deps ?? []) expect(ok.has(dep)).toBe(true);
        }
        expect(new Set(eagerStarts).size).toBe(eagerStarts.length);
      }),
      runs,
    );
  });

  it('planOrder does not depend on the input order and is a permutation', () => {
    fc.assert(
      fc.property(specs(), seed, (list, s) => {
        const forward = planOrder(list, s).map((t) => t.id);
        expect(planOrder([...list].reverse(), s).map((t) => t.id)).toEqual(forward);
        expect([...forward].sort()).toEqual(list.map((t) => t.id).sort());
        const priorities = planOrder(list, s).map((t) => t.priority);
        expect(priorities).toEqual([...priorities].sort((x, y) => x - y));
      }),
    );
  });

  /** The order as the README defines it: priority, then the seeded hash, then the id in UTF-16 order. */
  const referenceOrder = (list: readonly { id: string; priority?: number | undefined }[], seedText: string) =>
    [...list]
      .sort(
        (a, b) =>
          (a.priority ?? 2) - (b.priority ?? 2) ||
          seededHash(a.id, seedText) - seededHash(b.id, seedText) ||
          (a.id < b.id ? -1 : a.id > b.id ? 1 : 0),
      )
      .map((t) => t.id);

  /** Two ids whose seeded hashes collide under `seedText`, found by a birthday search. */
  const collision = (seedText: string): [string, string] => {
    const seen = new Map<number, string>();
    for (let i = 0; ; i++) {
      const id = `c${i}`;
      const other = seen.get(seededHash(id, seedText));
      if (other !== undefined) return [other, id];
      seen.set(seededHash(id, seedText), id);
    }
  };
  const colliding = collision('s');

  it('planOrder is the reference order for any priorities, and breaks hash collisions by id', () => {
    const priority = fc.option(
      fc.oneof(fc.integer({ min: 0, max: 4 }), fc.constantFrom(-1, 2.5, 16, 1e9, -0)),
      {
        nil: undefined,
      },
    );
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.string({ minLength: 1, maxLength: 4 }), { maxLength: 40 }),
        fc.array(priority, { minLength: 40, maxLength: 40 }),
        fc.boolean(),
        (ids, priorities, withCollision) => {
          const all = withCollision ? [...new Set([...ids, ...colliding])] : ids;
          const list = all.map((id, i) => ({ id, priority: priorities[i % priorities.length] }));
          if (withCollision) for (const t of list) if (colliding.includes(t.id)) t.priority = 1;
          expect(planOrder(list, 's').map((t) => t.id)).toEqual(referenceOrder(list, 's'));
        },
      ),
    );
    // The colliding pair itself, in both input orders: the smaller id first.
    const pair = colliding.map((id) => ({ id }));
    const expected = [...colliding].sort();
    expect(planOrder(pair, 's').map((t) => t.id)).toEqual(expected);
    expect(planOrder([...pair].reverse(), 's').map((t) => t.id)).toEqual(expected);
  });

  it('planOrder takes the same order past the packed fast path (more than 2^17 tasks)', () => {
    const list = Array.from({ length: 2 ** 17 + 5 }, (_, i) => ({ id: `t${i}`, priority: i % 3 }));
    const ordered = planOrder(list, 'big').map((t) => t.id);
    expect(ordered).toEqual(referenceOrder(list, 'big'));
  });
});
