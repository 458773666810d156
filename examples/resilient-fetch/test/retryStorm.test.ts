import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type Clock, isOrdoError, type Policy, sleepOn } from '@ordo/contracts';
import { ManualClock } from '@ordo/contracts/testing';
import { createRestrictedFetch } from '@ordo/executor-spool';
import { CircuitBreaker, retry, wrap } from '@ordo/governance';
import { afterEach, beforeEach, expect, it } from 'vitest';

/** Fake time that moves only when something sleeps on it: retry waits and sync intervals take no real time. */
function skippingClock(): ManualClock & Clock {
  const clock = new ManualClock(Date.now());
  clock.sleep = (ms, signal) => {
    const done = sleepOn(clock, ms, signal);
    clock.advance(ms);
    return done;
  };
  return clock;
}

/** A seeded generator in [0, 1) (mulberry32), so the jitter is the same on every run. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

// The failing endpoint: a real node:http server on 127.0.0.1 that answers every request with 500.
let hits = 0;
let url = '';
const server = createServer((_req, res) => {
  hits++;
  res.writeHead(500).end('down');
});
beforeEach(async () => {
  hits = 0;
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/sync`;
});
afterEach(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

/** Runs 10 syncs, one a second, through a restricted fetch whose host policy is `policy`. */
async function tenSyncs(policy: Policy, clock: Clock): Promise<(number | string)[]> {
  await using fetch = createRestrictedFetch({ allowPrivate: ['127.0.0.1'], breakerFor: () => policy, clock });
  const outcomes: (number | string)[] = [];
  for (let sync = 0; sync < 10; sync++) {
    await fetch(url).then(
      async (response) => {
        await response.body?.cancel();
        outcomes.push(response.status);
      },
      (error: unknown) => outcomes.push(isOrdoError(error) ? error.code : String(error)),
    );
    await clock.sleep(1_000);
  }
  return outcomes;
}

const retryOptions = (clock: Clock) => ({
  maxAttempts: 3,
  backoff: { initialMs: 100, maxMs: 1_000 },
  random: seeded(42),
  clock,
});

it('the rollout plan: a circuit breaker prevents a retry storm (10 syncs, fewer than 5 attempts reach the endpoint)', async () => {
  const clock = skippingClock();
  await using breaker = new CircuitBreaker({
    name: '127.0.0.1',
    failureThreshold: 3,
    backoff: { initialMs: 5_000 },
    clock,
  });
  const outcomes = await tenSyncs(wrap(retry(retryOptions(clock)), breaker), clock);
  expect(hits).toBeLessThan(5);
  // sync 1 spends its 3 attempts and opens the breaker; sync 6 is its half-open probe (5 s later), which
  // fails and re-opens it; every other sync is refused at once without touching the server.
  expect(hits).toBe(4);
  expect(outcomes).toEqual([
    500,
    'BREAKER_OPEN',
    'BREAKER_OPEN',
    'BREAKER_OPEN',
    'BREAKER_OPEN',
    'BREAKER_OPEN',
    'BREAKER_OPEN',
    'BREAKER_OPEN',
    'BREAKER_OPEN',
    'BREAKER_OPEN',
  ]);
  expect(breaker.state).toBe('open');
});

it('without the breaker the same retries are a storm: every sync spends every attempt', async () => {
  const clock = skippingClock();
  const outcomes = await tenSyncs(retry(retryOptions(clock)), clock);
  expect(hits).toBe(30);
  expect(outcomes).toEqual(Array(10).fill(500));
});
