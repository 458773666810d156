import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRuntime, type PlanInput, type PlanTaskInput, type Runtime } from '../src/index.js';
import { fixture, readTree, tempWorkspace } from './helpers/workspace.js';

const tasks = fixture('tasks.mjs');

/** A small random DAG: task i may depend on any earlier task; each writes its own file and reads its deps'. */
const dagArbitrary = fc.integer({ min: 1, max: 7 }).chain((n) =>
  fc.tuple(
    fc.tuple(...Array.from({ length: n }, (_, i) => fc.subarray(Array.from({ length: i }, (_, j) => j)))),
    fc.array(fc.constantFrom('HIGH', 'NORMAL', 'LOW') as fc.Arbitrary<'HIGH' | 'NORMAL' | 'LOW'>, {
      minLength: n,
      maxLength: n,
    }),
    fc.array(fc.integer({ min: 0, max: 25 }), { minLength: n, maxLength: n }),
    fc.integer({ min: 0, max: 1000 }),
  ),
);

describe('trace digest', () => {
  let serial: { runtime: Runtime; ws: string };
  let parallel: { runtime: Runtime; ws: string };
  beforeAll(async () => {
    const [a, b] = [await tempWorkspace(), await tempWorkspace()];
    serial = { ws: a, runtime: await createRuntime({ workspace: a, workers: 1 }) };
    parallel = { ws: b, runtime: await createRuntime({ workspace: b, workers: 4 }) };
  });
  afterAll(async () => {
    await serial?.runtime.close();
    await parallel?.runtime.close();
  });

  it('is the same at concurrency 1 and 4, whatever the DAG and the timing', async () => {
    let run = 0;
    await fc.assert(
      fc.asyncProperty(dagArbitrary, async ([deps, priorities, delays, seed]) => {
        const prefix = `r${run++}`;
        const file = (i: number) => `${prefix}/t${i}.txt`;
        const planTasks: PlanTaskInput[] = deps.map((d, i) => ({
          id: `t${i}`,
          deps: d.map((j) => `t${j}`),
          priority: priorities[i],
          files: [file(i), ...d.map(file)],
          run: {
            module: tasks,
            export: 'combine',
            input: { path: file(i), reads: d.map(file), delayMs: delays[i] },
          },
        }));
        const plan: PlanInput = { feature: `dag-${prefix}`, seed, tasks: planTasks };
        const one = await serial.runtime.runFeature(plan);
        const four = await parallel.runtime.runFeature(plan);
        expect(one.status).toBe('succeeded');
        expect(four.traceDigest).toBe(one.traceDigest);
        expect(four.tasks.map((t) => t.id)).toEqual(one.tasks.map((t) => t.id));
        expect(four.diff).toBe(one.diff);
      }),
      { numRuns: 5 },
    );
    expect(await readTree(parallel.ws)).toEqual(await readTree(serial.ws));
  }, 120_000);

  it('changes with the seed and the edits', async () => {
    const base: PlanInput = {
      feature: 'digest',
      tasks: [{ id: 'a', files: ['d/a.txt'], run: { shell: 'mkdir -p d; echo a > d/a.txt' } }],
    };
    const first = await serial.runtime.runFeature(base);
    const reseeded = await serial.runtime.runFeature({ ...base, seed: 9 });
    const edited = await serial.runtime.runFeature({
      ...base,
      tasks: [{ id: 'a', files: ['d/a.txt'], run: { shell: 'echo b > d/a.txt' } }],
    });
    // The feature's name is not in its trace (the trace is stored under it): only seed, order and results are.
    const digests = [first, reseeded, edited].map((r) => r.traceDigest);
    expect(new Set(digests).size).toBe(3);
  });
});
