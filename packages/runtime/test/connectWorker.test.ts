import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { ManualClock } from '@ordo/contracts/testing';
import { createRemoteLauncher } from '@ordo/launcher';
import { describe, expect, it } from 'vitest';
import { tempDir } from '../../../vitest.tempDirs.js';
import { connectWorker } from '../src/worker.js';

async function tokenFile(content: string): Promise<string> {
  const file = path.join(await tempDir('ordo-connect-'), 'token');
  await writeFile(file, content, { mode: 0o600 });
  return file;
}

describe('connectWorker', () => {
  it('reads the credential only from a file, and says what is wrong with it', async () => {
    const url = 'unix:///nonexistent/ordo.sock';
    await expect(connectWorker({ url, env: {} })).rejects.toMatchObject({
      code: 'REMOTE_CREDENTIAL_INVALID',
      message: expect.stringMatching(/no credential file/),
    });
    await expect(connectWorker({ url, tokenFile: '/nonexistent/token', env: {} })).rejects.toMatchObject({
      code: 'REMOTE_CREDENTIAL_INVALID',
      message: expect.stringMatching(/ENOENT/),
    });
    for (const [content, why] of [
      ['', /empty/],
      ['two tokens\n', /more than one token/],
      ['{"url":"unix:///x"}', /no "token"/],
      ['{not json', /not JSON/],
    ] as const) {
      await expect(
        connectWorker({ url, tokenFile: await tokenFile(content), env: {} }),
      ).rejects.toMatchObject({
        code: 'REMOTE_CREDENTIAL_INVALID',
        message: expect.stringMatching(why),
      });
    }
    // A token in the environment is not a credential: only ORDO_WORKER_TOKEN_FILE (a path) is read.
    await expect(
      connectWorker({ url, env: { ORDO_WORKER_TOKEN: 'a-token-in-the-environment' } }),
    ).rejects.toMatchObject({ code: 'REMOTE_CREDENTIAL_INVALID' });
    await expect(
      connectWorker({ tokenFile: await tokenFile('a-token-0123456789'), env: {} }),
    ).rejects.toMatchObject({
      code: 'REMOTE_INVALID_OPTIONS',
    });
  });

  it('retries an unreachable endpoint with exponential backoff on the injected clock, then gives up', async () => {
    const clock = new ManualClock(0);
    const dir = await tempDir('ordo-connect-');
    const done = connectWorker({
      url: `unix://${path.join(dir, 'none.sock')}`,
      env: { ORDO_WORKER_TOKEN_FILE: await tokenFile('a-token-0123456789\n') },
      clock,
      backoffMs: 200,
      maxBackoffMs: 500,
      maxAttempts: 4,
    }).catch((e: unknown) => e);
    const waits: number[] = [];
    for (let i = 0; i < 3; i++) {
      for (let spin = 0; spin < 500 && clock.pendingTimers === 0; spin++)
        await new Promise((r) => setTimeout(r, 5));
      const before = clock.now();
      // Advance 1 ms at a time to find when the retry fires.
      while (clock.pendingTimers > 0) clock.advance(1);
      waits.push(clock.now() - before);
    }
    expect(await done).toMatchObject({ code: 'REMOTE_UNREACHABLE' });
    expect(waits).toEqual([200, 400, 500]);
  });

  it('stops at once on a refusal a retry cannot fix (a wrong token), and resolves aborted on its signal', async () => {
    await using endpoint = await createRemoteLauncher({ listen: '127.0.0.1:0' });
    await expect(
      connectWorker({
        url: endpoint.url,
        tokenFile: await tokenFile('not-the-token-of-this-runtime'),
        env: {},
      }),
    ).rejects.toMatchObject({ code: 'REMOTE_REFUSED', reason: 'bad-token' });
    const controller = new AbortController();
    const waiting = connectWorker({
      url: endpoint.url,
      tokenFile: endpoint.tokenFile,
      env: {},
      signal: controller.signal,
    });
    for (let i = 0; i < 400 && endpoint.stats().waiting === 0; i++)
      await new Promise((r) => setTimeout(r, 10));
    controller.abort();
    expect(await waiting).toEqual({ reason: 'aborted', sessions: 0 });
  });
});
