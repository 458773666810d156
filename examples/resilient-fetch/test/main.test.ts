import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { type Clock, sleepOn } from '@ordo/contracts';
import { ManualClock } from '@ordo/contracts/testing';
import { expect, it } from 'vitest';
import { main } from '../src/main.js';

/** Fake time that moves only when the example sleeps: the breaker stays open exactly as long as it says. */
function skippingClock(): Clock {
  const clock = new ManualClock(Date.now());
  clock.sleep = (ms, signal) => {
    const done = sleepOn(clock, ms, signal);
    clock.advance(ms);
    return done;
  };
  return clock;
}

it('retries a blip, opens the breaker, refuses blocked addresses and recovers', async () => {
  const lines: string[] = [];
  const demo = await main((line) => lines.push(line), { clock: skippingClock() });

  expect(demo.retried).toEqual([503, 503, 200]);
  expect(demo.whileOpen).toEqual({
    codes: ['BREAKER_OPEN', 'BREAKER_OPEN', 'BREAKER_OPEN', 'BREAKER_OPEN', 'BREAKER_OPEN'],
    serverHits: 0,
    retryAfterMs: 450, // open for 500 ms, 50 of which the retry's backoff already waited
  });
  expect(Object.values(demo.blocked)).toEqual([
    'FETCH_BLOCKED_ADDRESS',
    'FETCH_BLOCKED_ADDRESS',
    'FETCH_BLOCKED_ADDRESS',
    'FETCH_BLOCKED_ADDRESS',
  ]);
  expect(demo.recovered).toEqual([200, 200]);
  expect(demo.transitions).toEqual(['closed→open', 'open→half-open', 'half-open→closed']);
  expect(lines.join('\n')).toContain('requests that reached the server: 0');
});

it('runs as `pnpm start`', async () => {
  const { stdout } = await promisify(execFile)('pnpm', ['-s', 'start'], {
    cwd: join(import.meta.dirname, '..'),
  });
  expect(stdout).toContain('http://169.254.169.254/latest/meta-data/: FETCH_BLOCKED_ADDRESS');
}, 60_000); // tsx compiles the example on start: slow on a loaded machine
