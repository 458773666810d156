import { createServer } from 'node:http';
import { join } from 'node:path';
import { isOrdoError, type Policy, type PolicyContext } from '@ordo/contracts';
import { describe, expect, it } from 'vitest';
import { ContainerLauncher } from '../src/index.js';
import { tempDir } from './helpers.js';

/** A node:http Engine API on a unix socket whose `GET /containers/json` fails `failures` times with 500 first. */
async function flakyEngine(failures: number) {
  const dir = await tempDir();
  const socketPath = join(dir.path, 'engine.sock');
  let failed = 0;
  const server = createServer((_request, response) => {
    response.setHeader('content-type', 'application/json');
    if (failed < failures) {
      failed++;
      response.statusCode = 500;
      response.end('{"message":"engine busy"}');
      return;
    }
    response.end('[]');
  });
  await new Promise<void>((resolve) => server.listen(socketPath, resolve));
  return {
    socketPath,
    async [Symbol.asyncDispose]() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      await dir[Symbol.asyncDispose]();
    },
  };
}

/** A policy that retries up to `attempts` times at once and records each failure's code and signal. */
class RecordingRetry implements Policy {
  readonly seen: { code: unknown; signal: AbortSignal }[] = [];
  constructor(readonly attempts: number) {}
  async execute<T>(fn: (context: PolicyContext) => PromiseLike<T> | T, signal?: AbortSignal): Promise<T> {
    const context = { signal: signal ?? new AbortController().signal };
    for (let attempt = 1; ; attempt++) {
      try {
        return await fn(context);
      } catch (error) {
        this.seen.push({ code: (error as { code?: unknown }).code, signal: context.signal });
        if (attempt >= this.attempts) throw error;
      }
    }
  }
}

describe('ContainerLauncher policy', () => {
  it('runs Engine API calls through the policy: a retry rides out a 500, each attempt counted', async () => {
    await using engine = await flakyEngine(2);
    const policy = new RecordingRetry(3);
    await using launcher = new ContainerLauncher({
      docker: { socketPath: engine.socketPath },
      image: 'ordo-test/busybox:1',
      events: false,
      policy,
    });
    await expect(launcher.syncState()).resolves.toEqual(new Map());
    expect(launcher.apiCalls()).toEqual({ 'GET /containers/json': 3 });
    expect(policy.seen.map((s) => s.code)).toEqual(['LAUNCHER_ENGINE_ERROR', 'LAUNCHER_ENGINE_ERROR']);
  });

  it("the request gets the policy's signal, and the caller's signal reaches the policy", async () => {
    await using engine = await flakyEngine(5);
    const policy = new RecordingRetry(2);
    await using launcher = new ContainerLauncher({
      docker: { socketPath: engine.socketPath },
      image: 'ordo-test/busybox:1',
      events: false,
      policy,
    });
    const controller = new AbortController();
    const error = await launcher.syncState(controller.signal).catch((e: unknown) => e);
    expect(isOrdoError(error, 'LAUNCHER_ENGINE_ERROR')).toBe(true);
    expect(policy.seen.map((s) => s.signal)).toEqual([controller.signal, controller.signal]);
  });

  it('without a policy each call is made once', async () => {
    await using engine = await flakyEngine(1);
    await using launcher = new ContainerLauncher({
      docker: { socketPath: engine.socketPath },
      image: 'ordo-test/busybox:1',
      events: false,
    });
    const error = await launcher.syncState().catch((e: unknown) => e);
    expect(isOrdoError(error, 'LAUNCHER_ENGINE_ERROR')).toBe(true);
    expect(launcher.apiCalls()).toEqual({ 'GET /containers/json': 1 });
  });
});
