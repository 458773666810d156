import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { main } from '../src/main.js';

describe.each(['http', 'fastify'] as const)('governed %s server', (framework) => {
  it('admits, answers 429 with Retry-After when the queue is full, serves /health and /metrics', async () => {
    const lines: string[] = [];
    const demo = await main((line) => lines.push(line), { framework });

    expect(demo.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(demo.health.status).toBe(200);
    expect(demo.health.body).toMatchObject({ status: 'ok', queue: { depth: 0, maxDepth: 3 } });

    expect(demo.burst).toEqual([202, 202, 202, 429]);
    expect(demo.rejection.retryAfter).toBe('2'); // 3 queued × 500 ms ÷ 1 worker, rounded up
    expect(demo.rejection.body).toMatchObject({ code: 'QUEUE_FULL', retryAfterSeconds: 2 });
    expect(demo.processed).toEqual(['job-1', 'job-2', 'job-3', 'job-4']);
    expect(demo.afterDrain).toBe(202);

    expect(demo.metrics).toContain('# TYPE ordo_admission_rejections_total counter');
    expect(demo.metrics).toContain('ordo_admission_rejections_total{reason="QUEUE_FULL"} 1');
    expect(demo.metrics).toContain('ordo_queue_depth{priority="NORMAL"} 0');
    expect(lines.join('\n')).toContain(`${framework} server on ${demo.url}`);
  });
});

it('runs as `pnpm start`', async () => {
  const { stdout } = await promisify(execFile)('pnpm', ['-s', 'start'], {
    cwd: join(import.meta.dirname, '..'),
  });
  expect(stdout).toContain('ordo_admission_rejections_total{reason="QUEUE_FULL"} 1');
}, 60_000); // tsx compiles the example on start: slow on a loaded machine
