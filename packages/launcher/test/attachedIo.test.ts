import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import { isOrdoError, noopLogger } from '@ordo/contracts';
import { describe, expect, it } from 'vitest';
import type { DockerConnection } from '../src/index.js';
import { AttachedIo } from '../src/internal/attachedIo.js';
import { EngineClient } from '../src/internal/engine.js';
import { TLS_DIR } from './fakeEngine.js';
import { takeLines, tempDir } from './helpers.js';

/*
 * The attach channel against a real HTTP server that plays the engine's side of
 * `POST /containers/{id}/attach`: it answers 101 and frames what it is sent, like a container running an
 * echo script. The real engine is in docker.io.test.ts.
 */

function frame(kind: 1 | 2, text: string | Buffer): Buffer {
  const body = Buffer.from(text);
  const header = Buffer.alloc(8);
  header[0] = kind;
  header.writeUInt32BE(body.length, 4);
  return Buffer.concat([header, body]);
}

/**
 * Each line it reads: `ERR x` → `x` on stderr, `FLOOD n` → n numbered stdout lines, `GARBAGE` → bytes
 * that are not a frame, `BYE` → ends the stream; anything else is echoed on stdout.
 */
function playAttach(socket: Duplex): void {
  let partial = '';
  socket.on('error', () => {});
  socket.on('data', (chunk: Buffer) => {
    const lines = (partial + chunk.toString('utf8')).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) {
      if (line.startsWith('ERR ')) socket.write(frame(2, `${line.slice(4)}\n`));
      else if (line.startsWith('FLOOD ')) {
        const n = Number(line.slice(6));
        const batch: Buffer[] = [];
        for (let i = 0; i < n; i++) batch.push(frame(1, `line ${i}\n`));
        socket.write(Buffer.concat(batch));
      } else if (line === 'GARBAGE') socket.write('this is not a frame\n');
      else if (line === 'BYE') socket.end();
      else socket.write(frame(1, `${line}\n`));
    }
  });
}

