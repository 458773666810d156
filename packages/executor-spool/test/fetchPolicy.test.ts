import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { isOrdoError, type Policy, type PolicyContext } from '@ordo/contracts';
import { describe, expect, it } from 'vitest';
import { createRestrictedFetch } from '../src/index.js';

/** A real node:http server on 127.0.0.1; `answers` are used in turn, the last one repeated. */
async function startServer(answers: ((res: ServerResponse) => void)[]) {
  let hits = 0;
  const server = createServer((_req, res) => {
    const answer = answers[Math.min(hits++, answers.length - 1)] as (res: ServerResponse) => void;
    answer(res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`,
    hits: () => hits,
    async [Symbol.asyncDispose]() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/** A minimal retry policy (what governance's `retry` does, without the waits): it records each failure. */
class RecordingRetry implements Policy {
  readonly failures: { status: number | undefined; retryAfterMs: number | undefined }[] = [];
  constructor(readonly attempts: number) {}
  async execute<T>(fn: (context: PolicyContext) => PromiseLike<T> | T, signal?: AbortSignal): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await fn({ signal: signal ?? new AbortController().signal });
      } catch (error) {
        const { status, retryAfterMs } = error as { status?: number; retryAfterMs?: number };
        this.failures.push({ status, retryAfterMs });
        if (attempt >= this.attempts || signal?.aborted) throw error;
      }
    }
  }
}

describe('createRestrictedFetch with a policy per host', () => {
  it('a 5xx reaches the policy with its status and Retry-After, so a retry can retry it', async () => {
    await using server = await startServer([
      (res) => res.writeHead(503, { 'retry-after': '2' }).end('busy'),
      (res) => res.writeHead(500).end('oops'),
      (res) => res.writeHead(200).end('fine'),
    ]);
    const policy = new RecordingRetry(3);
    await using fetch = createRestrictedFetch({ allowPrivate: ['127.0.0.1'], breakerFor: () => policy });
    const response = await fetch(server.url);
    expect(response.status).toBe(200);
    expect(await response.text()).toBe('fine');
    expect(server.hits()).toBe(3);
    expect(policy.failures).toEqual([
      { status: 503, retryAfterMs: 2_000 },
      { status: 500, retryAfterMs: undefined },
    ]);
  });

  it('returns the last 5xx when the retries run out', async () => {
    await using server = await startServer([(res) => res.writeHead(502).end('bad gateway')]);
    await using fetch = createRestrictedFetch({
      allowPrivate: ['127.0.0.1'],
      breakerFor: () => new RecordingRetry(2),
    });
    const response = await fetch(server.url);
    expect(response.status).toBe(502);
    expect(await response.text()).toBe('bad gateway');
    expect(server.hits()).toBe(2);
  });

  it("after a retried 5xx the caller's signal still reaches the final body", async () => {
    let release: () => void = () => {};
    await using server = await startServer([
      (res) => res.writeHead(500).end('first'),
      (res) => {
        res.writeHead(200).write('part one, ');
        release = () => res.end('part two');
      },
    ]);
    await using fetch = createRestrictedFetch({
      allowPrivate: ['127.0.0.1'],
      breakerFor: () => new RecordingRetry(2),
    });
    const controller = new AbortController();
    const response = await fetch(server.url, { signal: controller.signal });
    expect(response.status).toBe(200);
    const body = response.text();
    controller.abort(new Error('caller gave up'));
    await expect(body).rejects.toThrow();
    release();
  });

  it('an error from the policy itself (an open breaker) is thrown as it is', async () => {
    await using server = await startServer([(res) => res.writeHead(200).end()]);
    const open: Policy = {
      execute: () => Promise.reject(Object.assign(new Error('open'), { code: 'BREAKER_OPEN' })),
    };
    await using fetch = createRestrictedFetch({ allowPrivate: ['127.0.0.1'], breakerFor: () => open });
    const error = await fetch(server.url).catch((e: unknown) => e);
    expect((error as { code?: string }).code).toBe('BREAKER_OPEN');
    expect(isOrdoError(error)).toBe(false);
    expect(server.hits()).toBe(0);
  });
});
