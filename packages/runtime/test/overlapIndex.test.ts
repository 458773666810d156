import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { mayOverlap } from '../src/internal/levelView.js';
import { earlierOverlaps, type OverlapTask } from '../src/internal/overlapIndex.js';

/** What the index replaces: every earlier-level task compared with every later one. */
function naive(tasks: readonly OverlapTask[]): string[][] {
  return tasks.map((task, seq) =>
    tasks
      .slice(0, seq)
      .filter((other) => other.level < task.level && mayOverlap(task.files, other.files))
      .map((other) => other.id),
  );
}

const file = fc.constantFrom(
  'a.txt',
  'src/b.ts',
  'src/c.ts',
  'docs/d.md',
  'src/**/*.ts',
  'docs/*',
  '**/*.txt',
  'x/y/z',
);

describe('earlierOverlaps', () => {
  it('property: equals the pairwise check on random level-ordered plans of literals and globs', () => {
    const plan = fc
      .array(fc.record({ level: fc.integer({ min: 0, max: 4 }), files: fc.array(file, { maxLength: 3 }) }), {
        maxLength: 40,
      })
      .map((tasks) =>
        tasks
          .map((t, i) => ({ ...t, id: `t${i}` }))
          .sort((x, y) => x.level - y.level || Number(x.id.slice(1)) - Number(y.id.slice(1))),
      );
    fc.assert(
      fc.property(plan, (tasks) => {
        expect(earlierOverlaps(tasks)).toEqual(naive(tasks));
      }),
      { numRuns: 500 },
    );
  });

  it('a plan of 20,000 literal-path tasks in 4 levels is indexed without comparing every pair', () => {
    const tasks = Array.from({ length: 20_000 }, (_, i) => ({
      id: `t${i}`,
      level: Math.floor(i / 5_000),
      files: [`out/${i % 5_000}.txt`],
    }));
    const overlaps = earlierOverlaps(tasks);
    // Each task overlaps the tasks of the same column in every earlier level, and nothing else.
    expect(overlaps[15_001]).toEqual(['t1', 't5001', 't10001']);
    expect(overlaps.reduce((sum, list) => sum + list.length, 0)).toBe(5_000 * (1 + 2 + 3));
  });
});
