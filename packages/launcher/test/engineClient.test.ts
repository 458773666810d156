import { createServer } from 'node:http';
import { join } from 'node:path';
import { isOrdoError, noopLogger } from '@ordo/contracts';
import { describe, expect, it } from 'vitest';
import { ContainerLauncher } from '../src/index.js';
import { EngineClient, type EngineRequest } from '../src/internal/engine.js';
import { tempDir } from './helpers.js';

const LIST: EngineRequest = { method: 'GET', path: '/containers/json', endpoint: 'GET /containers/json' };

/** A node:http server on a unix socket that answers every request with an empty JSON list. */
async function listEngine() {
  const dir = await tempDir();
  const socketPath = join(dir.path, 'engine.sock');
  let requests = 0;
  const server = createServer((_request, response) => {
    requests++;
    response.setHeader('content-type', 'application/json');
    response.end('[]');
  });
  await new Promise<void>((resolve) => server.listen(socketPath, resolve));
  return {
    socketPath,
    requests: () => requests,
    async [Symbol.asyncDispose]() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      await dir[Symbol.asyncDispose]();
    },
  };
}

describe('EngineClient', () => {
  it('a docker.url that is not an http(s) origin fails when the launcher is created, before any call', () => {
    for (const url of [
      'not a url',
      'ftp://host:2375',
      'tcp://host:2375/v1.41',
      'http://host:2375?x=1',
      'http://host:2375/#a',
    ]) {
      let error: unknown;
      try {
        new ContainerLauncher({ docker: { url }, image: 'ordo-test/busybox:1' });
      } catch (thrown) {
        error = thrown;
      }
      expect(isOrdoError(error, 'LAUNCHER_INVALID_OPTIONS'), url).toBe(true);
      expect((error as Error).message).toContain(JSON.stringify(url));
    }
    for (const url of ['tcp://127.0.0.1:2375', 'http://host:2375/', 'https://host:2376']) {
      expect(new ContainerLauncher({ docker: { url }, image: 'ordo-test/busybox:1' }).engine).toBe(
        url.replace(/^tcp:/, 'http:'),
      );
    }
  });

  it('closed before its first call, refuses calls as one closed after a call does', async () => {
    await using engine = await listEngine();
    const used = new EngineClient({ socketPath: engine.socketPath }, noopLogger);
    expect((await used.request(LIST)).json()).toEqual([]);
    await used.close();
    const unused = new EngineClient({ socketPath: engine.socketPath }, noopLogger);
    await unused.close();
    await unused.close(); // twice is fine
    const afterUse = await used.request(LIST).catch((e: unknown) => e);
    const beforeUse = await unused.request(LIST).catch((e: unknown) => e);
    const upgrade = await unused.upgrade({ ...LIST, method: 'POST' }).catch((e: unknown) => e);
    for (const error of [afterUse, beforeUse, upgrade]) {
      expect(isOrdoError(error, 'LAUNCHER_ENGINE_UNAVAILABLE')).toBe(true);
      expect(((error as Error).cause as { code?: string }).code).toBe('UND_ERR_DESTROYED');
    }
    expect(engine.requests()).toBe(1);
  });
});
