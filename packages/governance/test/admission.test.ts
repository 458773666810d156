import { createServer, type RequestListener, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { systemClock } from '@ordo/contracts';
import { ManualClock, RecordingLogger } from '@ordo/contracts/testing';
import fc from 'fast-check';
import Fastify from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import {
  CircuitBreaker,
  createAdmission,
  createHealthHandler,
  MemoryMonitor,
  PriorityQueue,
  type QueueItem,
} from '../src/index.js';

const LIMIT = 1_000_000;

/** A monitor driven by a scripted reading: `set(0.95)` puts memory at 95 % of the limit. */
function scriptedMonitor() {
  let rss = 0;
  const monitor = new MemoryMonitor({
    limitBytes: LIMIT,
    source: () => ({ rss, heapTotal: 0, heapUsed: 0, external: 0, arrayBuffers: 0 }),
  });
  return {
    monitor,
    set(fraction: number) {
      rss = fraction * LIMIT;
      monitor.sample();
    },
  };
}

const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
});

async function serve(listener: RequestListener): Promise<string> {
  const server = createServer(listener);
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

function fill(queue: PriorityQueue<QueueItem>, n: number) {
  for (let i = 0; i < n; i++) queue.enqueue({ id: `q${i}`, priority: 2 });
}

describe('createAdmission', () => {
  it('admits, then answers 503 under memory pressure and 429 on a full queue, with Retry-After and JSON', async () => {
    const { monitor, set } = scriptedMonitor();
    const queue = new PriorityQueue<QueueItem>({ maxDepth: 4 });
    const logger = new RecordingLogger();
    const rejected: number[] = [];
    const admission = createAdmission({
      monitor,
      queue,
      logger,
      pool: { maxWorkers: 2, stats: () => ({ averageTaskMs: 3_000 }) },
      onReject: (d) => rejected.push(d.status),
    });
    const url = await serve((req, res) =>
      admission(req, res, () => {
        res.end('ran');
      }),
    );

    set(0.5);
    let response = await fetch(url);
    expect(response.status).toBe(200);
    expect(await response.text()).toBe('ran');

    set(0.9);
    fill(queue, 2);
    response = await fetch(`${url}/tasks`, { method: 'POST' });
    expect(response.status).toBe(503);
    expect(response.headers.get('retry-after')).toBe('3'); // 2 queued × 3 s ÷ 2 workers
    expect(response.headers.get('content-type')).toContain('application/json');
    expect(await response.json()).toEqual({
      error: expect.stringContaining('memory at 90% of the limit'),
      code: 'MEMORY_PRESSURE',
      retryAfterSeconds: 3,
    });

    set(0.2);
    fill(queue, 2);
    response = await fetch(url);
    expect(response.status).toBe(429);
    expect(response.headers.get('retry-after')).toBe('6');
    expect(await response.json()).toMatchObject({ code: 'QUEUE_FULL', retryAfterSeconds: 6 });

    expect(admission.counters).toEqual({
      admitted: 1,
      rejectedMemory: 1,
      rejectedQueueFull: 1,
      rejectedRate: 0,
    });
    expect(rejected).toEqual([503, 429]);
    expect(logger.at('warn').map((r) => [r.msg, r.fields.url])).toEqual([
      [expect.stringContaining('request refused: memory at 90%'), '/tasks'],
      [expect.stringContaining('request refused: task queue full (4/4)'), '/'],
    ]);
  });

  it('works as a plain node:http guard, with a fixed or clamped Retry-After', async () => {
    const { monitor, set } = scriptedMonitor();
    const queue = new PriorityQueue<QueueItem>({ maxDepth: 100 });
    const fixed = createAdmission({ monitor, queue, retryAfter: 7, rejectAtFraction: 0.5 });
    const url = await serve((req, res) => {
      if (fixed.handle(req, res)) res.end('ok');
    });
    set(0.6);
    const response = await fetch(url);
    expect(response.status).toBe(503);
    expect(response.headers.get('retry-after')).toBe('7');

    const clamped = createAdmission({ monitor, queue, retryAfter: { taskMs: () => 1e9, maxSeconds: 60 } });
    fill(queue, 100);
    expect(clamped.check()).toMatchObject({ admitted: false, status: 429, retryAfterSeconds: 60 });
    const empty = createAdmission({
      monitor: { level: 'normal', lastSnapshot: undefined },
      queue: { depth: 0, maxDepth: 1 },
    });
    expect(empty.check()).toEqual({ admitted: true });
  });

  it('rejects bad options', () => {
    const monitor = { level: 'normal' as const, lastSnapshot: undefined };
    const queue = { depth: 0, maxDepth: 1 };
    expect(() => createAdmission({ monitor, queue, rejectAtFraction: 90 })).toThrow(/rejectAtFraction/);
    expect(() => createAdmission({ monitor, queue, retryAfter: -1 })).toThrow(/retryAfter/);
    expect(() => createAdmission({ monitor, queue, retryAfter: { taskMs: -5 } })).toThrow(
      /retryAfter\.taskMs/,
    );
    expect(() =>
      createAdmission({ monitor, queue, retryAfter: { taskMs: '2000' as unknown as number } }),
    ).toThrow(/retryAfter\.taskMs/);
  });

  it('takes a fixed task time as a plain number', () => {
    const monitor = { level: 'normal' as const, lastSnapshot: undefined };
    const admission = createAdmission({
      monitor,
      queue: { depth: 4, maxDepth: 4 },
      retryAfter: { taskMs: 1_500, concurrency: 2 },
    });
    // 4 queued × 1.5 s ÷ 2 workers = 3 s
    expect(admission.check()).toMatchObject({ admitted: false, status: 429, retryAfterSeconds: 3 });
  });

  it('plugs into Fastify as an onRequest hook', async () => {
    const { monitor, set } = scriptedMonitor();
    const queue = new PriorityQueue<QueueItem>({ maxDepth: 1 });
    const admission = createAdmission({ monitor, queue });
    const app = Fastify();
    app.addHook('onRequest', admission.admissionHook);
    app.get('/', async () => ({ ran: true }));
    try {
      set(0.1);
      expect((await app.inject('/')).json()).toEqual({ ran: true });
      set(0.95);
      const refused = await app.inject('/');
      expect(refused.statusCode).toBe(503);
      expect(refused.headers['retry-after']).toBe('1');
      expect(refused.json()).toMatchObject({ code: 'MEMORY_PRESSURE', retryAfterSeconds: 1 });
      set(0.1);
      fill(queue, 1);
      expect((await app.inject('/')).statusCode).toBe(429);
      expect(admission.counters).toEqual({
        admitted: 1,
        rejectedMemory: 1,
        rejectedQueueFull: 1,
        rejectedRate: 0,
      });
    } finally {
      await app.close();
    }
  });
});

describe('createAdmission with a rate', () => {
  it('admits a burst, then answers 429 RATE_LIMITED with Retry-After until the bucket refills', async () => {
    const { monitor } = scriptedMonitor();
    const clock = new ManualClock();
    const codes: string[] = [];
    const admission = createAdmission({
      monitor,
      queue: new PriorityQueue<QueueItem>({ maxDepth: 100 }),
      rate: { perSecond: 2, burst: 3 },
      clock,
      onReject: (d) => codes.push(d.code),
    });
    const url = await serve((req, res) => {
      if (admission.handle(req, res)) res.end('ok');
    });
    const statuses = [];
    for (let i = 0; i < 4; i++) statuses.push((await fetch(url)).status);
    expect(statuses).toEqual([200, 200, 200, 429]);
    const refused = await fetch(url);
    expect(refused.status).toBe(429);
    expect(refused.headers.get('retry-after')).toBe('1');
    expect(await refused.json()).toMatchObject({ code: 'RATE_LIMITED', retryAfterSeconds: 1 });
    // Half a second gives one token at 2 a second; refusals spent none.
    clock.advance(500);
    expect((await fetch(url)).status).toBe(200);
    expect((await fetch(url)).status).toBe(429);
    expect(admission.counters).toMatchObject({ admitted: 4, rejectedRate: 3, rejectedQueueFull: 0 });
    expect(codes).toEqual(['RATE_LIMITED', 'RATE_LIMITED', 'RATE_LIMITED']);
  });

  it('keeps the three refusals apart: memory 503 first, then a full queue, then the rate; none spends a token', () => {
    const { monitor, set } = scriptedMonitor();
    const clock = new ManualClock();
    const queue = new PriorityQueue<QueueItem>({ maxDepth: 1 });
    const admission = createAdmission({ monitor, queue, rate: { perSecond: 1, burst: 1 }, clock });
    set(0.95);
    expect(admission.check()).toMatchObject({ status: 503, code: 'MEMORY_PRESSURE' });
    set(0.1);
    fill(queue, 1);
    expect(admission.check()).toMatchObject({ status: 429, code: 'QUEUE_FULL' });
    queue.dequeue();
    // check() decides without taking: the one token is still there.
    expect(admission.check()).toEqual({ admitted: true });
    expect(admission.check()).toEqual({ admitted: true });
  });

  it('says how long until the next token in Retry-After, for slow rates too', () => {
    const { monitor } = scriptedMonitor();
    const clock = new ManualClock();
    const admission = createAdmission({
      monitor,
      queue: new PriorityQueue<QueueItem>({ maxDepth: 10 }),
      rate: { perSecond: 0.1, burst: 1 },
      clock,
    });
    const middleware = admission as unknown as (req: unknown, res: unknown, next: () => void) => void;
    let admitted = 0;
    const res = { writeHead: () => res, end: () => undefined };
    middleware({ method: 'GET', url: '/' }, res, () => admitted++);
    expect(admitted).toBe(1);
    expect(admission.check()).toMatchObject({ code: 'RATE_LIMITED', retryAfterSeconds: 10 });
    clock.advance(7_000);
    expect(admission.check()).toMatchObject({ code: 'RATE_LIMITED', retryAfterSeconds: 3 });
    clock.advance(3_000);
    expect(admission.check()).toEqual({ admitted: true });
  });

  it('holds any rate over any arrival pattern: admitted <= burst + rate x elapsed (property)', () => {
    fc.assert(
      fc.property(
        fc.double({ min: 0.5, max: 500, noNaN: true }),
        fc.integer({ min: 1, max: 50 }),
        fc.array(fc.integer({ min: 0, max: 400 }), { minLength: 1, maxLength: 300 }),
        (perSecond, burst, gaps) => {
          const { monitor } = scriptedMonitor();
          const clock = new ManualClock();
          const admission = createAdmission({
            monitor,
            queue: new PriorityQueue<QueueItem>({ maxDepth: 10 }),
            rate: { perSecond, burst },
            clock,
          });
          const res = { writeHead: () => res, end: () => undefined };
          const start = clock.now();
          for (const gap of gaps) {
            clock.advance(gap);
            admission.handle({ method: 'GET', url: '/' } as never, res as never);
            const elapsed = (clock.now() - start) / 1_000;
            expect(admission.counters.admitted).toBeLessThanOrEqual(burst + perSecond * elapsed + 1e-9);
          }
          // And it does not refuse needlessly: a request after a full refill is admitted.
          clock.advance(Math.ceil((burst / perSecond) * 1_000) + 1);
          expect(admission.check()).toEqual({ admitted: true });
        },
      ),
      { numRuns: 200 },
    );
  });

  it('holds the rate under a real load on a real server (2 s, 8 clients): within 2 of an ideal bucket given the same arrival times', async () => {
    const { monitor } = scriptedMonitor();
    const perSecond = 100;
    const burst = 10;
    // The real clock, read once per request as it arrives: the gate and the oracle below see the same times.
    let at = systemClock.now();
    const created = at;
    const arrivals: number[] = [];
    const clock = { ...systemClock, now: () => at };
    const admission = createAdmission({
      monitor,
      queue: new PriorityQueue<QueueItem>({ maxDepth: 10 }),
      rate: { perSecond, burst },
      clock,
    });
    const url = await serve((req, res) => {
      at = systemClock.now();
      arrivals.push(at);
      if (admission.handle(req, res)) res.end('ok');
    });
    const until = performance.now() + 2_000;
    let sent = 0;
    const client = async () => {
      while (performance.now() < until) {
        const response = await fetch(url);
        await response.arrayBuffer();
        sent++;
      }
    };
    await Promise.all(Array.from({ length: 8 }, client));
    const { admitted, rejectedRate } = admission.counters;
    expect(arrivals).toHaveLength(sent);
    // Never more than the burst plus what refilled from the bucket's creation to the last request.
    const most = burst + (perSecond * ((arrivals.at(-1) ?? created) - created)) / 1_000;
    // The load must exceed the rate for the check to mean anything.
    expect(sent).toBeGreaterThan(most * 1.5);
    expect(admitted + rejectedRate).toBe(sent);
    expect(admitted).toBeLessThanOrEqual(Math.ceil(most));
    /*
     * And not fewer than the rate allows: an ideal gate with the same rate and burst, given the same
     * arrivals, admits `ideal`. The oracle is GCRA (virtual scheduling), the other classic formulation of a
     * token bucket; the two differ only where float rounding puts the bucket a hair under a token, and catch
     * up at the next request. Comparing with `burst + rate x elapsed` instead charged the gate with the
     * refill lost while a loaded machine delivered no request (a full bucket refills nothing), and failed a
     * correct gate.
     */
    const emissionMs = 1_000 / perSecond;
    const toleranceMs = (burst - 1) * emissionMs;
    let theoreticalArrival = created;
    let ideal = 0;
    for (const arrival of arrivals) {
      if (arrival < theoreticalArrival - toleranceMs) continue;
      ideal++;
      theoreticalArrival = Math.max(arrival, theoreticalArrival) + emissionMs;
    }
    expect(ideal).toBeGreaterThan(3 * burst);
    // Within 2 requests of the ideal (about 1 %): a refill even 2 % off fails.
    expect(Math.abs(admitted - ideal)).toBeLessThanOrEqual(2);
  });

  it('rejects a rate that is not a positive number and a burst below 1', () => {
    const { monitor } = scriptedMonitor();
    const queue = new PriorityQueue<QueueItem>({ maxDepth: 1 });
    for (const rate of [
      { perSecond: 0 },
      { perSecond: -1 },
      { perSecond: Number.NaN },
      { perSecond: Infinity },
    ]) {
      expect(() => createAdmission({ monitor, queue, rate })).toThrow(/rate\.perSecond/);
    }
    for (const burst of [0, 0.5, Number.NaN]) {
      expect(() => createAdmission({ monitor, queue, rate: { perSecond: 1, burst } })).toThrow(/rate\.burst/);
    }
  });
});

describe('createHealthHandler', () => {
  it('answers 200 with memory, queue, breakers and workers, and 503 at critical memory or a degraded pool', async () => {
    const { monitor, set } = scriptedMonitor();
    const queue = new PriorityQueue<QueueItem>({ maxDepth: 8 });
    fill(queue, 3);
    const breaker = new CircuitBreaker({ name: 'api', failureThreshold: 1 });
    await breaker.execute(() => Promise.reject(new Error('down'))).catch(() => {});
    const stats = { workers: 2, active: 1, idle: 1, starting: 0, degraded: false, restartsInLastHour: 0 };
    const health = createHealthHandler({ monitor, queue, breakers: [breaker], pool: { stats: () => stats } });
    const url = await serve(health);

    set(0.5);
    let response = await fetch(url);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({
      status: 'ok',
      reasons: [],
      memory: { level: 'normal', fractionOfLimit: 0.5, rss: 500_000 },
      queue: { depth: 3, maxDepth: 8 },
      breakers: { api: 'open' },
      workers: { total: 2, active: 1, idle: 1, starting: 0, degraded: false, restartsInLastHour: 0 },
    });

    set(0.9);
    response = await fetch(url);
    expect(response.status).toBe(503);
    expect(await response.json()).toMatchObject({ status: 'unhealthy', reasons: ['memory level critical'] });

    set(0.1);
    stats.degraded = true;
    expect(health.report()).toMatchObject({
      status: 'unhealthy',
      reasons: ['worker pool degraded (restart budget spent)'],
    });
    expect(createHealthHandler({}).report()).toEqual({ status: 'ok', reasons: [] });
  });
});
