import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixtureWorkerEntry } from './helpers/entries.js';
import { hasProc, processTree, processTreeRss, sampleTreeRss } from './helpers/procTree.js';
import { postTask, startService } from './helpers/service.js';

const MB = 1024 * 1024;
let service: Awaited<ReturnType<typeof startService>>;
let dependency: Server;
let dependencyCalls = 0;

beforeAll(async () => {
  dependency = createServer((_req, res) => {
    dependencyCalls++;
    res.writeHead(500).end('down');
  });
  await new Promise<void>((resolve) => dependency.listen(0, '127.0.0.1', resolve));
  const dependencyUrl = `http://127.0.0.1:${(dependency.address() as AddressInfo).port}`;
  service = await startService({
    entry: await fixtureWorkerEntry(),
    maxWorkers: 2,
    heapMB: 64,
    dependencyUrl,
  });
});

afterAll(async () => {
  await service?.close();
  await new Promise((resolve) => dependency?.close(resolve));
});

describe.runIf(hasProc)(
  'a service with a worker pool, admission and a breaker (real processes, real HTTP)',
  () => {
    it('counts the pool workers in the process tree read from /proc', async () => {
      await Promise.all([
        postTask(service.url, { op: 'sleep', ms: 200 }),
        postTask(service.url, { op: 'sleep', ms: 200 }),
      ]);
      expect(processTree().length).toBeGreaterThanOrEqual(3);
      expect(processTreeRss().bytes).toBeGreaterThan(process.memoryUsage().rss);
    });

    it('keeps the whole process tree under 512 MB through steady load', async () => {
      const sampler = sampleTreeRss();
      for (let i = 0; i < 12; i++) {
        const { status, body } = await postTask(service.url, { op: 'alloc', mb: 16, holdMs: 20 });
        expect(status).toBe(200);
        expect(body).toEqual({ result: 16 * MB });
      }
      const { peak } = sampler.stop();
      expect(peak).toBeGreaterThan(0);
      expect(peak).toBeLessThan(512 * MB);
    });

    it('keeps the tree under 1 GB through a burst of 10 concurrent requests, answering each', async () => {
      const sampler = sampleTreeRss();
      const answers = await Promise.all(
        Array.from({ length: 10 }, () => postTask(service.url, { op: 'alloc', mb: 32, holdMs: 50 })),
      );
      const { peak } = sampler.stop();
      expect(answers.map((a) => a.status)).toEqual(Array(10).fill(200));
      expect(peak).toBeLessThan(1024 * MB);
    });

    it('fails an out-of-memory task with WORKER_OOM while the service stays healthy', async () => {
      const { status, body } = await postTask(service.url, { op: 'leak' });
      expect(status).toBe(500);
      expect(body).toEqual({ code: 'WORKER_OOM' });
      const health = await fetch(`${service.url}/health`);
      expect(health.status).toBe(200);
      expect(await health.json()).toMatchObject({ status: 'ok', workers: { degraded: false } });
      expect(await postTask(service.url, { op: 'echo', value: 'alive' })).toEqual({
        status: 200,
        body: { result: 'alive' },
      });
    });

    it('lets fewer than 5 of 10 syncs reach a failing dependency behind the breaker', async () => {
      const codes: string[] = [];
      for (let i = 0; i < 10; i++) {
        const response = await fetch(`${service.url}/sync`, { method: 'POST' });
        expect(response.status).toBe(502);
        codes.push(((await response.json()) as { code: string }).code);
      }
      expect(dependencyCalls).toBeLessThan(5);
      expect(codes.filter((c) => c === 'BREAKER_OPEN').length).toBe(10 - dependencyCalls);
      const health = (await (await fetch(`${service.url}/health`)).json()) as { breakers: unknown };
      expect(health.breakers).toEqual({ dependency: 'open' });
    });
  },
);
