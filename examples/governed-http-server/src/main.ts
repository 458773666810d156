/**
 * Governed HTTP server: admission in front of a task route, Prometheus `/metrics` and `/health`. The example
 * starts the server on 127.0.0.1, drives a few requests against itself (a full queue answers 429), prints
 * what it got and closes. `--fastify` runs the same service behind Fastify.
 */
import { pathToFileURL } from 'node:url';
import type { HealthReport } from '@ordo/governance';
import { startFastifyServer } from './fastifyServer.js';
import { startHttpServer } from './httpServer.js';
import { createTaskService } from './taskService.js';

/** What the example found, for its smoke test. */
export interface GovernedServerDemo {
  readonly url: string;
  readonly health: { status: number; body: HealthReport };
  /** The status of each `POST /tasks` while the worker was paused. */
  readonly burst: readonly number[];
  readonly rejection: { retryAfter: string | null; body: unknown };
  readonly afterDrain: number;
  readonly processed: readonly string[];
  readonly metrics: string;
}

/** Runs the whole demonstration, printing through `log`. */
export async function main(
  log: (line: string) => void = console.log,
  { framework = 'http' }: { framework?: 'http' | 'fastify' } = {},
): Promise<GovernedServerDemo> {
  await using service = createTaskService({ maxDepth: 3 });
  const server = await (framework === 'fastify' ? startFastifyServer : startHttpServer)(service);
  try {
    const { url } = server;
    log(`${framework} server on ${url} (task queue: 3 deep, one worker)`);
    const post = () => fetch(`${url}/tasks`, { method: 'POST' });

    const healthResponse = await fetch(`${url}/health`);
    const health = { status: healthResponse.status, body: (await healthResponse.json()) as HealthReport };
    log(`GET /health → ${health.status} ${JSON.stringify(health.body)}`);

    // The worker is paused, so jobs stay queued: three fill the queue, the fourth is refused.
    service.pause();
    log('\nworker paused; POST /tasks × 4:');
    const burst: number[] = [];
    let rejection: GovernedServerDemo['rejection'] = { retryAfter: null, body: undefined };
    for (let i = 0; i < 4; i++) {
      const response = await post();
      const body: unknown = await response.json();
      burst.push(response.status);
      const retryAfter = response.headers.get('retry-after');
      log(
        `  ${response.status} ${JSON.stringify(body)}${retryAfter ? ` (Retry-After: ${retryAfter} s)` : ''}`,
      );
      if (response.status === 429) rejection = { retryAfter, body };
    }

    service.resume();
    await service.drained();
    log(`\nworker resumed, queue drained: ${service.processed.join(', ')}`);
    const again = await post();
    log(`POST /tasks → ${again.status} ${JSON.stringify(await again.json())} (admitted again)`);
    await service.drained();

    const metrics = await (await fetch(`${url}/metrics`)).text();
    log('\nGET /metrics (excerpt):');
    for (const line of metrics.split('\n')) {
      if (/^ordo_(admission_rejections_total|queue_depth\{priority="NORMAL"\}|memory_level)[ {]/.test(line)) {
        log(`  ${line}`);
      }
    }
    return {
      url,
      health,
      burst,
      rejection,
      afterDrain: again.status,
      processed: [...service.processed],
      metrics,
    };
  } finally {
    await server.close();
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await main(console.log, { framework: process.argv.includes('--fastify') ? 'fastify' : 'http' });
}
