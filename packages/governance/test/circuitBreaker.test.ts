import { type Breaker, type BreakerContext, isOrdoError } from '@ordo/contracts';
import { ManualClock, RecordingLogger } from '@ordo/contracts/testing';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  BreakerOpenError,
  type BreakerStateChange,
  CircuitBreaker,
  type CircuitBreakerOptions,
} from '../src/index.js';

const boom = () => Promise.reject(new Error('boom'));
const ok = () => Promise.resolve('ok');

function setup(options: Partial<CircuitBreakerOptions> = {}) {
  const clock = new ManualClock(1_000_000);
  const breaker = new CircuitBreaker({ name: 'api', clock, ...options });
  const changes: string[] = [];
  breaker.on('state', (c: BreakerStateChange) =>
    changes.push(`${c.from}->${c.to}${c.openForMs ? `:${c.openForMs}` : ''}`),
  );
  return { clock, breaker, changes };
}

async function fail(breaker: CircuitBreaker, times = 1) {
  for (let i = 0; i < times; i++) await expect(breaker.execute(boom)).rejects.toThrow('boom');
}

async function rejectsOpen(breaker: CircuitBreaker): Promise<BreakerOpenError> {
  const error = await breaker.execute(ok).catch((e: unknown) => e);
  expect(isOrdoError(error, 'BREAKER_OPEN')).toBe(true);
  return error as BreakerOpenError;
}

