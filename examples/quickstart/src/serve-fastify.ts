/**
 * `runtime.httpHandler()` inside a Fastify app: the runtime's `/health`, `/metrics` and `/status` next to
 * the host's own routes. The handler is a plain node:http listener, so Fastify hands it the raw request and
 * response (`reply.hijack()` tells Fastify not to answer itself). Express mounts it the same way:
 * `app.get(['/health', '/metrics', '/status'], handler)`.
 */
import { cp, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { createRuntime, type Runtime } from '@ordo/runtime';
import Fastify from 'fastify';
import { PROJECT_DIR } from './main.js';

/** A listening server: its base URL and how to stop it. */
export interface RunningServer {
  readonly url: string;
  close(): Promise<void>;
}

/** Serves the runtime's endpoints and one route of the host's own (`GET /hello`) on 127.0.0.1. */
export async function startFastify(runtime: Runtime, { port = 0 } = {}): Promise<RunningServer> {
  const app = Fastify();
  const handler = runtime.httpHandler();
  for (const path of ['/health', '/metrics', '/status']) {
    app.get(path, (request, reply) => {
      reply.hijack();
      handler(request.raw, reply.raw);
    });
  }
  app.get('/hello', async () => ({ hello: 'from the host app' }));
  const url = await app.listen({ port, host: '127.0.0.1' });
  return { url, close: () => app.close() };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const workspace = await mkdtemp(join(tmpdir(), 'ordo-quickstart-serve-'));
  await cp(PROJECT_DIR, workspace, { recursive: true });
  const runtime = await createRuntime({ workspace });
  const server = await startFastify(runtime, { port: Number(process.env.PORT ?? 3000) });
  console.log(
    `Fastify with the ordo runtime on ${server.url}: try /health, /metrics, /status, /hello (Ctrl-C stops)`,
  );
  const stop = async () => {
    await server.close();
    await runtime.close();
    await rm(workspace, { recursive: true, force: true });
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}
