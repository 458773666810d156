import { createServer } from 'node:http';
import { describe, expect, it } from 'vitest';
import { createRuntime } from '../src/index.js';
import { closeServer, listen } from './helpers/httpServer.js';
import { tempWorkspace } from './helpers/workspace.js';

describe('runtime.httpHandler', () => {
  it('serves /metrics, /health and /status, and passes other routes through admission to next', async () => {
    const ws = await tempWorkspace();
    await using runtime = await createRuntime({ workspace: ws, workers: 1 });
    const server = createServer(
      runtime.httpHandler({
        next: (req, res) => {
          res.writeHead(200, { 'content-type': 'text/plain' });
          res.end(`host route ${req.url}`);
        },
      }),
    );
    const base = await listen(server);
    try {
      const before = await fetch(`${base}/status`);
      expect(before.status).toBe(404);
      expect(await before.json()).toEqual({ error: 'No feature has run yet in this workspace.' });

      await runtime.runFeature({
        feature: 'served',
        tasks: [{ id: 'a', files: ['a.txt'], run: { shell: 'echo a > a.txt' } }],
      });

      const metrics = await fetch(`${base}/metrics`);
      expect(metrics.status).toBe(200);
      expect(metrics.headers.get('content-type')).toMatch(/^text\/plain/);
      const text = await metrics.text();
      expect(text).toMatch(/ordo_runtime_tasks_total\{status="committed"\} 1/);
      expect(text).toContain('ordo_queue_depth');

      const health = await fetch(`${base}/health`);
      expect(health.status).toBe(200);
      expect(await health.json()).toMatchObject({
        status: 'ok',
        memory: { level: 'normal' },
        breakers: { 'worker-spawn': 'closed' },
      });

      const status = await fetch(`${base}/status?x=1`);
      expect(status.status).toBe(200);
      expect(await status.json()).toMatchObject({ feature: 'served', completedTasks: 1, totalTasks: 1 });

      const other = await fetch(`${base}/api/thing`);
      expect(other.status).toBe(200);
      expect(await other.text()).toBe('host route /api/thing');
    } finally {
      await closeServer(server);
    }
  });

  it("serves the state file's feature on /status when this runtime has run nothing yet", async () => {
    const ws = await tempWorkspace();
    {
      await using first = await createRuntime({ workspace: ws, workers: 1 });
      await first.runFeature({
        feature: 'earlier',
        tasks: [{ id: 'a', files: ['a.txt'], run: { shell: 'echo a > a.txt' } }],
      });
    }
    await using second = await createRuntime({ workspace: ws, workers: 1 });
    expect(second.status()).toBeUndefined();
    const server = createServer(second.httpHandler());
    const base = await listen(server);
    try {
      const status = await fetch(`${base}/status`);
      expect(status.status).toBe(200);
      expect(await status.json()).toMatchObject({ feature: 'earlier', completedTasks: 1, totalTasks: 1 });
    } finally {
      await closeServer(server);
    }
  });

  it('answers 404 for other routes without next, and 503 with Retry-After under memory pressure', async () => {
    const ws = await tempWorkspace();
    // A memory limit this process is far above: the monitor reads emergency at once.
    await using runtime = await createRuntime({
      workspace: ws,
      workers: 1,
      config: { memory: { limitBytes: 1024 * 1024 } },
    });
    const server = createServer(runtime.httpHandler());
    const base = await listen(server);
    try {
      const refused = await fetch(`${base}/work`);
      expect(refused.status).toBe(503);
      expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      expect(await refused.json()).toMatchObject({ code: 'MEMORY_PRESSURE' });
      const health = await fetch(`${base}/health`);
      expect(health.status).toBe(503);
      expect(await (await fetch(`${base}/metrics`)).text()).toMatch(
        /ordo_admission_rejections_total\{reason="memory"\} 1/,
      );
    } finally {
      await closeServer(server);
    }
    const ok = await createRuntime({ workspace: ws, workers: 1 });
    const plain = createServer(ok.httpHandler());
    const url = await listen(plain);
    try {
      expect((await fetch(`${url}/nothing`)).status).toBe(404);
    } finally {
      await closeServer(plain);
      await ok.close();
    }
  });

  it('applies admission.ratePerSecond and burst from the config: 429 RATE_LIMITED past them, counted as rate', async () => {
    const ws = await tempWorkspace();
    await using runtime = await createRuntime({
      workspace: ws,
      workers: 1,
      // One token every 10 s: the third request is refused unless the three take 10 s.
      config: { admission: { ratePerSecond: 0.1, burst: 2 } },
    });
    const server = createServer(
      runtime.httpHandler({
        next: (_req, res) => {
          res.end('routed');
        },
      }),
    );
    const base = await listen(server);
    try {
      const started = performance.now();
      expect((await fetch(`${base}/work`)).status).toBe(200);
      expect((await fetch(`${base}/work`)).status).toBe(200);
      const refused = await fetch(`${base}/work`);
      const seconds = (performance.now() - started) / 1_000;
      expect(refused.status).toBe(429);
      // The time to the next token: 10 s less what refilled since the first request (10 s on a fast machine).
      const retryAfter = Number(refused.headers.get('retry-after'));
      expect(retryAfter).toBeLessThanOrEqual(10);
      expect(retryAfter).toBeGreaterThanOrEqual(Math.ceil(10 - seconds));
      expect(await refused.json()).toMatchObject({ code: 'RATE_LIMITED' });
      // ordo's own routes are never rate limited.
      expect((await fetch(`${base}/health`)).status).toBe(200);
      expect(await (await fetch(`${base}/metrics`)).text()).toMatch(
        /ordo_admission_rejections_total\{reason="rate"\} 1/,
      );
    } finally {
      await closeServer(server);
    }
  });
});
