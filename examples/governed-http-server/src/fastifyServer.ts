/** The same service behind Fastify: admission as an `onRequest` hook scoped to the task routes. */
import Fastify from 'fastify';
import type { RunningServer } from './httpServer.js';
import type { TaskService } from './taskService.js';

/** Listens on 127.0.0.1 (`port` 0: any free port). */
export async function startFastifyServer(service: TaskService, { port = 0 } = {}): Promise<RunningServer> {
  const app = Fastify();
  app.get('/health', async (_request, reply) => {
    const report = service.health.report();
    return reply.code(report.status === 'ok' ? 200 : 503).send(report);
  });
  app.get('/metrics', async (_request, reply) => {
    const { registry } = service.metrics;
    return reply.type(registry.contentType).send(await registry.metrics());
  });
  // An encapsulated plugin: the hook guards the routes registered inside it, not /health or /metrics.
  await app.register(async (tasks) => {
    tasks.addHook('onRequest', service.admission.admissionHook);
    tasks.post('/tasks', async (_request, reply) => {
      const job = service.submit();
      return job
        ? reply.code(202).send({ id: job.id, queued: service.queue.depth })
        : reply.code(429).send({ code: 'QUEUE_FULL' });
    });
  });
  const url = await app.listen({ port, host: '127.0.0.1' });
  return { url, close: () => app.close() };
}
