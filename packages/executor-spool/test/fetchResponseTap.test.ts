import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Agent, type Dispatcher } from 'undici';
import { describe, expect, it } from 'vitest';
import { createResponseTap, type ResponseTap } from '../src/internal/responseTap.js';

async function startServer() {
  const server = createServer((req, res) => {
    if (req.url === '/gzip') res.writeHead(200, { 'Content-Encoding': 'gzip' });
    res.end('0123456789abcdef'); // 16 bytes
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    async [Symbol.asyncDispose]() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

function agentOf() {
  const agent = new Agent();
  return { agent, [Symbol.asyncDispose]: () => (agent.destroyed ? Promise.resolve() : agent.close()) };
}

/** Sends one GET through the tap with a handler of undici's older shape (the one fetch uses). */
function legacyGet(tap: ResponseTap, origin: string, path: string) {
  const chunks: Buffer[] = [];
  return new Promise<{ body: string; error?: Error }>((resolve) => {
    tap.dispatch(
      { origin, path, method: 'GET' },
      {
        onConnect() {},
        onHeaders: () => true,
        onData(chunk) {
          chunks.push(chunk);
          return true;
        },
        onComplete: () => resolve({ body: Buffer.concat(chunks).toString() }),
        onError: (error) => resolve({ body: Buffer.concat(chunks).toString(), error }),
      },
    );
  });
}

describe('ResponseTap', () => {
  it('counts a plain body, reports completion and settles once', async () => {
    await using server = await startServer();
    await using agent = agentOf();
    const events = { tooLarge: 0, complete: 0, settled: 0 };
    const tap = createResponseTap(agent.agent, 16, {
      onTooLarge: () => events.tooLarge++,
      onComplete: () => events.complete++,
    });
    expect(await legacyGet(tap, server.origin, '/')).toEqual({ body: '0123456789abcdef' });
    tap.whenSettled(() => events.settled++);
    expect([tap.counted, events]).toEqual([true, { tooLarge: 0, complete: 1, settled: 1 }]);
  });

  it('stops forwarding past the cap and says so', async () => {
    await using server = await startServer();
    await using agent = agentOf();
    let saidTooLarge: () => void = () => {};
    const tooLarge = new Promise<void>((resolve) => {
      saidTooLarge = resolve;
    });
    const tap = createResponseTap(agent.agent, 15, { onTooLarge: saidTooLarge, onComplete: () => {} });
    const pending = legacyGet(tap, server.origin, '/');
    await tooLarge;
    // The fetch aborts here (dropping the connection); destroying the agent does the same.
    await agent.agent.destroy();
    const { body, error } = await pending;
    expect(body).toBe('');
    expect(error).toBeInstanceOf(Error);
  });

  it('leaves a content-encoded body and a handler of the newer shape uncounted', async () => {
    await using server = await startServer();
    await using agent = agentOf();
    const events = { onTooLarge: () => {}, onComplete: () => {} };
    const encoded = createResponseTap(agent.agent, 1, events);
    expect(await legacyGet(encoded, server.origin, '/gzip')).toEqual({ body: '0123456789abcdef' });
    expect(encoded.counted).toBe(false);
    const newer = createResponseTap(agent.agent, 1, events);
    await new Promise<void>((resolve, reject) => {
      const handler: Dispatcher.DispatchHandler = {
        onRequestStart: () => {},
        onResponseEnd: () => resolve(),
        onResponseError: (_controller, error) => reject(error),
      };
      newer.dispatch({ origin: server.origin, path: '/', method: 'GET' }, handler);
    });
    expect(newer.counted).toBe(false);
  });
});