describe('CircuitBreaker', () => {
  it('implements the contracts Breaker and passes results through while closed', async () => {
    const { breaker } = setup();
    const asBreaker: Breaker = breaker;
    expect(asBreaker.state).toBe('closed');
    await expect(asBreaker.execute(ok)).resolves.toBe('ok');
    await expect(breaker.execute(() => 42)).resolves.toBe(42);
    await expect(
      breaker.execute(() => {
        throw new Error('sync');
      }),
    ).rejects.toThrow('sync');
    expect(breaker.state).toBe('closed');
  });

  it('closed -> open after 3 failures inside the sliding 60 s window, not when they are spread out', async () => {
    const { clock, breaker, changes } = setup();
    await fail(breaker, 2);
    clock.advance(60_000);
    await fail(breaker); // the first failure has left the window: 2 inside it
    expect(breaker.state).toBe('closed');
    clock.advance(59_999);
    await fail(breaker); // failures at 60 000, 60 000 + 59 999 ... the one at 0 is gone
    expect(breaker.state).toBe('closed');
    await fail(breaker);
    expect(breaker.state).toBe('open');
    expect(changes).toEqual(['closed->open:1000']);
  });

  it('open rejects with BREAKER_OPEN and retryAfterMs, then turns half-open after 1 s', async () => {
    const { clock, breaker, changes } = setup();
    const rejected: number[] = [];
    breaker.on('rejected', (e) => rejected.push(e.retryAfterMs));
    await fail(breaker, 3);
    let called = false;
    const error = await breaker
      .execute(() => {
        called = true;
        return 'x';
      })
      .catch((e: unknown) => e as BreakerOpenError);
    expect(called).toBe(false);
    expect(error).toBeInstanceOf(BreakerOpenError);
    expect(error).toMatchObject({ code: 'BREAKER_OPEN', retryAfterMs: 1000, breaker: 'api' });
    expect((error as BreakerOpenError).message).toMatch(/Retry in 1000 ms/);
    clock.advance(400);
    expect((await rejectsOpen(breaker)).retryAfterMs).toBe(600);
    expect(breaker.retryAfterMs).toBe(600);
    expect(rejected).toEqual([1000, 600]);
    clock.advance(599);
    expect(breaker.state).toBe('open');
    clock.advance(1); // the breaker's timer fires
    expect(changes).toEqual(['closed->open:1000', 'open->half-open']);
    expect(breaker.state).toBe('half-open');
    expect(breaker.retryAfterMs).toBe(0);
  });

  it('half-open -> closed after 2 consecutive successes', async () => {
    const { clock, breaker, changes } = setup();
    await fail(breaker, 3);
    clock.advance(1000);
    await expect(breaker.execute(ok)).resolves.toBe('ok');
    expect(breaker.state).toBe('half-open');
    await expect(breaker.execute(ok)).resolves.toBe('ok');
    expect(breaker.state).toBe('closed');
    expect(changes).toEqual(['closed->open:1000', 'open->half-open', 'half-open->closed']);
  });

  it('each re-open doubles the wait (1, 2, 4, 8, 8 s) until a close resets it', async () => {
    const { clock, breaker, changes } = setup();
    await fail(breaker, 3);
    for (const wait of [1000, 2000, 4000, 8000]) {
      clock.advance(wait - 1);
      expect(breaker.state).toBe('open');
      clock.advance(1);
      expect(breaker.state).toBe('half-open');
      await fail(breaker); // a failed probe re-opens
    }
    expect(changes.filter((c) => c.startsWith('half-open->open'))).toEqual([
      'half-open->open:2000',
      'half-open->open:4000',
      'half-open->open:8000',
      'half-open->open:8000',
    ]);
    clock.advance(8000);
    await breaker.execute(ok);
    await breaker.execute(ok);
    expect(breaker.state).toBe('closed');
    await fail(breaker, 3);
    expect(changes.at(-1)).toBe('closed->open:1000');
  });

  it('lets only halfOpenMaxConcurrent probes run at once', async () => {
    const { clock, breaker } = setup({ halfOpenMaxConcurrent: 2, successThreshold: 3 });
    await fail(breaker, 3);
    clock.advance(1000);
    const releases: (() => void)[] = [];
    const slow = () => new Promise<string>((resolve) => releases.push(() => resolve('slow')));
    const first = breaker.execute(slow);
    const second = breaker.execute(slow);
    const third = await rejectsOpen(breaker);
    expect(third.retryAfterMs).toBe(0);
    for (const release of releases) release();
    await expect(Promise.all([first, second])).resolves.toEqual(['slow', 'slow']);
    expect(breaker.state).toBe('half-open');
    await breaker.execute(ok);
    expect(breaker.state).toBe('closed');
  });

  it('ignores outcomes of calls that started before a state change', async () => {
    const { breaker } = setup({ failureThreshold: 1 });
    let release!: () => void;
    const late = breaker.execute(() => new Promise<string>((resolve) => (release = () => resolve('late'))));
    await fail(breaker);
    expect(breaker.state).toBe('open');
    release();
    await expect(late).resolves.toBe('late');
    expect(breaker.state).toBe('open');
  });

  it('does not count errors that isFailure rejects', async () => {
    const { breaker } = setup({ isFailure: (e) => !(e instanceof RangeError) });
    for (let i = 0; i < 5; i++) {
      await expect(breaker.execute(() => Promise.reject(new RangeError('client error')))).rejects.toThrow(
        RangeError,
      );
    }
    expect(breaker.state).toBe('closed');
  });

  it('times a call out with BREAKER_TIMEOUT, aborting its signal, and counts it as a failure', async () => {
    const { clock, breaker } = setup({ timeoutMs: 500, failureThreshold: 1, isFailure: () => false });
    let seen: AbortSignal | undefined;
    const call = breaker.execute(({ signal }: BreakerContext) => {
      seen = signal;
      return new Promise<never>(() => {});
    });
    clock.advance(500);
    await expect(call).rejects.toSatisfy((e) => isOrdoError(e, 'BREAKER_TIMEOUT'));
    expect(seen?.aborted).toBe(true);
    expect(breaker.state).toBe('open');
  });

  it('a fast call under a timeout clears its timer', async () => {
    const { clock, breaker } = setup({ timeoutMs: 500 });
    await expect(breaker.execute(ok)).resolves.toBe('ok');
    await expect(breaker.execute(boom)).rejects.toThrow('boom');
    expect(clock.pendingTimers).toBe(0);
  });

  it("rejects with the caller's abort reason and counts neither way", async () => {
    const { clock, breaker } = setup({ failureThreshold: 1 });
    await expect(breaker.execute(ok, AbortSignal.abort(new Error('early')))).rejects.toThrow('early');
    const controller = new AbortController();
    let inner: AbortSignal | undefined;
    const call = breaker.execute(({ signal }) => {
      inner = signal;
      return new Promise<never>(() => {});
    }, controller.signal);
    controller.abort(new Error('caller gave up'));
    await expect(call).rejects.toThrow('caller gave up');
    expect(inner?.aborted).toBe(true);
    expect(breaker.state).toBe('closed');

    // A probe aborted by its caller frees its half-open slot.
    await fail(breaker);
    clock.advance(1000);
    const probeAbort = new AbortController();
    const probe = breaker.execute(() => new Promise<never>(() => {}), probeAbort.signal);
    await rejectsOpen(breaker);
    probeAbort.abort(new Error('cancel probe'));
    await expect(probe).rejects.toThrow('cancel probe');
    await expect(breaker.execute(ok, new AbortController().signal)).resolves.toBe('ok');
  });

  it('emits success, failure and state, and logs transitions', async () => {
    const logger = new RecordingLogger();
    const { breaker, clock } = setup({ logger, failureThreshold: 1 });
    const events: string[] = [];
    breaker.on('success', () => events.push('success'));
    breaker.on('failure', (e) => events.push(`failure:${(e as Error).message}`));
    await breaker.execute(ok);
    await fail(breaker);
    expect(events).toEqual(['success', 'failure:boom']);
    expect(logger.at('warn')[0]).toMatchObject({ fields: { breaker: 'api', to: 'open', openForMs: 1000 } });
    clock.advance(1000);
    expect(logger.at('info')[0]).toMatchObject({ fields: { from: 'open', to: 'half-open' } });
  });

  it('close() clears the open timer; the breaker then turns half-open lazily', async () => {
    const { breaker, clock } = setup({ failureThreshold: 1 });
    await fail(breaker);
    expect(clock.pendingTimers).toBe(1);
    await breaker[Symbol.asyncDispose]();
    expect(clock.pendingTimers).toBe(0);
    clock.advance(1000);
    expect(breaker.state).toBe('half-open');
  });

  it('rejects bad options', () => {
    for (const bad of [
      { failureThreshold: 0 },
      { windowMs: -1 },
      { successThreshold: 1.5 },
      { backoff: { initialMs: 0 } },
      { backoff: { maxMs: Number.NaN } },
      { halfOpenMaxConcurrent: 0 },
      { timeoutMs: 0 },
    ]) {
      expect(() => new CircuitBreaker({ name: 'x', ...bad })).toThrow(
        expect.objectContaining({ code: 'GOVERNANCE_OPTIONS_INVALID' }),
      );
    }
    expect(() => new CircuitBreaker({ name: '' })).toThrow(/non-empty name/);
  });
});

