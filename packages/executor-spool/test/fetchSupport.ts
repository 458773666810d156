import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ResolvedAddress } from '../src/index.js';

export type Handler = (req: IncomingMessage, res: ServerResponse, port: number) => void;

/** A real node:http server on 127.0.0.1 that counts connections and requests. */
export async function startServer(handler: Handler) {
  const stats = {
    connections: 0,
    closed: 0,
    requests: [] as { url: string; method: string; headers: object }[],
  };
  let port = 0;
  const waiters = new Set<() => void>();
  const wake = () => {
    for (const waiter of waiters) waiter();
  };
  const server = createServer((req, res) => {
    stats.requests.push({ url: req.url ?? '', method: req.method ?? '', headers: req.headers });
    handler(req, res, port);
    wake();
  });
  server.on('connection', (socket) => {
    stats.connections++;
    wake();
    socket.on('close', () => stats.closed++);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
  return {
    port,
    stats,
    /** Resolves once `predicate(stats)` holds, checked after every connection and request. */
    until(predicate: (current: typeof stats) => boolean): Promise<void> {
      return new Promise((resolve) => {
        const check = () => {
          if (!predicate(stats)) return;
          waiters.delete(check);
          resolve();
        };
        waiters.add(check);
        check();
      });
    },
    async [Symbol.asyncDispose]() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/** An injected resolver: the only DNS the tests use. */
export function resolver(table: Record<string, string>) {
  const calls: string[] = [];
  const resolve = async (hostname: string): Promise<ResolvedAddress[]> => {
    calls.push(hostname);
    const address = table[hostname.replace(/\.$/, '').toLowerCase()];
    if (address === undefined) throw Object.assign(new Error(`ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' });
    return [{ address, family: address.includes(':') ? 6 : 4 }];
  };
  return { calls, resolve };
}

export async function rejection(promise: Promise<unknown>): Promise<{ code?: string } & Error> {
  try {
    await promise;
  } catch (error) {
    return error as { code?: string } & Error;
  }
  throw new Error('expected a rejection');
}
