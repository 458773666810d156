import { createServer } from 'node:http';
import { join } from 'node:path';
import { type Clock, isOrdoError, noopLogger, sleepOn } from '@ordo/contracts';
import { ManualClock } from '@ordo/contracts/testing';
import { ContainerLauncher, EngineRequestError, EngineUnavailableError } from '@ordo/launcher';
import { describe, expect, it } from 'vitest';
import { createEnginePolicy, isEngineFailure, isRetryableEngineError } from '../src/internal/enginePolicy.js';
import { tempDir } from './support/memoryIo.js';

/** Fake time that moves only when something sleeps on it: the retry's waits take no real time. */
function skippingClock(): Clock {
  const clock = new ManualClock(Date.now());
  clock.sleep = (ms, signal) => {
    const done = sleepOn(clock, ms, signal);
    clock.advance(ms);
    return done;
  };
  return clock;
}

/** A node:http Engine API on a unix socket: each request gets the next status of `statuses` (the last repeats). */
async function engine(statuses: number[]) {
  const dir = await tempDir();
  const socketPath = join(dir.path, 'engine.sock');
  let served = 0;
  const server = createServer((_request, response) => {
    const status = statuses[Math.min(served++, statuses.length - 1)] as number;
    response.statusCode = status;
    response.setHeader('content-type', 'application/json');
    response.end(status < 300 ? '[]' : '{"message":"engine trouble"}');
  });
  await new Promise<void>((resolve) => server.listen(socketPath, resolve));
  return {
    socketPath,
    missingSocket: join(dir.path, 'no-engine.sock'),
    async [Symbol.asyncDispose]() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      await dir[Symbol.asyncDispose]();
    },
  };
}

function launcherOn(socketPath: string, clock: Clock) {
  const engine = createEnginePolicy({ clock, logger: noopLogger });
  const launcher = new ContainerLauncher({
    docker: { socketPath },
    image: 'ordo-test/busybox:1',
    events: false,
    policy: engine.policy,
    clock,
  });
  return { engine, launcher };
}

describe("the runtime's Engine API policy: wrap(retry, breaker)", () => {
  it('retries a read that failed with 5xx', async () => {
    await using server = await engine([500, 503, 200]);
    const { engine: policy, launcher } = launcherOn(server.socketPath, skippingClock());
    await using _launcher = launcher;
    await expect(launcher.syncState()).resolves.toEqual(new Map());
    expect(launcher.apiCalls()).toEqual({ 'GET /containers/json': 3 });
    expect(policy.breaker.state).toBe('closed');
    await policy.breaker.close();
  });

  it('never repeats a write that reached the engine', async () => {
    await using server = await engine([500]);
    const { engine: policy, launcher } = launcherOn(server.socketPath, skippingClock());
    await using _launcher = launcher;
    const error = await launcher.spawn('w1').catch((e: unknown) => e);
    expect(isOrdoError(error)).toBe(true);
    expect(launcher.apiCalls()['POST /containers/create']).toBe(1);
    await policy.breaker.close();
  });

  it('an engine that is down opens the breaker: later calls fail fast without touching it', async () => {
    await using server = await engine([200]);
    const { engine: policy, launcher } = launcherOn(server.missingSocket, skippingClock());
    await using _launcher = launcher;
    const first = await launcher.syncState().catch((e: unknown) => e);
    expect(isOrdoError(first, 'LAUNCHER_ENGINE_UNAVAILABLE')).toBe(true);
    expect(launcher.apiCalls()).toEqual({ 'GET /containers/json': 3 });
    expect(policy.breaker.state).toBe('open');
    const second = await launcher.syncState().catch((e: unknown) => e);
    expect(isOrdoError(second, 'BREAKER_OPEN')).toBe(true);
    expect(launcher.apiCalls()).toEqual({ 'GET /containers/json': 3 });
    expect(policy.retry.stats()).toEqual({ attempts: 4, rejections: 2 });
    await policy.breaker.close();
  });

  it('classifies engine errors: 4xx answers are neither failures nor retried', () => {
    const answer = (status: number, endpoint: string) =>
      new EngineRequestError('x', { details: { status, endpoint } });
    const unreachable = (code: string, endpoint: string) =>
      new EngineUnavailableError('x', {
        cause: Object.assign(new Error(code), { code }),
        details: { endpoint },
      });
    expect(isEngineFailure(answer(404, 'GET /containers/x/json'))).toBe(false);
    expect(isRetryableEngineError(answer(409, 'POST /containers/create'))).toBe(false);
    expect(isRetryableEngineError(answer(500, 'GET /containers/json'))).toBe(true);
    expect(isRetryableEngineError(answer(500, 'POST /containers/x/start'))).toBe(false);
    expect(isRetryableEngineError(unreachable('ECONNREFUSED', 'POST /containers/create'))).toBe(true);
    expect(isRetryableEngineError(unreachable('ECONNRESET', 'POST /containers/create'))).toBe(false);
    expect(isRetryableEngineError(unreachable('ECONNRESET', 'GET /containers/json'))).toBe(true);
    expect(isRetryableEngineError(new Error('not ours'))).toBe(false);
  });
});
