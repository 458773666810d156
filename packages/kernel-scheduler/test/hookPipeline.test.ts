import { isOrdoError } from '@ordo/contracts';
import { ManualClock } from '@ordo/contracts/testing';
import { describe, expect, it } from 'vitest';
import { createHookPipeline, createScheduler, type HookDefinition, type Task } from '../src/index.js';
import { deferred, hops } from './helpers.js';

const noop = () => undefined;

describe('createHookPipeline', () => {
  it('creates a hook once under 50 concurrent first uses', async () => {
    let creations = 0;
    const gate = deferred();
    let calls = 0;
    const pipeline = createHookPipeline({
      hooks: [
        {
          name: 'slow-init',
          phase: 'pre',
          create: async () => {
            creations++;
            await gate.promise;
            return () => {
              calls++;
              return undefined;
            };
          },
        },
      ],
    });
    await using scheduler = createScheduler({ concurrency: 50 });
    const tasks: Task[] = Array.from({ length: 50 }, (_, i) => pipeline.wrap({ id: `t${i}`, run: () => i }));
    const running = scheduler.schedule(tasks);
    await hops(3);
    expect(creations).toBe(1);
    gate.resolve();
    const run = await running;
    expect(run.ok).toBe(true);
    expect(creations).toBe(1);
    expect(calls).toBe(50);
    expect(pipeline.createdCount).toBe(1);
    await pipeline.close();
  });

  it('does not cache a failed init: the task fails and the next use retries', async () => {
    let attempts = 0;
    await using pipeline = createHookPipeline({
      hooks: [
        {
          name: 'flaky',
          phase: 'pre',
          create: () => {
            attempts++;
            if (attempts === 1) throw new Error('database not up yet');
            return noop;
          },
        },
      ],
    });
    await using scheduler = createScheduler({ concurrency: 1 });
    const first = await scheduler.schedule([pipeline.wrap({ id: 'a', run: () => 'a' })]);
    const error = first.records[0]?.error;
    expect(isOrdoError(error, 'HOOK_INIT_FAILED')).toBe(true);
    expect((error as Error).cause).toMatchObject({ message: 'database not up yet' });
    const second = await scheduler.schedule([pipeline.wrap({ id: 'a', run: () => 'a' })]);
    expect(second.records[0]?.value).toBe('a');
    expect(attempts).toBe(2);
  });

  it('a pre hook can deny a task, which then never runs', async () => {
    let ran = false;
    await using pipeline = createHookPipeline({
      hooks: [
        {
          name: 'policy',
          phase: 'pre',
          create: () => (ctx) => (ctx.id.startsWith('rm-') ? { deny: 'no deletes in CI' } : undefined),
        },
      ],
    });
    await using scheduler = createScheduler();
    const run = await scheduler.schedule<unknown>([
      pipeline.wrap({ id: 'rm-rf', run: () => (ran = true) }),
      pipeline.wrap({ id: 'ls', run: () => 'listing' }),
    ]);
    const denied = run.records.find((r) => r.id === 'rm-rf');
    expect(denied?.status).toBe('failed');
    expect(denied?.error).toMatchObject({
      code: 'HOOK_DENIED',
      details: { hook: 'policy', reason: 'no deletes in CI', phase: 'pre' },
    });
    expect(ran).toBe(false);
    expect(run.records.find((r) => r.id === 'ls')?.value).toBe('listing');
  });

  it('runs hooks without `after` in parallel and respects `after` ordering', async () => {
    const log: string[] = [];
    const gates = { a: deferred(), b: deferred() };
    const hook =
      (name: 'a' | 'b'): HookDefinition['create'] =>
      () =>
      async () => {
        log.push(`${name} start`);
        await gates[name].promise;
        log.push(`${name} end`);
        return undefined;
      };
    await using pipeline = createHookPipeline({
      hooks: [
        { name: 'last', phase: 'pre', after: ['a', 'b'], create: () => () => void log.push('last') },
        { name: 'a', phase: 'pre', create: hook('a') },
        { name: 'b', phase: 'pre', create: hook('b') },
        { name: 'post', phase: 'post', create: () => (ctx) => void log.push(`post ${ctx.outcome?.status}`) },
      ],
    });
    await using scheduler = createScheduler();
    const running = scheduler.schedule([pipeline.wrap({ id: 't', run: () => void log.push('task') })]);
    await hops(3);
    expect(log).toEqual(['a start', 'b start']);
    gates.b.resolve();
    await hops(2);
    expect(log).toEqual(['a start', 'b start', 'b end']);
    gates.a.resolve();
    await running;
    expect(log).toEqual(['a start', 'b start', 'b end', 'a end', 'last', 'task', 'post ok']);
  });

  it('post hooks see failures, and a post hook can deny a result', async () => {
    const seen: unknown[] = [];
    await using pipeline = createHookPipeline({
      hooks: [
        {
          name: 'validate',
          phase: 'post',
          create: () => (ctx) => {
            seen.push(ctx.outcome);
            return ctx.outcome?.status === 'ok' && ctx.outcome.value === 'secret'
              ? { deny: 'leaks' }
              : undefined;
          },
        },
      ],
    });
    await using scheduler = createScheduler({ seed: 's' });
    const boom = new Error('boom');
    const run = await scheduler.schedule([
      pipeline.wrap({
        id: 'fails',
        run: () => {
          throw boom;
        },
      }),
      pipeline.wrap({ id: 'leaks', run: () => 'secret' }),
    ]);
    const byId = Object.fromEntries(run.records.map((r) => [r.id, r]));
    expect(byId.fails?.error).toBe(boom);
    expect(byId.leaks?.error).toMatchObject({ code: 'HOOK_DENIED', details: { phase: 'post' } });
    expect(seen).toContainEqual({ status: 'failed', error: boom });
  });

  it('shares per-run state among hooks and evicts it by TTL on the clock', async () => {
    const clock = new ManualClock();
    await using pipeline = createHookPipeline({
      contextTtlMs: 1_000,
      clock,
      hooks: [
        {
          name: 'count',
          phase: 'pre',
          create: () => (ctx) => {
            ctx.state.set('count', ((ctx.state.get('count') as number | undefined) ?? 0) + 1);
            return undefined;
          },
        },
      ],
    });
    await using scheduler = createScheduler();
    const tasks = ['a', 'b', 'c'].map((id) => pipeline.wrap({ id, run: noop }));
    await scheduler.schedule(tasks, { runId: 'r1' });
    await scheduler.schedule(tasks, { runId: 'r2' });
    expect(pipeline.runState('r1')?.get('count')).toBe(3);
    expect(pipeline.contextCount).toBe(2);

    clock.advance(600);
    expect(pipeline.runState('r2')?.get('count')).toBe(3); // a read refreshes r2's age
    clock.advance(600);
    expect(pipeline.contextCount).toBe(1);
    expect(pipeline.runState('r1')).toBeUndefined();
    clock.advance(1_001);
    expect(pipeline.contextCount).toBe(0);
  });

  it('bounds the number of contexts by maxContexts', async () => {
    await using pipeline = createHookPipeline({
      maxContexts: 5,
      hooks: [{ name: 'touch', phase: 'pre', create: () => (ctx) => void ctx.state.set('seen', true) }],
    });
    await using scheduler = createScheduler();
    for (let i = 0; i < 20; i++) {
      await scheduler.schedule([pipeline.wrap({ id: 'x', run: noop })], { runId: `r${i}` });
    }
    expect(pipeline.contextCount).toBe(5);
    expect(pipeline.runState('r19')?.get('seen')).toBe(true);
    expect(pipeline.runState('r0')).toBeUndefined();
  });

  it.each<[string, HookDefinition[]]>([
    [
      'duplicate names',
      [
        { name: 'x', phase: 'pre', create: () => noop },
        { name: 'x', phase: 'post', create: () => noop },
      ],
    ],
    ['unknown after', [{ name: 'x', phase: 'pre', after: ['y'], create: () => noop }]],
    [
      'after across phases',
      [
        { name: 'x', phase: 'pre', create: () => noop },
        { name: 'y', phase: 'post', after: ['x'], create: () => noop },
      ],
    ],
    [
      'a cycle',
      [
        { name: 'x', phase: 'pre', after: ['y'], create: () => noop },
        { name: 'y', phase: 'pre', after: ['x'], create: () => noop },
      ],
    ],
    ['a bad phase', [{ name: 'x', phase: 'during' as 'pre', create: () => noop }]],
    ['no create', [{ name: 'x', phase: 'pre' } as HookDefinition]],
    ['not an array', { name: 'x' } as unknown as HookDefinition[]],
  ])('rejects %s with SCHEDULER_INVALID_OPTIONS', (_, hooks) => {
    expect(() => createHookPipeline({ hooks })).toThrow(
      expect.objectContaining({ code: 'SCHEDULER_INVALID_OPTIONS' }),
    );
  });

  it('rejects bad limits and refuses work after close()', async () => {
    expect(() => createHookPipeline({ hooks: [], maxContexts: 0 })).toThrow(/maxContexts/);
    expect(() => createHookPipeline({ hooks: [], contextTtlMs: -5 })).toThrow(/contextTtlMs/);
    const pipeline = createHookPipeline({ hooks: [] });
    await pipeline.close();
    await using scheduler = createScheduler();
    const run = await scheduler.schedule([pipeline.wrap({ id: 'late', run: noop })]);
    expect(run.records[0]?.error).toMatchObject({ code: 'SCHEDULER_CLOSED' });
  });
});
