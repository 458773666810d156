import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type RequestListener, type ServerResponse } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import { ManualClock } from '@ordo/contracts/testing';
import { ContainerLauncher, type ContainerLauncherOptions } from '../src/index.js';
import { tempDir } from './helpers.js';

/** A container as the fake engine keeps it. */
export interface FakeContainer {
  Id: string;
  name: string;
  body: {
    Image: string;
    Cmd?: string[];
    Env: string[];
    Labels: Record<string, string>;
    HostConfig: Record<string, unknown>;
  };
  state: 'created' | 'running' | 'paused' | 'exited';
  exitCode: number;
  health: string | undefined;
  logs: string;
  /** What an exec in this container exits with. */
  execExitCode: number;
  /** How many exec inspects still answer `Running: true` (the engine records the exit a moment late). */
  execLag: number;
  /** The open attach connection, if any: it echoes stdin to stdout framed, like `cat`. */
  attach: Duplex | undefined;
}

/** The TLS material in test/fixtures/tls: a CA, a server certificate for 127.0.0.1 and a client certificate. */
export const TLS_DIR = new URL('./fixtures/tls/', import.meta.url).pathname;

/**
 * A small Docker Engine API on a real HTTP server on a unix socket (or TCP, or TLS with client
 * certificates, as a remote engine with DOCKER_TLS_VERIFY): enough of containers, exec, logs and
 * events for the launcher's unit tests, where time is a ManualClock and the engine must do exactly what the
 * test says (drop the events stream, let a container die without an event).
 */
