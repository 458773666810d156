import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { isOrdoError, type Logger } from '@ordo/contracts';
import {
  CircuitBreaker,
  createAdmission,
  createHealthHandler,
  MemoryMonitor,
  PriorityQueue,
  type QueueItem,
  WorkerPool,
} from '../../src/index.js';

/** Options for {@link startService}. */
export interface ServiceOptions {
  entry: string;
  maxWorkers?: number;
  heapMB?: number;
  queueDepth?: number;
  /** Node flags for the workers (the leak soak's `--expose-gc`). */
  execArgv?: readonly string[];
  /** Extra environment for the workers. */
  env?: Readonly<Record<string, string>>;
  /** Where `/sync` sends its calls through the breaker. */
  dependencyUrl?: string;
  logger?: Logger;
}

async function body(req: IncomingMessage): Promise<unknown> {
  let text = '';
  for await (const chunk of req) text += chunk;
  return text === '' ? null : JSON.parse(text);
}

/**
 * A small service the way a host would wire governance: a worker pool behind HTTP admission, a health
 * endpoint, and a breaker in front of a dependency. Routes: `POST /tasks` (JSON payload → result),
 * `GET /health`, `POST /sync` (one call to the dependency through the breaker).
 */
export async function startService(options: ServiceOptions) {
  const monitor = new MemoryMonitor({ intervalMs: 250 }).start();
  const queue = new PriorityQueue<QueueItem>({ maxDepth: options.queueDepth ?? 50 });
  const pool = new WorkerPool({
    entry: options.entry,
    maxWorkers: options.maxWorkers ?? 2,
    heapMB: options.heapMB ?? 128,
    queue,
    ...(options.execArgv ? { execArgv: options.execArgv } : {}),
    ...(options.env ? { env: options.env } : {}),
    ...(options.logger ? { logger: options.logger } : {}),
  });
  const breaker = new CircuitBreaker({
    name: 'dependency',
    failureThreshold: 3,
    backoff: { initialMs: 60_000 },
  });
  const admission = createAdmission({ monitor, queue, pool });
  const health = createHealthHandler({ monitor, queue, breakers: [breaker], pool });
  const send = (res: import('node:http').ServerResponse, status: number, value: unknown) => {
    const text = JSON.stringify(value);
    res.writeHead(status, { 'content-type': 'application/json' }).end(text);
  };
  const server: Server = createServer((req, res) => {
    if (req.url === '/health') return health(req, res);
    if (req.url === '/sync') {
      void breaker
        .execute(async ({ signal }) => {
          const response = await fetch(options.dependencyUrl ?? 'http://127.0.0.1:9', { signal });
          if (!response.ok) throw new Error(`dependency answered ${response.status}`);
          return response.text();
        })
        .then(
          (text) => send(res, 200, { text }),
          (error: unknown) => send(res, 502, { code: isOrdoError(error) ? error.code : 'DEPENDENCY_FAILED' }),
        );
      return;
    }
    admission(req, res, () => {
      void body(req)
        .then((payload) => pool.run(payload))
        .then(
          (result) => send(res, 200, { result }),
          (error: unknown) =>
            send(res, isOrdoError(error, 'POOL_QUEUE_FULL') ? 429 : 500, {
              code: isOrdoError(error) ? error.code : 'ERROR',
            }),
        );
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    pool,
    monitor,
    admission,
    breaker,
    async close() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      await pool.close({ mode: 'kill' });
      await monitor.close();
    },
  };
}

/** POSTs a task to the service and returns the status and JSON body. */
export async function postTask(url: string, payload: unknown): Promise<{ status: number; body: unknown }> {
  const response = await fetch(`${url}/tasks`, { method: 'POST', body: JSON.stringify(payload) });
  return { status: response.status, body: await response.json() };
}