async function startAttachServer(listen: 'unix' | 'tcp' | 'tls') {
  const dir = await tempDir('ordo-attach-');
  const socketPath = join(dir.path, 'engine.sock');
  const pem = (name: string) => readFileSync(join(TLS_DIR, name));
  const server: Server =
    listen === 'tls'
      ? createTlsServer({
          key: pem('server-key.pem'),
          cert: pem('server-cert.pem'),
          ca: pem('ca.pem'),
          requestCert: true,
        })
      : createServer();
  const sockets = new Set<Duplex>();
  // Node hands every request with an Upgrade header here; answer as the engine would.
  server.on('upgrade', (req: IncomingMessage, socket: Duplex) => {
    const id = /^\/containers\/([^/]+)\/attach\?stream=1/.exec(req.url ?? '')?.[1];
    if (req.method !== 'POST' || id === undefined || !/^(w\d|plain)$/.test(id)) {
      const body = JSON.stringify({ message: `No such container: ${id}` });
      socket.end(
        `HTTP/1.1 404 Not Found\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\n\r\n${body}`,
      );
      return;
    }
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    if (id === 'plain') {
      // An engine that streams without upgrading the connection.
      socket.write('HTTP/1.1 200 OK\r\ncontent-type: application/vnd.docker.raw-stream\r\n\r\n');
      socket.write(frame(1, 'hello\n'));
      return;
    }
    socket.write(
      'HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker.raw-stream\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n',
    );
    if (id === 'w9')
      socket.pause(); // a worker that never reads its stdin
    else playAttach(socket);
  });
  await new Promise<void>((resolve) =>
    listen === 'unix' ? server.listen(socketPath, resolve) : server.listen(0, '127.0.0.1', resolve),
  );
  const url = `tcp://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const connection: DockerConnection =
    listen === 'unix'
      ? { socketPath }
      : listen === 'tcp'
        ? { url }
        : { url, tls: { ca: pem('ca.pem'), cert: pem('cert.pem'), key: pem('key.pem') } };
  const engine = new EngineClient(connection, noopLogger);
  return {
    engine,
    /** How many attach connections the server holds open. */
    get open() {
      return sockets.size;
    },
    async attach(id = 'w1', maxBufferedLines = 1000, stderr: string[] = []) {
      const socket = await engine.upgrade({
        method: 'POST',
        path: `/containers/${id}/attach`,
        endpoint: 'POST /containers/{id}/attach',
        query: { stream: 1, stdin: 1, stdout: 1, stderr: 1 },
      });
      return new AttachedIo(socket, {
        workerId: id,
        maxBufferedLines,
        onStderr: (line) => stderr.push(line),
      });
    },
    async [Symbol.asyncDispose]() {
      await engine.close();
      server.closeAllConnections();
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await dir[Symbol.asyncDispose]();
    },
  };
}

describe('AttachedIo over a hijacked engine connection', () => {
  for (const listen of ['unix', 'tcp', 'tls'] as const) {
    it(`echoes lines in order and separates stderr (${listen})`, async () => {
      await using server = await startAttachServer(listen);
      const stderr: string[] = [];
      const io = await server.attach('w1', 1000, stderr);
      for (let i = 0; i < 100; i++) await io.send(JSON.stringify({ seq: i, text: 'héllo ✓' }));
      await io.send('ERR a warning');
      await io.send('BYE');
      const lines: string[] = [];
      for await (const line of io.lines()) lines.push(line); // ends when the server ends the stream
      expect(lines).toEqual(
        Array.from({ length: 100 }, (_, i) => JSON.stringify({ seq: i, text: 'héllo ✓' })),
      );
      expect(stderr).toEqual(['a warning']);
      expect(io.open).toBe(false);
      expect(server.engine.apiCalls()).toEqual({ 'POST /containers/{id}/attach': 1 });
    });
  }

  it('a 404 is LAUNCHER_ENGINE_ERROR with the engine message; the pool stays usable', async () => {
    await using server = await startAttachServer('unix');
    const error = await server.attach('missing').catch((e: unknown) => e);
    expect(isOrdoError(error, 'LAUNCHER_ENGINE_ERROR')).toBe(true);
    expect((error as Error).message).toMatch(
      /answered POST \/containers\/\{id\}\/attach with 404: No such container: missing/,
    );
    expect((error as { details: unknown }).details).toMatchObject({ status: 404 });
    const io = await server.attach('w2');
    await io.send('still works');
    expect(await takeLines(io.lines(), 1)).toEqual(['still works']);
    await io.close();
  });

  it('an answer that streams without upgrading is LAUNCHER_ENGINE_ERROR at once, not a hang', async () => {
    await using server = await startAttachServer('unix');
    const error = await server.attach('plain').catch((e: unknown) => e);
    expect(isOrdoError(error, 'LAUNCHER_ENGINE_ERROR')).toBe(true);
    expect((error as Error).message).toMatch(/with 200 but did not upgrade the connection/);
  });

  it('an engine that is not there is LAUNCHER_ENGINE_UNAVAILABLE', async () => {
    await using dir = await tempDir();
    const engine = new EngineClient({ socketPath: join(dir.path, 'nothing.sock') }, noopLogger);
    const error = await engine
      .upgrade({ method: 'POST', path: '/containers/w1/attach', endpoint: 'attach' })
      .catch((e: unknown) => e);
    expect(isOrdoError(error, 'LAUNCHER_ENGINE_UNAVAILABLE')).toBe(true);
    expect((error as Error).message).toMatch(/nothing\.sock/);
    await engine.close();
  });

  it('an aborted signal rejects with its reason and opens nothing', async () => {
    await using server = await startAttachServer('unix');
    const reason = new Error('stop');
    const attach = server.engine.upgrade({
      method: 'POST',
      path: '/containers/w1/attach',
      endpoint: 'attach',
      signal: AbortSignal.abort(reason),
    });
    await expect(attach).rejects.toBe(reason);
    expect(server.open).toBe(0);
  });

  it('a stream that is not framed ends lines() with LAUNCHER_IO_STREAM_CORRUPT after the good lines', async () => {
    await using server = await startAttachServer('unix');
    const io = await server.attach();
    await io.send('good');
    await io.send('GARBAGE');
    const got: string[] = [];
    const error = await (async () => {
      for await (const line of io.lines()) got.push(line);
    })().catch((e: unknown) => e);
    expect(got).toEqual(['good']);
    expect(isOrdoError(error, 'LAUNCHER_IO_STREAM_CORRUPT')).toBe(true);
    expect((error as Error).cause).toBeInstanceOf(RangeError);
  });

  it('send after close, and sends pending at close, reject with LAUNCHER_IO_CLOSED', async () => {
    await using server = await startAttachServer('unix');
    const io = await server.attach('w9'); // never reads: the write below cannot be flushed
    const pending = io.send('x'.repeat(4 * 2 ** 20)).catch((e: unknown) => e);
    await io.close();
    expect(await pending).toMatchObject({ code: 'LAUNCHER_IO_CLOSED' });
    const error = await io.send('late').catch((e: unknown) => e);
    expect(isOrdoError(error, 'LAUNCHER_IO_CLOSED')).toBe(true);
    expect((error as Error).message).toMatch(/worker "w9" is closed/);
    expect(await takeLines(io.lines(), 0)).toEqual([]);
    for await (const _ of io.lines()) expect.unreachable('lines() has ended');
  });

  it('pauses reading at maxBufferedLines instead of dropping lines, and resumes as they are read', async () => {
    await using server = await startAttachServer('unix');
    const io = await server.attach('w1', 100);
    await io.send('FLOOD 200000'); // ~3 MB: more than the socket buffers hold
    for (let i = 0; !io.paused; i++) {
      if (i > 500) expect.unreachable('never paused');
      await new Promise((r) => setTimeout(r, 10));
    }
    // One socket chunk (64 KiB, ≤ 5000 of these lines) may land past the limit; never the whole flood.
    expect(io.bufferedLines).toBeGreaterThanOrEqual(100);
    expect(io.bufferedLines).toBeLessThan(100 + 5000);
    const got = await takeLines(io.lines(), 200000);
    expect(got).toHaveLength(200000);
    expect(got.every((line, i) => line === `line ${i}`)).toBe(true);
    await io.close();
  });
});
