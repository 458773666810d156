import { readFileSync } from 'node:fs';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { type AddressInfo, connect, createServer, type Socket } from 'node:net';
import { join } from 'node:path';
import { type PeerCertificate, connect as tlsConnect } from 'node:tls';
import { fileURLToPath } from 'node:url';
import { isOrdoError, WorkerStatus } from '@ordo/contracts';
import { ManualClock } from '@ordo/contracts/testing';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import {
  createRemoteLauncher,
  openWorkerConnection,
  type RemoteLauncher,
  type RemoteLauncherOptions,
  SubprocessLauncher,
} from '../src/index.js';
import { endpointUrl, isLoopbackHost, parseEndpointAddress } from '../src/internal/endpointAddress.js';
import { parseHello, parseHostReply } from '../src/internal/remoteWire.js';
import { TLS_DIR } from './fakeEngine.js';
import { nextStatus, takeLines, tempDir } from './helpers.js';

const sockets: Socket[] = [];
const launchers: RemoteLauncher[] = [];
afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  await Promise.all(launchers.splice(0).map((l) => l.close()));
});

async function endpoint(options: Partial<RemoteLauncherOptions> = {}): Promise<RemoteLauncher> {
  const launcher = await createRemoteLauncher({ listen: '127.0.0.1:0', ...options });
  launchers.push(launcher);
  return launcher;
}

/** A TCP port on 127.0.0.1 that was free a moment ago. */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}
const portOf = (url: string) => Number(url.slice(url.lastIndexOf(':') + 1));
const tokenOf = async (l: RemoteLauncher) => (await readFile(l.tokenFile, 'utf8')).trim();

/** A raw TCP peer: what it sent, and everything the endpoint answered until it closed. */
function raw(port: number, data?: string): { socket: Socket; closed: Promise<string[]> } {
  const socket = connect({ host: '127.0.0.1', port });
  sockets.push(socket);
  let text = '';
  socket.setEncoding('utf8').on('data', (c: string) => {
    text += c;
  });
  socket.on('error', () => {});
  if (data !== undefined) socket.write(data);
  return {
    socket,
    closed: new Promise((resolve) => socket.on('close', () => resolve(text.split('\n').filter(Boolean)))),
  };
}

const hello = (fields: Record<string, unknown>) => `${JSON.stringify({ type: 'HELLO', v: 1, ...fields })}\n`;

