import { describe, expect, it } from 'vitest';
import { main } from '../src/cli/main.js';
import { memoryIo, tempDir } from './support/memoryIo.js';
import { startOrdo } from './support/ordoProcess.js';

/** `Promise.withResolvers` (Node 22+) for Node 20. */
function deferred<T>() {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

const LISTENING = /listening on (http:\/\/127\.0\.0\.1:\d+) /;

/** GETs the three endpoints of a runtime server. */
async function endpoints(url: string) {
  const health = await fetch(`${url}/health`);
  const metrics = await fetch(`${url}/metrics`);
  const status = await fetch(`${url}/status`);
  return {
    health: { code: health.status, body: await health.json() },
    metrics: { code: metrics.status, type: metrics.headers.get('content-type'), body: await metrics.text() },
    status: { code: status.status, body: await status.json() },
  };
}

describe('ordo serve', { timeout: 60_000 }, () => {
  it('serves /health, /metrics and /status on port 0 until the signal aborts; exit 0', async () => {
    await using dir = await tempDir();
    const controller = new AbortController();
    const listening = deferred<string>();
    const io = memoryIo({ cwd: dir.path, signal: controller.signal });
    io.io.stdout = {
      write: (chunk: string) => {
        const match = LISTENING.exec(chunk);
        if (match?.[1] !== undefined) listening.resolve(match[1]);
      },
    };
    const exit = main(['serve', '--port', '0'], io.io);
    const url = await Promise.race([
      listening.promise,
      exit.then((code) => `exited ${code}: ${io.stderr()}`),
    ]);
    expect(url).toMatch(/^http:/);

    const got = await endpoints(url);
    expect(got.health).toMatchObject({ code: 200, body: { status: 'ok' } });
    expect(got.metrics.code).toBe(200);
    expect(got.metrics.type).toContain('text/plain');
    expect(got.metrics.body).toMatch(/^# HELP /m);
    expect(got.status).toEqual({ code: 404, body: { error: 'No feature has run yet in this workspace.' } });

    controller.abort('SIGTERM');
    expect(await exit).toBe(0);
    await expect(fetch(`${url}/health`)).rejects.toThrow();
  });

  it('exits 1 when the port is taken', async () => {
    await using dir = await tempDir();
    const first = new AbortController();
    const listening = deferred<string>();
    const io = memoryIo({ cwd: dir.path, signal: first.signal });
    io.io.stdout = { write: (chunk: string) => listening.resolve(LISTENING.exec(chunk)?.[1] ?? '') };
    const running = main(['serve', '--port', '0'], io.io);
    const port = new URL(await listening.promise).port;

    const second = memoryIo({ cwd: dir.path, signal: new AbortController().signal });
    expect(await main(['serve', '--port', port], second.io)).toBe(1);
    expect(second.stderr()).toMatch(/^error EADDRINUSE: listen EADDRINUSE/);
    expect(second.stderr()).toContain('hint: the port is taken: pass another with --port');
    first.abort();
    expect(await running).toBe(0);
  });

  it('as a process: answers on port 0, then stops cleanly on SIGTERM', async () => {
    await using dir = await tempDir();
    const ordo = startOrdo(['serve', '--port', '0'], dir.path);
    const url = LISTENING.exec(await ordo.waitFor(LISTENING))?.[1] as string;
    const got = await endpoints(url);
    expect(got.health.code).toBe(200);
    expect(got.metrics.body).toMatch(/^# TYPE /m);
    expect(got.status.code).toBe(404);

    ordo.child.kill('SIGTERM');
    expect(await ordo.exited).toEqual({ code: 0, signal: null });
    expect(ordo.stdout()).toContain('ordo serve: stopped');
    expect(ordo.stderr()).toBe('');
  });
});
