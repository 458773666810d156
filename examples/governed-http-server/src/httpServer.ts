/** The service behind a plain `node:http` server: admission in front of `POST /tasks`, `/metrics`, `/health`. */
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { TaskService } from './taskService.js';

/** A listening server. */
export interface RunningServer {
  readonly url: string;
  close(): Promise<void>;
}

/** Listens on 127.0.0.1 (`port` 0: any free port). */
export async function startHttpServer(service: TaskService, { port = 0 } = {}): Promise<RunningServer> {
  const server = createServer((req, res) => {
    const route = `${req.method} ${req.url}`;
    if (route === 'GET /health') return service.health(req, res); // 200, or 503 from 'critical' memory on
    if (route === 'GET /metrics') {
      const { registry } = service.metrics;
      void registry
        .metrics()
        .then((text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text));
      return;
    }
    if (route === 'POST /tasks') {
      // Admission first: it answers 503 / 429 with Retry-After itself and returns false.
      if (!service.admission.handle(req, res)) return;
      const job = service.submit();
      res
        .writeHead(job ? 202 : 429, { 'content-type': 'application/json' })
        .end(JSON.stringify(job ? { id: job.id, queued: service.queue.depth } : { code: 'QUEUE_FULL' }));
      return;
    }
    res.writeHead(404).end();
  });
  server.listen(port, '127.0.0.1');
  await once(server, 'listening');
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    async close() {
      server.closeAllConnections(); // keep-alive sockets of clients would otherwise hold close() open
      server.close();
      await once(server, 'close');
    },
  };
}