/** Waits (real time, polling) until `check` holds. */
async function until(check: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 400; i++) {
    if (check()) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe('createRemoteLauncher: options', () => {
  it('refuses plain TCP off loopback, tls:// without TLS, a weak token and bad numbers', async () => {
    await expect(createRemoteLauncher({ listen: '0.0.0.0:7070' })).rejects.toMatchObject({
      code: 'REMOTE_INSECURE_LISTEN',
    });
    await expect(createRemoteLauncher({ listen: '[::]:7070' })).rejects.toMatchObject({
      code: 'REMOTE_INSECURE_LISTEN',
    });
    await expect(createRemoteLauncher({ listen: 'tls://127.0.0.1:0' })).rejects.toMatchObject({
      code: 'REMOTE_INVALID_OPTIONS',
    });
    await expect(createRemoteLauncher({ listen: '127.0.0.1:0', token: 'short' })).rejects.toMatchObject({
      code: 'REMOTE_INVALID_OPTIONS',
    });
    await expect(
      createRemoteLauncher({ listen: '127.0.0.1:0', handshakeTimeoutMs: 0 }),
    ).rejects.toMatchObject({ code: 'REMOTE_INVALID_OPTIONS' });
    await expect(createRemoteLauncher({ listen: 'relative/path.sock' })).rejects.toMatchObject({
      code: 'REMOTE_INVALID_OPTIONS',
    });
  });

  it('refuses a unix socket path that exists, and leaves the file alone', async () => {
    await using dir = await tempDir();
    const file = join(dir.path, 'taken.sock');
    await writeFile(file, 'not a socket');
    await expect(createRemoteLauncher({ listen: `unix://${file}` })).rejects.toMatchObject({
      code: 'REMOTE_LISTEN_FAILED',
    });
    expect(await readFile(file, 'utf8')).toBe('not a socket');
  });

  it('writes a random token to a 0600 file, and removes the socket and the file it made on close', async () => {
    await using dir = await tempDir();
    const sock = join(dir.path, 'w.sock');
    const launcher = await createRemoteLauncher({ listen: sock });
    expect(launcher.url).toBe(`unix://${sock}`);
    expect((await stat(launcher.tokenFile)).mode & 0o777).toBe(0o600);
    expect((await stat(sock)).mode & 0o777).toBe(0o600);
    expect(await tokenOf(launcher)).toMatch(/^[A-Za-z0-9_-]{43}$/);
    await launcher.close();
    await expect(stat(sock)).rejects.toThrow();
    await expect(stat(launcher.tokenFile)).rejects.toThrow();
  });

  it('reads the token of an existing tokenFile and keeps the file on close', async () => {
    await using dir = await tempDir();
    const file = join(dir.path, 'token');
    await writeFile(file, 'a-token-the-host-made-1234\n');
    const launcher = await endpoint({ tokenFile: file });
    expect(await tokenOf(launcher)).toBe('a-token-the-host-made-1234');
    await launcher.close();
    expect(await readFile(file, 'utf8')).toBe('a-token-the-host-made-1234\n');
  });
});

describe('createRemoteLauncher: self-connecting workers', () => {
  it('pairs the next authenticated worker with a spawn, carries IPC both ways, and a closed connection is its exit', async () => {
    const launcher = await endpoint();
    const spawned = launcher.spawn('w1', {
      env: { ORDO_IPC_MAX_MESSAGE_BYTES: '2048', ORDO_IPC_REPORT_INTERVAL_MS: '700' },
    });
    const worker = await openWorkerConnection({
      url: launcher.url,
      token: await tokenOf(launcher),
      host: 'node-a',
    });
    sockets.push(worker.socket);
    expect(worker).toMatchObject({ workerId: 'w1', maxMessageBytes: 2048, reportIntervalMs: 700 });
    const handle = await spawned;
    expect(handle.status).toBe(WorkerStatus.READY);
    expect(handle.node).toEqual({ nodeId: 'node-a', hostname: 'node-a', address: '127.0.0.1' });
    worker.socket.write('{"type":"READY","v":1,"pid":1}\n');
    expect(await takeLines(handle.io.lines(), 1)).toEqual(['{"type":"READY","v":1,"pid":1}']);
    await handle.io.send('{"type":"RUN","taskId":"t","payload":1}');
    const got = await new Promise<string>((resolve) => {
      worker.socket.once('data', (b: Buffer) => resolve(String(b)));
      worker.socket.resume();
    });
    expect(got).toBe('{"type":"RUN","taskId":"t","payload":1}\n');
    const crashed = nextStatus(launcher, 'w1', WorkerStatus.CRASHED);
    worker.socket.destroy();
    expect((await crashed).reason).toMatch(/connection (closed|lost)/);
    expect(await takeLines(handle.io.lines(), 1)).toEqual([]);
    await expect(handle.io.send('x')).rejects.toMatchObject({ code: 'LAUNCHER_IO_CLOSED' });
    expect(launcher.stats()).toMatchObject({ accepted: 1, connected: 0 });
  });

  it('keeps workers that connect before any spawn waiting, up to maxWaiting', async () => {
    const launcher = await endpoint({ maxWaiting: 1 });
    const token = await tokenOf(launcher);
    const first = openWorkerConnection({ url: launcher.url, token });
    await until(() => launcher.stats().waiting === 1, 'one waiting');
    await expect(openWorkerConnection({ url: launcher.url, token })).rejects.toMatchObject({
      code: 'REMOTE_REFUSED',
      reason: 'capacity',
    });
    const handle = await launcher.spawn('w1');
    expect((await first).workerId).toBe('w1');
    sockets.push((await first).socket);
    expect(handle.status).toBe(WorkerStatus.READY);
    expect(launcher.stats().refused.capacity).toBe(1);
  });

  it('a spawn waits until aborted', async () => {
    const launcher = await endpoint();
    const controller = new AbortController();
    const spawned = launcher.spawn('w1', {}, controller.signal);
    controller.abort(new Error('no longer needed'));
    await expect(spawned).rejects.toThrow('no longer needed');
    expect(launcher.handle('w1')).toBeUndefined();
    expect(launcher.stats().pending).toBe(0);
  });

  it('terminate sends SHUTDOWN and closes the connection; the worker is STOPPED', async () => {
    const launcher = await endpoint();
    const spawned = launcher.spawn('w1');
    const worker = await openWorkerConnection({ url: launcher.url, token: await tokenOf(launcher) });
    sockets.push(worker.socket);
    await spawned;
    const seen = raw_collect(worker.socket);
    await launcher.terminate('w1', { graceMs: 5000 });
    expect(launcher.handle('w1')?.status).toBe(WorkerStatus.STOPPED);
    expect(await seen).toEqual(['{"type":"SHUTDOWN"}']);
  });

  it('close tells waiting workers it is closing and fails waiting spawns with LAUNCHER_CLOSED', async () => {
    const launcher = await createRemoteLauncher({ listen: '127.0.0.1:0' });
    const token = await tokenOf(launcher);
    const waiting = openWorkerConnection({ url: launcher.url, token }).catch((e: unknown) => e);
    await until(() => launcher.stats().waiting === 1, 'one waiting');
    await launcher.close();
    expect(await waiting).toMatchObject({ code: 'REMOTE_REFUSED', reason: 'closing' });
    const other = await createRemoteLauncher({ listen: '127.0.0.1:0' });
    const spawned = other.spawn('w1').catch((e: unknown) => e);
    await other.close();
    expect(await spawned).toMatchObject({ code: 'LAUNCHER_CLOSED' });
    await expect(other.spawn('w2')).rejects.toMatchObject({ code: 'LAUNCHER_CLOSED' });
  });
});

/** Collects what arrives on `socket` until it closes. */
function raw_collect(socket: Socket): Promise<string[]> {
  let text = '';
  socket.on('data', (c: Buffer) => {
    text += String(c);
  });
  const closed = new Promise<string[]>((resolve) =>
    socket.on('close', () => resolve(text.split('\n').filter(Boolean))),
  );
  socket.resume();
  return closed;
}

describe('createRemoteLauncher: hostile peers', () => {
  it('refuses bad handshakes before any task data, counts each by reason and emits refused', async () => {
    const launcher = await endpoint();
    const token = await tokenOf(launcher);
    const port = portOf(launcher.url);
    const refused: string[] = [];
    launcher.on('refused', (r) => refused.push(r.reason));
    const spawned = launcher.spawn('w1');
    const cases: Array<[string, string]> = [
      [hello({ token: 'wrong-token-wrong-token' }), 'bad-token'],
      [hello({ token: `${token}x` }), 'bad-token'],
      [hello({}), 'missing-token'],
      [hello({ token: '' }), 'missing-token'],
      [hello({ token, v: 2 }), 'version'],
      [hello({ token, v: '1' }), 'version'],
      ['{"type":"READY","v":1,"pid":1}\n', 'malformed'],
      ['not json\n', 'malformed'],
      [hello({ token, workerId: 42 }), 'malformed'],
      [`${'x'.repeat(5000)}\n`, 'oversized'],
      ['x'.repeat(5000), 'oversized'],
    ];
    const answers = await Promise.all(cases.map(([data]) => raw(port, data).closed));
    expect(answers).toEqual(cases.map(([, reason]) => [JSON.stringify({ type: 'REFUSED', reason })]));
    expect(refused.sort()).toEqual(cases.map(([, r]) => r).sort());
    expect(launcher.stats()).toMatchObject({ accepted: 0, pending: 1 });
    // The spawn is still waiting for an honest worker.
    const worker = await openWorkerConnection({ url: launcher.url, token });
    sockets.push(worker.socket);
    expect((await spawned).workerId).toBe('w1');
  });

  it('drops a slow-loris peer at the handshake deadline of the injected clock', async () => {
    const clock = new ManualClock(Date.now());
    const launcher = await endpoint({ clock, handshakeTimeoutMs: 5000 });
    const peer = raw(portOf(launcher.url), '{"type":"HELLO","v":1,');
    await until(() => clock.pendingTimers > 0, 'the handshake timer');
    peer.socket.write('"tok');
    clock.advance(4999);
    expect(peer.socket.destroyed).toBe(false);
    clock.advance(1);
    expect(await peer.closed).toEqual(['{"type":"REFUSED","reason":"timeout"}']);
    expect(launcher.stats().refused.timeout).toBe(1);
  });

  it('refuses an address at once after maxFailures in the window, until the window passes', async () => {
    const clock = new ManualClock(Date.now());
    const launcher = await endpoint({ clock, maxFailures: 3, failureWindowMs: 60_000 });
    const token = await tokenOf(launcher);
    const port = portOf(launcher.url);
    for (let i = 0; i < 3; i++) await raw(port, hello({ token: 'wrong-token-wrong-token' })).closed;
    expect(await raw(port, hello({ token })).closed).toEqual(['{"type":"REFUSED","reason":"rate-limited"}']);
    clock.advance(60_001);
    const spawned = launcher.spawn('w1');
    const worker = await openWorkerConnection({ url: launcher.url, token, clock });
    sockets.push(worker.socket);
    expect((await spawned).status).toBe(WorkerStatus.READY);
    expect(launcher.stats().refused).toMatchObject({ 'bad-token': 3, 'rate-limited': 1 });
  });

  it('a worker cannot pass a line over the limit: its connection is closed', async () => {
    const launcher = await endpoint();
    const spawned = launcher.spawn('w1', { env: { ORDO_IPC_MAX_MESSAGE_BYTES: '1024' } });
    const worker = await openWorkerConnection({ url: launcher.url, token: await tokenOf(launcher) });
    sockets.push(worker.socket);
    const handle = await spawned;
    const crashed = nextStatus(launcher, 'w1', WorkerStatus.CRASHED);
    worker.socket.write(`${'y'.repeat(65_536 * 4 + 10)}\n`);
    await crashed;
    expect(await takeLines(handle.io.lines(), 1)).toEqual([]);
  });
});

describe('createRemoteLauncher: mutual TLS', () => {
  const tls = {
    key: readFileSync(join(TLS_DIR, 'server-key.pem')),
    cert: readFileSync(join(TLS_DIR, 'server-cert.pem')),
    ca: readFileSync(join(TLS_DIR, 'ca.pem')),
  };
  const client = {
    ca: tls.ca,
    cert: readFileSync(join(TLS_DIR, 'cert.pem')),
    key: readFileSync(join(TLS_DIR, 'key.pem')),
  };

  it('accepts a worker with a certificate the CA signed and the token; refuses one without a certificate', async () => {
    const launcher = await endpoint({ tls });
    expect(launcher.url).toMatch(/^tls:\/\/127\.0\.0\.1:\d+$/);
    const token = await tokenOf(launcher);
    const refused = new Promise<string>((resolve) => launcher.on('refused', (r) => resolve(r.reason)));
    const bare = tlsConnect({ host: '127.0.0.1', port: portOf(launcher.url), ca: tls.ca });
    sockets.push(bare);
    bare.on('error', () => {});
    bare.write(hello({ token }));
    expect(await refused).toBe('tls');
    const spawned = launcher.spawn('w1');
    const worker = await openWorkerConnection({ url: launcher.url, token, tls: client });
    sockets.push(worker.socket);
    expect((await spawned).status).toBe(WorkerStatus.READY);
    expect(launcher.stats().refused.tls).toBe(1);
  });
});

describe("createRemoteLauncher: tls: 'auto'", () => {
  it('makes a CA: the worker files it writes get in, the endpoint certificate names the hosts, close() removes them', async () => {
    const port = await freePort();
    const launcher = await endpoint({
      listen: `127.0.0.1:${port}`,
      tls: 'auto',
      advertise: `tls://build-host.test:${port}`,
    });
    const files = launcher.tlsFiles;
    if (files === undefined) throw new Error('no TLS files');
    const [ca, cert, key] = await Promise.all([files.ca, files.cert, files.key].map((f) => readFile(f)));
    for (const file of [files.ca, files.cert, files.key]) expect((await stat(file)).mode & 0o777).toBe(0o600);
    // The endpoint's certificate, as a client sees it: it names 127.0.0.1 and the advertised host.
    const peer = await new Promise<PeerCertificate>((resolve, reject) => {
      const socket = tlsConnect({ host: '127.0.0.1', port, ca, cert, key });
      sockets.push(socket);
      socket.on('secureConnect', () => resolve(socket.getPeerCertificate()));
      socket.on('error', reject);
    });
    expect(peer.subjectaltname).toContain('IP Address:127.0.0.1');
    expect(peer.subjectaltname).toContain('DNS:build-host.test');
    const spawned = launcher.spawn('w1');
    const worker = await openWorkerConnection({
      url: `tls://127.0.0.1:${port}`,
      token: await tokenOf(launcher),
      tls: { ca, cert, key },
    });
    sockets.push(worker.socket);
    expect((await spawned).status).toBe(WorkerStatus.READY);
    await launcher.close();
    await expect(stat(files.key)).rejects.toMatchObject({ code: 'ENOENT' });
    expect(launcher.tlsFiles).toBeUndefined();
  });

  it('names this host, localhost and both loopbacks for a wildcard address; refuses auto on a unix socket', async () => {
    const { X509Certificate } = await import('node:crypto');
    const { hostname } = await import('node:os');
    const launcher = await endpoint({ listen: '0.0.0.0:0', tls: 'auto' });
    const ca = await readFile(launcher.tlsFiles?.ca as string);
    const peer = await new Promise<Buffer>((resolve, reject) => {
      const socket = tlsConnect({
        host: '127.0.0.1',
        port: portOf(launcher.url),
        ca,
        servername: 'localhost',
      });
      sockets.push(socket);
      socket.on('secureConnect', () => resolve(socket.getPeerCertificate().raw));
      socket.on('error', () => {});
      socket.on('close', () => reject(new Error('closed before the handshake')));
    });
    const cert = new X509Certificate(peer);
    expect(cert.checkHost(hostname())).toBeDefined();
    expect(cert.checkHost('localhost')).toBe('localhost');
    expect(cert.checkIP('127.0.0.1')).toBe('127.0.0.1');
    expect(cert.checkIP('::1')).toBe('::1');
    await using dir = await tempDir();
    await expect(
      createRemoteLauncher({ listen: join(dir.path, 'w.sock'), tls: 'auto' }),
    ).rejects.toMatchObject({ code: 'REMOTE_INVALID_OPTIONS' });
  });
});

describe('createRemoteLauncher: a starter', () => {
  const fixture = fileURLToPath(new URL('./fixtures/remoteWorker.ts', import.meta.url));
  const tsx = fileURLToPath(import.meta.resolve('tsx'));
  const starter = (env: Record<string, string> = {}) =>
    new SubprocessLauncher({
      command: process.execPath,
      args: ['--conditions=@ordo/source', '--import', tsx, fixture],
      env,
    });

  it('starts the worker with the URL and credential file, pairs the connection with its id, and terminate stops both', async () => {
    const launcher = await endpoint({ starter: starter() });
    const handle = await launcher.spawn('w1');
    expect(handle.status).toBe(WorkerStatus.READY);
    const [ready] = await takeLines(handle.io.lines(), 1);
    expect(JSON.parse(ready as string)).toMatchObject({ type: 'READY', v: 1 });
    await handle.io.send('{"type":"RUN","taskId":"t1","payload":{"n":1}}');
    expect(await takeLines(handle.io.lines(), 1)).toEqual([
      '{"type":"COMPLETE","taskId":"t1","result":{"n":1}}',
    ]);
    await launcher.terminate('w1', { graceMs: 2000 });
    expect(launcher.handle('w1')?.status).toBe(WorkerStatus.STOPPED);
  }, 30_000);

  it("with tls: 'auto', hands the started worker its TLS files (ORDO_WORKER_TLS_*) and pairs it over mutual TLS", async () => {
    const launcher = await endpoint({ listen: '127.0.0.1:0', tls: 'auto', starter: starter() });
    expect(launcher.url).toMatch(/^tls:/);
    const handle = await launcher.spawn('w1');
    expect(handle.status).toBe(WorkerStatus.READY);
    expect(launcher.stats()).toMatchObject({ accepted: 1, connected: 1 });
    await launcher.terminate('w1', { graceMs: 2000 });
  }, 30_000);

  it('refuses a connection that claims a worker id no spawn waits for', async () => {
    const launcher = await endpoint({
      starter: starter({ ORDO_WORKER_CLAIM: 'w-other' }),
      connectTimeoutMs: 60_000,
    });
    await expect(launcher.spawn('w1')).rejects.toMatchObject({ code: 'REMOTE_CONNECT_TIMEOUT' });
    expect(launcher.stats().refused.unassigned).toBe(1);
  }, 30_000);

  it('fails the spawn when the started worker never connects, at connectTimeoutMs of the clock, and stops it', async () => {
    const clock = new ManualClock(Date.now());
    const sleeper = new SubprocessLauncher({
      command: process.execPath,
      args: ['-e', 'setTimeout(() => {}, 1e9)'],
    });
    const launcher = await endpoint({ clock, starter: sleeper, connectTimeoutMs: 10_000 });
    const spawned = launcher.spawn('w1');
    await until(() => sleeper.handle('w1') !== undefined, 'the started process');
    clock.advance(10_000);
    const error = await spawned.catch((e: unknown) => e);
    expect(isOrdoError(error, 'REMOTE_CONNECT_TIMEOUT')).toBe(true);
    await until(() => sleeper.handle('w1')?.status === WorkerStatus.STOPPED, 'the process stopped');
  }, 30_000);
});

describe('endpoint wire helpers', () => {
  it('parses every listen address it prints back', () => {
    const host = fc.oneof(fc.ipV4(), fc.constantFrom('localhost', '::1', 'build-host.example'));
    fc.assert(
      fc.property(host, fc.integer({ min: 0, max: 65_535 }), fc.boolean(), (h, port, tls) => {
        const url = endpointUrl({ kind: 'tcp', host: h, port, tls }, tls);
        expect(parseEndpointAddress(url, 'url')).toEqual({ kind: 'tcp', host: h, port, tls });
      }),
    );
    expect(parseEndpointAddress('unix:///run/ordo.sock', 'l')).toEqual({
      kind: 'unix',
      path: '/run/ordo.sock',
    });
    expect(parseEndpointAddress('/run/ordo.sock', 'l')).toEqual({ kind: 'unix', path: '/run/ordo.sock' });
    for (const bad of ['', 'host', 'host:99999', 'unix:///a/../b', 'http://x:1', '127.0.0.1:1\n']) {
      expect(() => parseEndpointAddress(bad, 'l')).toThrow(
        expect.objectContaining({ code: 'REMOTE_INVALID_OPTIONS' }),
      );
    }
  });

  it('knows loopback from the rest', () => {
    for (const h of ['127.0.0.1', '127.3.4.5', '::1', 'localhost', '::ffff:127.0.0.1'])
      expect(isLoopbackHost(h)).toBe(true);
    for (const h of ['0.0.0.0', '::', '10.0.0.1', '128.0.0.1', 'example.com', '::ffff:10.0.0.1'])
      expect(isLoopbackHost(h)).toBe(false);
  });

  it('never throws on arbitrary handshake lines', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.json()), (line) => {
        const h = parseHello(line);
        if (h !== undefined) expect(h.type).toBe('HELLO');
        parseHostReply(line);
      }),
    );
  });
});