describe('CircuitBreaker invariants (property)', () => {
  type Op =
    | { kind: 'call'; fail: boolean }
    | { kind: 'settle'; pick: number }
    | { kind: 'advance'; ms: number };
  const op: fc.Arbitrary<Op> = fc.oneof(
    { weight: 3, arbitrary: fc.record({ kind: fc.constant('call' as const), fail: fc.boolean() }) },
    { weight: 3, arbitrary: fc.record({ kind: fc.constant('settle' as const), pick: fc.nat(20) }) },
    {
      weight: 1,
      arbitrary: fc.record({
        kind: fc.constant('advance' as const),
        ms: fc.integer({ min: 0, max: 12_000 }),
      }),
    },
  );

  it('never runs a call while open, never exceeds the half-open probe limit, and opens only on enough recent failures', async () => {
    const seen = new Set<string>();
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 3 }),
        fc.array(op, { minLength: 40, maxLength: 120 }),
        async (maxProbes, ops) => {
          const clock = new ManualClock();
          const breaker = new CircuitBreaker({
            name: 'p',
            clock,
            halfOpenMaxConcurrent: maxProbes,
            windowMs: 10_000,
          });
          const pending: { settle: () => void; probe: boolean; generation: number }[] = [];
          const failuresAt: number[] = [];
          let generation = 0;
          breaker.on('state', (change) => {
            generation++;
            if (change.from === 'closed' && change.to === 'open') {
              const recent = failuresAt.filter((t) => t > clock.now() - 10_000);
              expect(recent.length).toBeGreaterThanOrEqual(3);
            }
          });
          for (const o of ops) {
            if (o.kind === 'advance') clock.advance(o.ms);
            else if (o.kind === 'settle') {
              const [call] = pending.splice(o.pick % Math.max(1, pending.length), 1);
              call?.settle();
              await Promise.resolve();
              await Promise.resolve();
            } else {
              const stateBefore = breaker.state;
              seen.add(stateBefore);
              let ran = false;
              const result = breaker.execute(
                () =>
                  new Promise<void>((resolve, reject) => {
                    ran = true;
                    pending.push({
                      probe: stateBefore === 'half-open',
                      generation,
                      settle: () => {
                        if (o.fail) {
                          if (breaker.state === 'closed') failuresAt.push(clock.now());
                          reject(new Error('fail'));
                        } else resolve();
                      },
                    });
                  }),
              );
              result.catch(() => {});
              if (stateBefore === 'open') expect(ran).toBe(false);
              const probes = pending.filter((p) => p.probe && p.generation === generation).length;
              expect(probes).toBeLessThanOrEqual(maxProbes);
            }
          }
          await breaker.close();
        },
      ),
      { numRuns: 200 },
    );
    expect([...seen].sort()).toEqual(['closed', 'half-open', 'open']); // the runs reached every state
  });
});
