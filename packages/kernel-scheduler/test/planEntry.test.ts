import { describe, expect, it } from 'vitest';
import * as main from '../src/index.js';
import * as plan from '../src/plan.js';

describe('@ordo/kernel-scheduler/plan', () => {
  it('exports the same functions and error class as the main entry', () => {
    expect(plan.planLevels).toBe(main.planLevels);
    expect(plan.planOrder).toBe(main.planOrder);
    expect(plan.seededHash).toBe(main.seededHash);
    expect(plan.SchedulerError).toBe(main.SchedulerError);
    expect(plan.SchedulerErrorCode).toBe(main.SchedulerErrorCode);
  });

  it('plans levels and throws the main entry’s SchedulerError for a cycle', () => {
    expect(
      plan.planLevels([{ id: 'b', deps: ['a'] }, { id: 'a' }]).map((level) => level.map((t) => t.id)),
    ).toEqual([['a'], ['b']]);
    const cycle = () =>
      plan.planLevels([
        { id: 'a', deps: ['b'] },
        { id: 'b', deps: ['a'] },
      ]);
    expect(cycle).toThrow(main.SchedulerError);
    expect(cycle).toThrow(expect.objectContaining({ code: 'SCHEDULER_CYCLE' }));
  });
});