export async function startFakeEngine(listen: 'unix' | 'tcp' | 'tls' = 'unix') {
  const dir = await tempDir('ordo-fake-engine-');
  const socketPath = join(dir.path, 'docker.sock');
  const images = new Set(['ordo-test/fake:1']);
  const containers = new Map<string, FakeContainer>();
  const execs = new Map<string, FakeContainer>();
  const calls: { method: string; path: string; query: URLSearchParams }[] = [];
  const history: { time: number; line: string; labels: Record<string, string> }[] = [];
  const streams = new Set<{ res: ServerResponse; labels: string[] }>();
  let refuseEvents = false;
  let refuseAttach = false;

  const matches = (labels: Record<string, string>, filters: string[]) =>
    filters.every((f) => {
      const [k, v] = f.split('=') as [string, string | undefined];
      return v === undefined ? k in labels : labels[k] === v;
    });

  const emit = (c: FakeContainer, action: string, attributes: Record<string, string> = {}) => {
    const time = Math.floor(Date.now() / 1000);
    const line = JSON.stringify({
      status: action,
      id: c.Id,
      Type: 'container',
      Action: action,
      Actor: { ID: c.Id, Attributes: { ...c.body.Labels, name: c.name, ...attributes } },
      time,
    });
    history.push({ time, line, labels: c.body.Labels });
    for (const s of streams) if (matches(c.body.Labels, s.labels)) s.res.write(`${line}\n`);
  };

  const send = (res: ServerResponse, status: number, body?: unknown) => {
    res.writeHead(status, body === undefined ? {} : { 'content-type': 'application/json' });
    res.end(body === undefined ? undefined : JSON.stringify(body));
  };

  const statusText = (c: FakeContainer) => {
    const health = c.health ? ` (${c.health === 'starting' ? 'health: starting' : c.health})` : '';
    if (c.state === 'exited') return `Exited (${c.exitCode}) 1 second ago`;
    if (c.state === 'paused') return 'Up 2 seconds (Paused)';
    return c.state === 'running' ? `Up 2 seconds${health}` : 'Created';
  };

  const route = async (req: IncomingMessage, res: ServerResponse, body: string) => {
    const url = new URL(req.url ?? '/', 'http://docker');
    const path = url.pathname.replace(/^\/v[\d.]+/, '');
    const method = req.method ?? 'GET';
    calls.push({ method, path, query: url.searchParams });
    const labelFilter = (): string[] =>
      (JSON.parse(url.searchParams.get('filters') ?? '{}') as { label?: string[] }).label ?? [];
    if (method === 'POST' && path === '/containers/create') {
      const spec = JSON.parse(body) as FakeContainer['body'];
      if (!images.has(spec.Image)) return send(res, 404, { message: `No such image: ${spec.Image}` });
      const name = url.searchParams.get('name') ?? randomBytes(4).toString('hex');
      if ([...containers.values()].some((c) => c.name === name)) {
        return send(res, 409, { message: `Conflict. The container name "/${name}" is already in use` });
      }
      const c: FakeContainer = {
        Id: randomBytes(32).toString('hex'),
        name,
        body: spec,
        state: 'created',
        exitCode: 0,
        health: undefined,
        logs: '',
        execExitCode: 0,
        execLag: 0,
        attach: undefined,
      };
      containers.set(c.Id, c);
      emit(c, 'create');
      return send(res, 201, { Id: c.Id, Warnings: [] });
    }
    if (method === 'GET' && path === '/containers/json') {
      const filters = labelFilter();
      return send(
        res,
        200,
        [...containers.values()]
          .filter((c) => matches(c.body.Labels, filters))
          .map((c) => ({
            Id: c.Id,
            Names: [`/${c.name}`],
            Created: 1_700_000_000,
            Labels: c.body.Labels,
            State: c.state,
            Status: statusText(c),
          })),
      );
    }
    if (method === 'GET' && path === '/events') {
      if (refuseEvents) return send(res, 500, { message: 'events are down' });
      res.writeHead(200, { 'content-type': 'application/json' });
      res.flushHeaders();
      const filters = labelFilter();
      const since = url.searchParams.get('since');
      if (since !== null) {
        for (const e of history)
          if (e.time >= Number(since) && matches(e.labels, filters)) res.write(`${e.line}\n`);
      }
      const stream = { res, labels: filters };
      streams.add(stream);
      res.on('close', () => streams.delete(stream));
      return;
    }
    const execMatch = /^\/exec\/(\w+)\/(start|json)$/.exec(path);
    if (execMatch) {
      const c = execs.get(execMatch[1] as string);
      if (!c) return send(res, 404, { message: 'No such exec instance' });
      if (execMatch[2] === 'start') {
        res.writeHead(200, { 'content-type': 'application/vnd.docker.raw-stream' });
        return res.end();
      }
      if (c.execLag > 0) {
        c.execLag--;
        return send(res, 200, { Running: true, ExitCode: null });
      }
      return send(res, 200, { Running: false, ExitCode: c.execExitCode });
    }
    const m = /^\/containers\/(\w+)(\/[a-z]+)?$/.exec(path);
    if (!m) return send(res, 404, { message: 'page not found' });
    const c = containers.get(m[1] as string);
    if (!c) return send(res, 404, { message: `No such container: ${m[1]}` });
    const action = `${method} ${m[2] ?? ''}`;
    switch (action) {
      case 'POST /start':
        c.state = 'running';
        emit(c, 'start');
        return send(res, 204);
      case 'GET /json':
        return send(res, 200, {
          Id: c.Id,
          State: {
            Status: c.state,
            ExitCode: c.exitCode,
            OOMKilled: false,
            ...(c.health && { Health: { Status: c.health } }),
          },
        });
      case 'POST /stop':
        if (c.state !== 'running') return send(res, 304);
        fake.die(c.Id, 143);
        return send(res, 204);
      case 'POST /kill':
        emit(c, 'kill', { signal: '9' });
        fake.die(c.Id, 137);
        return send(res, 204);
      case 'DELETE ':
        if (c.state === 'running' && url.searchParams.get('force') !== '1') {
          return send(res, 409, { message: 'You cannot remove a running container' });
        }
        if (c.state === 'running') fake.die(c.Id, 137);
        containers.delete(c.Id);
        emit(c, 'destroy');
        return send(res, 204);
      case 'GET /logs': {
        const tail = Number(url.searchParams.get('tail') ?? 1e9);
        const lines = c.logs.split('\n').filter(Boolean).slice(-tail);
        const frames = lines.map((l) => {
          const payload = Buffer.from(`${l}\n`);
          const header = Buffer.alloc(8);
          header[0] = 1;
          header.writeUInt32BE(payload.length, 4);
          return Buffer.concat([header, payload]);
        });
        res.writeHead(200, { 'content-type': 'application/vnd.docker.multiplexed-stream' });
        return res.end(Buffer.concat(frames));
      }
      case 'POST /exec': {
        if (c.state === 'paused') {
          return send(res, 409, {
            message: `Container ${c.Id} is paused, unpause the container before exec`,
          });
        }
        const id = randomBytes(32).toString('hex');
        execs.set(id, c);
        return send(res, 201, { Id: id });
      }
      default:
        return send(res, 404, { message: `not in the fake engine: ${method} ${path}` });
    }
  };

  const handler: RequestListener = (req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => {
      body += chunk;
    });
    req.on('end', () => void route(req, res, body));
  };
  /** `POST /containers/{id}/attach` with `Upgrade: tcp`, as the engine does it: 101, then frames. */
  const onUpgrade = (req: IncomingMessage, socket: Duplex) => {
    const url = new URL(req.url ?? '/', 'http://docker');
    const path = url.pathname.replace(/^\/v[\d.]+/, '');
    calls.push({ method: req.method ?? 'GET', path, query: url.searchParams });
    const reply = (status: string, message: string) => {
      const body = JSON.stringify({ message });
      socket.end(
        `HTTP/1.1 ${status}\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\n\r\n${body}`,
      );
    };
    const c = containers.get(/^\/containers\/(\w+)\/attach$/.exec(path)?.[1] ?? '');
    if (req.method !== 'POST' || !c) return reply('404 Not Found', `No such container: ${path}`);
    if (refuseAttach) return reply('500 Internal Server Error', 'attach refused by the test');
    socket.write('HTTP/1.1 101 UPGRADED\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n');
    c.attach = socket;
    socket.on('error', () => {});
    socket.on('end', () => socket.end()); // the server's sockets allow half-open; the engine does not
    socket.on('close', () => {
      if (c.attach === socket) c.attach = undefined;
    });
    socket.on('data', (chunk: Buffer) => {
      const header = Buffer.alloc(8);
      header[0] = 1;
      header.writeUInt32BE(chunk.length, 4);
      socket.write(Buffer.concat([header, chunk]));
    });
  };
  const pem = (name: string) => readFileSync(join(TLS_DIR, name));
  const server =
    listen === 'tls'
      ? createTlsServer(
          { key: pem('server-key.pem'), cert: pem('server-cert.pem'), ca: pem('ca.pem'), requestCert: true },
          handler,
        )
      : createServer(handler);
  server.on('upgrade', onUpgrade);
  await new Promise<void>((resolve) =>
    listen === 'unix' ? server.listen(socketPath, resolve) : server.listen(0, '127.0.0.1', resolve),
  );
  const port = listen === 'unix' ? 0 : (server.address() as AddressInfo).port;

  const fake = {
    socketPath,
    /** For `tcp` and `tls`: the engine's address as DOCKER_HOST would say it. */
    url: `tcp://127.0.0.1:${port}`,
    images,
    containers,
    calls,
    /** Calls of one method and path pattern, e.g. count('GET', /^\/containers\/json$/). */
    count(method: string, path: RegExp) {
      return calls.filter((c) => c.method === method && path.test(c.path)).length;
    },
    byWorker(workerId: string): FakeContainer {
      const c = [...containers.values()].find((x) => x.body.Labels['ordo.worker-id'] === workerId);
      if (!c) throw new Error(`no container for ${workerId}`);
      return c;
    },
    /** The container exits with `code`; the die event goes out unless `silent`. */
    die(id: string, code: number, { silent = false, logs = '' } = {}) {
      const c = containers.get(id);
      if (!c) return;
      c.state = 'exited';
      c.exitCode = code;
      c.logs += logs;
      c.attach?.end(); // the engine ends the attach stream when the container's output closes
      if (!silent) emit(c, 'die', { exitCode: String(code) });
    },
    /** Sends an event about a container, as the engine would. */
    emit(id: string, action: string, attributes: Record<string, string> = {}) {
      const c = containers.get(id);
      if (c) emit(c, action, attributes);
    },
    pause(id: string) {
      const c = containers.get(id);
      if (!c) return;
      c.state = 'paused';
      emit(c, 'pause');
    },
    /** Drops every open events stream (and, with `refuse`, answers new ones with 500 until told otherwise). */
    dropEvents(refuse = false) {
      refuseEvents = refuse;
      for (const s of streams) s.res.destroy();
    },
    allowEvents() {
      refuseEvents = false;
    },
    /** Answers attach requests with 500 (`true`) or normally (`false`). */
    refuseAttach(refuse = true) {
      refuseAttach = refuse;
    },
    get openStreams() {
      return streams.size;
    },
    async [Symbol.asyncDispose]() {
      for (const s of streams) s.res.destroy();
      for (const c of containers.values()) c.attach?.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await dir[Symbol.asyncDispose]();
    },
  };
  return fake;
}

/** A running {@link startFakeEngine}. */
export type FakeEngine = Awaited<ReturnType<typeof startFakeEngine>>;

/** A launcher on `fake` (its image, run id `run1`, a ManualClock), with `options` on top. */
export function launcherOn(
  fake: FakeEngine,
  options: Partial<ContainerLauncherOptions> = {},
): ContainerLauncher {
  return new ContainerLauncher({
    docker: { socketPath: fake.socketPath },
    image: 'ordo-test/fake:1',
    runId: 'run1',
    clock: new ManualClock(Date.now()),
    ...options,
  });
}
