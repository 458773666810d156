import { gzipSync } from 'node:zlib';
import { type Breaker, type BreakerContext, isOrdoError, OrdoError } from '@ordo/contracts';
import { ManualClock } from '@ordo/contracts/testing';
import { Agent, fetch as undiciFetch } from 'undici';
import { describe, expect, it, vi } from 'vitest';
import {
  createCheckedAgent,
  createHostPolicy,
  createRestrictedFetch,
  type RestrictedFetchOptions,
} from '../src/index.js';
import { type Handler, rejection, resolver, startServer } from './fetchSupport.js';

const hello: Handler = (_req, res) => res.end('hello');

function restricted(options: RestrictedFetchOptions) {
  return createRestrictedFetch({
    allow: ['api.test', 'other.test'],
    allowPrivate: ['api.test', 'other.test'],
    ...options,
  });
}

describe('createRestrictedFetch: allowed requests', () => {
  it('fetches an allowed host that resolves (through the injected resolver) to an allowPrivate address', async () => {
    await using server = await startServer(hello);
    const dns = resolver({ 'api.test': '127.0.0.1' });
    await using fetch = restricted({ resolve: dns.resolve });
    const response = await fetch(`http://API.test.:${server.port}/greeting`);
    expect(response.status).toBe(200);
    expect(await response.text()).toBe('hello');
    expect(response.url).toBe(`http://api.test.:${server.port}/greeting`);
    expect(dns.calls).toEqual(['api.test.']);
  });

  it('100 sequential fetches to one loopback server use one socket', async () => {
    await using server = await startServer(hello);
    await using fetch = restricted({ resolve: resolver({ 'api.test': '127.0.0.1' }).resolve });
    for (let i = 0; i < 100; i++)
      expect(await (await fetch(`http://api.test:${server.port}/${i}`)).text()).toBe('hello');
    expect(server.stats.requests).toHaveLength(100);
    expect(server.stats.connections).toBe(1);
  });

  it('sends method, headers and body, from init or from a Request-like input', async () => {
    await using server = await startServer((req, res) => {
      let body = '';
      req.on('data', (chunk) => {
        body += chunk;
      });
      req.on('end', () => res.end(`${req.method} ${req.headers['x-test']} ${body}`));
    });
    await using fetch = restricted({ resolve: resolver({ 'api.test': '127.0.0.1' }).resolve });
    const url = `http://api.test:${server.port}/echo`;
    const direct = await fetch(url, { method: 'POST', headers: { 'x-test': 'a' }, body: 'payload' });
    expect(await direct.text()).toBe('POST a payload');
    const viaRequest = await fetch(
      new Request(url, { method: 'PUT', headers: { 'x-test': 'b' }, body: 'streamed' }),
    );
    expect(await viaRequest.text()).toBe('PUT b streamed');
  });

  it('reaches an IP literal listed in allowPrivate (address or range)', async () => {
    await using server = await startServer(hello);
    await using byAddress = createRestrictedFetch({ allowPrivate: ['127.0.0.1'] });
    expect(await (await byAddress(`http://127.0.0.1:${server.port}/`)).text()).toBe('hello');
    await using byRange = createRestrictedFetch({ allowPrivate: ['127.0.0.0/8'] });
    expect(await (await byRange(`http://0x7f.1:${server.port}/`)).text()).toBe('hello');
  });
});

describe('createRestrictedFetch: blocked addresses', () => {
  it.each([
    '127.0.0.1',
    '10.0.0.1',
    '169.254.169.254',
    '::1',
    '::ffff:127.0.0.1',
    '0.0.0.0',
  ])('a name that resolves to %s is blocked at connect time', async (address) => {
    await using server = await startServer(hello);
    const dns = resolver({ 'evil.test': address });
    await using fetch = createRestrictedFetch({ allow: ['evil.test'], resolve: dns.resolve });
    const error = await rejection(fetch(`http://evil.test:${server.port}/`));
    expect(error.code).toBe('FETCH_BLOCKED_ADDRESS');
    expect(dns.calls).toEqual(['evil.test']);
    expect(server.stats.connections).toBe(0);
  });

  it('checks the address every new connection resolves to, so rebinding to a private address fails', async () => {
    await using server = await startServer((_req, res) =>
      res.writeHead(200, { connection: 'close' }).end('ok'),
    );
    const table: Record<string, string> = { 'rebind.test': '127.0.0.1' };
    const dns = resolver(table);
    await using fetch = createRestrictedFetch({ allowPrivate: ['127.0.0.1'], resolve: dns.resolve });
    expect(await (await fetch(`http://rebind.test:${server.port}/`)).text()).toBe('ok');
    table['rebind.test'] = '127.0.0.2';
    const error = await rejection(fetch(`http://rebind.test:${server.port}/`));
    expect(error.code).toBe('FETCH_BLOCKED_ADDRESS');
    expect(dns.calls).toEqual(['rebind.test', 'rebind.test']);
    expect(server.stats.connections).toBe(1);
  });

  it.each([
    '127.0.0.1',
    '2130706433',
    '0x7f000001',
    '0177.0.0.1',
    '127.1',
    '[::ffff:127.0.0.1]',
    '[::ffff:7f00:1]',
  ])('the IP literal %s never reaches a socket', async (host) => {
    await using server = await startServer(hello);
    const dns = resolver({});
    await using fetch = createRestrictedFetch({ resolve: dns.resolve });
    const error = await rejection(fetch(`http://${host}:${server.port}/`));
    expect(error.code).toBe('FETCH_BLOCKED_ADDRESS');
    expect(dns.calls).toEqual([]);
    expect(server.stats.connections).toBe(0);
  });

  it('the checked Agent refuses an IP literal itself, without the URL checks in front', async () => {
    await using server = await startServer(hello);
    const dns = resolver({ 'ok.test': '127.0.0.1' });
    const agent = createCheckedAgent({
      policy: createHostPolicy({ allowPrivate: ['ok.test'] }),
      resolve: dns.resolve,
    });
    const error = await rejection(undiciFetch(`http://127.0.0.1:${server.port}/`, { dispatcher: agent }));
    expect((error.cause as { code?: string }).code).toBe('FETCH_BLOCKED_ADDRESS');
    expect(server.stats.connections).toBe(0);
    const ok = await undiciFetch(`http://ok.test:${server.port}/`, { dispatcher: agent });
    expect(await ok.text()).toBe('hello');
    await agent.close();
  });

  it('refuses hosts off the allowlist and URLs that are not plain http(s)', async () => {
    await using fetch = restricted({ resolve: resolver({}).resolve });
    const codes = await Promise.all(
      [
        'http://evil.test/',
        'ftp://api.test/',
        'http://user:pw@api.test/',
        'not a url',
        'file:///etc/passwd',
      ].map(async (url) => (await rejection(fetch(url))).code),
    );
    expect(codes).toEqual([
      'FETCH_HOST_NOT_ALLOWED',
      'FETCH_URL_NOT_ALLOWED',
      'FETCH_URL_NOT_ALLOWED',
      'FETCH_URL_NOT_ALLOWED',
      'FETCH_URL_NOT_ALLOWED',
    ]);
  });
});

describe('createRestrictedFetch: redirects', () => {
  function redirector(routes: Record<string, [number, (port: number) => string]>): Handler {
    return (req, res, port) => {
      const route = routes[req.url ?? ''];
      if (route) res.writeHead(route[0], { location: route[1](port) }).end('moved');
      else res.end(`final ${req.method} ${req.headers.authorization ?? 'no-auth'}`);
    };
  }

  it('follows allowed redirects by hand, relative ones included', async () => {
    await using server = await startServer(
      redirector({ '/a': [301, () => '/b'], '/b': [302, (port) => `http://other.test:${port}/c`] }),
    );
    const dns = resolver({ 'api.test': '127.0.0.1', 'other.test': '127.0.0.1' });
    await using fetch = restricted({ resolve: dns.resolve });
    const response = await fetch(`http://api.test:${server.port}/a`, {
      headers: { authorization: 'secret' },
    });
    expect(await response.text()).toBe('final GET no-auth');
    expect(response.url).toBe(`http://other.test:${server.port}/c`);
    expect(response.redirected).toBe(true);
    expect(server.stats.requests.map((r) => r.url)).toEqual(['/a', '/b', '/c']);
  });

  it('turns a POST into a GET on 303, and keeps it on 307', async () => {
    await using server = await startServer(
      redirector({ '/see': [303, () => '/x'], '/temp': [307, () => '/y'] }),
    );
    await using fetch = restricted({ resolve: resolver({ 'api.test': '127.0.0.1' }).resolve });
    const base = `http://api.test:${server.port}`;
    expect(await (await fetch(`${base}/see`, { method: 'POST', body: 'b' })).text()).toBe(
      'final GET no-auth',
    );
    expect(await (await fetch(`${base}/temp`, { method: 'POST', body: 'b' })).text()).toBe(
      'final POST no-auth',
    );
  });

  it.each([
    ['a host off the allowlist', (port: number) => `http://evil.test:${port}/`, 'FETCH_HOST_NOT_ALLOWED'],
    ['a private IP literal', (port: number) => `http://127.0.0.1:${port}/`, 'FETCH_BLOCKED_ADDRESS'],
    ['the metadata address', () => 'http://169.254.169.254/latest/meta-data/', 'FETCH_BLOCKED_ADDRESS'],
    [
      'a name resolving to a private address',
      (port: number) => `http://inner.test:${port}/`,
      'FETCH_BLOCKED_ADDRESS',
    ],
    ['another scheme', () => 'file:///etc/passwd', 'FETCH_URL_NOT_ALLOWED'],
  ])('blocks a redirect to %s', async (_name, target, expected) => {
    await using server = await startServer(redirector({ '/go': [302, target] }));
    const dns = resolver({ 'api.test': '127.0.0.1', 'inner.test': '10.0.0.1' });
    await using fetch = createRestrictedFetch({
      allow: ['api.test', 'inner.test'],
      allowPrivate: ['api.test'],
      resolve: dns.resolve,
    });
    const error = await rejection(fetch(`http://api.test:${server.port}/go`));
    expect(error.code).toBe(expected);
    expect(server.stats.requests).toHaveLength(1);
  });

  it('stops after maxRedirects, and leaves redirects alone with redirect: manual', async () => {
    await using server = await startServer(redirector({ '/loop': [302, () => '/loop'] }));
    await using fetch = restricted({
      resolve: resolver({ 'api.test': '127.0.0.1' }).resolve,
      maxRedirects: 3,
    });
    const error = await rejection(fetch(`http://api.test:${server.port}/loop`));
    expect(error.code).toBe('FETCH_TOO_MANY_REDIRECTS');
    expect(server.stats.requests).toHaveLength(4);
    const manual = await fetch(`http://api.test:${server.port}/loop`, { redirect: 'manual' });
    expect(manual.status).toBe(302);
    await manual.body?.cancel();
  });
});

describe('createRestrictedFetch: body cap and timeout', () => {
  it('an infinite body stops at the cap and the connection is dropped', async () => {
    await using server = await startServer((_req, res) => {
      const chunk = Buffer.alloc(16 * 1024, 'x');
      const pump = () => {
        while (res.write(chunk)) {}
      };
      res.on('drain', pump);
      pump();
    });
    await using fetch = restricted({
      resolve: resolver({ 'api.test': '127.0.0.1' }).resolve,
      maxBodyBytes: 100_000,
    });
    const response = await fetch(`http://api.test:${server.port}/stream`);
    let received = 0;
    const error = await rejection(
      (async () => {
        for await (const chunk of response.body as AsyncIterable<Uint8Array>) received += chunk.byteLength;
      })(),
    );
    expect(error.code).toBe('FETCH_BODY_TOO_LARGE');
    expect(received).toBeLessThanOrEqual(100_000);
    // Every socket the server saw is closed: nothing is left reading the rest of the body.
    await vi.waitFor(() => expect(server.stats.closed).toBe(server.stats.connections), { timeout: 10_000 });
    expect(server.stats.requests).toHaveLength(1);
  });

  it('a body under the cap reads whole', async () => {
    await using server = await startServer((_req, res) => res.end('y'.repeat(100_000)));
    await using fetch = restricted({
      resolve: resolver({ 'api.test': '127.0.0.1' }).resolve,
      maxBodyBytes: 100_000,
    });
    expect((await (await fetch(`http://api.test:${server.port}/`)).text()).length).toBe(100_000);
  });

  it('rejects FETCH_TIMEOUT when the headers do not come in time (ManualClock)', async () => {
    await using server = await startServer(() => {});
    const clock = new ManualClock();
    await using fetch = restricted({
      resolve: resolver({ 'api.test': '127.0.0.1' }).resolve,
      clock,
      timeoutMs: 5_000,
    });
    const pending = rejection(fetch(`http://api.test:${server.port}/slow`));
    await vi.waitFor(() => expect(server.stats.requests).toHaveLength(1), { timeout: 10_000 });
    clock.advance(4_999);
    clock.advance(1);
    expect((await pending).code).toBe('FETCH_TIMEOUT');
  });

  it('errors the body stream with FETCH_TIMEOUT when the body stalls', async () => {
    await using server = await startServer((_req, res) => res.write('first'));
    const clock = new ManualClock();
    await using fetch = restricted({
      resolve: resolver({ 'api.test': '127.0.0.1' }).resolve,
      clock,
      timeoutMs: 5_000,
    });
    const response = await fetch(`http://api.test:${server.port}/stall`);
    const reader = (response.body as ReadableStream<Uint8Array>).getReader();
    expect(Buffer.from((await reader.read()).value as Uint8Array).toString()).toBe('first');
    const next = rejection(reader.read());
    clock.advance(5_000);
    expect((await next).code).toBe('FETCH_TIMEOUT');
  });

  it('rejects with the reason of the caller signal', async () => {
    await using server = await startServer(() => {});
    await using fetch = restricted({ resolve: resolver({ 'api.test': '127.0.0.1' }).resolve });
    const controller = new AbortController();
    const pending = rejection(fetch(`http://api.test:${server.port}/`, { signal: controller.signal }));
    await vi.waitFor(() => expect(server.stats.requests).toHaveLength(1), { timeout: 10_000 });
    const reason = new Error('caller gave up');
    controller.abort(reason);
    expect(await pending).toBe(reason);
  });
});

describe('createRestrictedFetch: body accounting', () => {
  const bigGzip = gzipSync(Buffer.alloc(1_000_000)); // ~1 KB on the wire, 1 MB decoded

  it('caps a content-length body that is too large, and a content-encoded body by its decoded size', async () => {
    await using server = await startServer((req, res) => {
      if (req.url === '/plain') res.end('z'.repeat(200_000));
      else res.writeHead(200, { 'content-encoding': 'gzip' }).end(bigGzip);
    });
    await using fetch = restricted({
      resolve: resolver({ 'api.test': '127.0.0.1' }).resolve,
      maxBodyBytes: 100_000,
    });
    const plain = await rejection((await fetch(`http://api.test:${server.port}/plain`)).text());
    expect(plain.code).toBe('FETCH_BODY_TOO_LARGE');
    const bomb = await rejection((await fetch(`http://api.test:${server.port}/gzip`)).arrayBuffer());
    expect(bomb.code).toBe('FETCH_BODY_TOO_LARGE');
  });

  it('reads a content-encoded body under the cap decoded and whole', async () => {
    await using server = await startServer((_req, res) =>
      res.writeHead(200, { 'content-encoding': 'gzip' }).end(bigGzip),
    );
    await using fetch = restricted({ resolve: resolver({ 'api.test': '127.0.0.1' }).resolve });
    const response = await fetch(`http://api.test:${server.port}/`);
    expect((await response.arrayBuffer()).byteLength).toBe(1_000_000);
  });

  it('stops the timeout once the body is in, read, cancelled or refused (ManualClock)', async () => {
    await using server = await startServer((req, res) => {
      if (req.url === '/big') res.end('z'.repeat(200_000));
      else if (req.url === '/stall') res.write('first');
      else res.end('hello');
    });
    const clock = new ManualClock();
    await using fetch = restricted({
      resolve: resolver({ 'api.test': '127.0.0.1' }).resolve,
      clock,
      maxBodyBytes: 100_000,
    });
    const url = `http://api.test:${server.port}`;
    expect(await (await fetch(`${url}/`)).text()).toBe('hello');
    expect(clock.pendingTimers).toBe(0);
    // Received whole but never read: nothing can stall any more, so the timer goes too.
    const unread = await fetch(`${url}/`);
    await vi.waitFor(() => expect(clock.pendingTimers).toBe(0));
    await unread.body?.cancel();
    const stalled = await fetch(`${url}/stall`);
    expect(clock.pendingTimers).toBe(1);
    await stalled.body?.cancel();
    await vi.waitFor(() => expect(clock.pendingTimers).toBe(0));
    expect((await rejection((await fetch(`${url}/big`)).text())).code).toBe('FETCH_BODY_TOO_LARGE');
    expect(clock.pendingTimers).toBe(0);
  });

  it('does not count the body of a redirect it follows, and caps one it returns', async () => {
    await using server = await startServer((req, res) => {
      if (req.url === '/from') res.writeHead(302, { location: '/to' }).end('moved');
      else res.end();
    });
    await using fetch = restricted({
      resolve: resolver({ 'api.test': '127.0.0.1' }).resolve,
      maxBodyBytes: 0,
    });
    const followed = await fetch(`http://api.test:${server.port}/from`);
    expect([followed.status, await followed.text()]).toEqual([200, '']);
    const manual = await fetch(`http://api.test:${server.port}/from`, { redirect: 'manual' });
    expect(manual.status).toBe(302);
    expect((await rejection(manual.text())).code).toBe('FETCH_BODY_TOO_LARGE');
  });

  it('a redirected response says so, with the URL of the last hop', async () => {
    await using server = await startServer((req, res, port) => {
      if (req.url === '/from') res.writeHead(302, { location: `http://other.test:${port}/to` }).end();
      else res.end('arrived');
    });
    const dns = resolver({ 'api.test': '127.0.0.1', 'other.test': '127.0.0.1' });
    await using fetch = restricted({ resolve: dns.resolve });
    const direct = await fetch(`http://api.test:${server.port}/to#part`);
    expect([direct.url, direct.redirected, await direct.text()]).toEqual([
      `http://api.test:${server.port}/to`,
      false,
      'arrived',
    ]);
    const moved = await fetch(`http://api.test:${server.port}/from`);
    expect([moved.url, moved.redirected, await moved.text()]).toEqual([
      `http://other.test:${server.port}/to`,
      true,
      'arrived',
    ]);
  });
});

describe('createRestrictedFetch: rate limit and breaker', () => {
  it('fails fast with FETCH_RATE_LIMITED and retryAfterMs when rate.wait is false', async () => {
    await using server = await startServer(hello);
    const clock = new ManualClock();
    await using fetch = restricted({
      resolve: resolver({ 'api.test': '127.0.0.1' }).resolve,
      clock,
      rate: { perSecond: 1, burst: 2, wait: false },
    });
    const url = `http://api.test:${server.port}/`;
    await (await fetch(url)).text();
    await (await fetch(url)).text();
    const error = await rejection(fetch(url));
    expect(error.code).toBe('FETCH_RATE_LIMITED');
    expect((error as unknown as { retryAfterMs: number }).retryAfterMs).toBe(1000);
    expect(server.stats.requests).toHaveLength(2);
    clock.advance(1_000);
    expect(await (await fetch(url)).text()).toBe('hello');
  });

  it('waits for a token when rate.wait is true', async () => {
    await using server = await startServer(hello);
    const clock = new ManualClock();
    await using fetch = restricted({
      resolve: resolver({ 'api.test': '127.0.0.1' }).resolve,
      clock,
      rate: { perSecond: 2, burst: 1 },
    });
    const url = `http://api.test:${server.port}/`;
    await (await fetch(url)).text();
    const waiting = fetch(url);
    await clock.advanceAsync(499);
    expect(server.stats.requests).toHaveLength(1);
    await clock.advanceAsync(1);
    expect(await (await waiting).text()).toBe('hello');
  });

  /** A minimal Breaker: opens after `threshold` consecutive failures. */
  class CountingBreaker implements Breaker {
    failures = 0;
    successes = 0;
    state: Breaker['state'] = 'closed';
    constructor(readonly threshold: number) {}
    async execute<T>(fn: (context: BreakerContext) => PromiseLike<T> | T, signal?: AbortSignal): Promise<T> {
      if (this.state === 'open')
        throw new OrdoError('open', { code: 'BREAKER_OPEN', details: { retryAfterMs: 1 } });
      try {
        const value = await fn({ signal: signal ?? new AbortController().signal });
        this.successes++;
        return value;
      } catch (error) {
        if (++this.failures >= this.threshold) this.state = 'open';
        throw error;
      }
    }
  }

  it('counts 5xx and network errors as failures of the host breaker, and stops at an open breaker', async () => {
    await using server = await startServer((req, res) => {
      res.statusCode = req.url === '/fail' ? 503 : 200;
      res.end(req.url);
    });
    const breakers = new Map<string, CountingBreaker>();
    const breakerFor = (host: string) => {
      if (!breakers.has(host)) breakers.set(host, new CountingBreaker(3));
      return breakers.get(host);
    };
    const dns = resolver({ 'api.test': '127.0.0.1', 'other.test': '127.0.0.1' });
    await using fetch = restricted({ resolve: dns.resolve, breakerFor });
    const url = `http://api.test:${server.port}`;
    expect((await fetch(`${url}/ok`)).status).toBe(200);
    const failed = await fetch(`${url}/fail`);
    expect(failed.status).toBe(503);
    expect(await failed.text()).toBe('/fail');
    expect(await rejection(fetch('http://api.test:1/'))).toBeInstanceOf(TypeError);
    await (await fetch(`${url}/fail`)).text();
    expect(breakers.get('api.test')).toMatchObject({ successes: 1, failures: 3, state: 'open' });
    const before = server.stats.requests.length;
    expect(isOrdoError(await rejection(fetch(`${url}/ok`)), 'BREAKER_OPEN')).toBe(true);
    expect(server.stats.requests).toHaveLength(before);
    expect((await fetch(`http://other.test:${server.port}/ok`)).status).toBe(200);
  });
});

describe('createRestrictedFetch: options and resources', () => {
  it.each([
    ['maxBodyBytes', { maxBodyBytes: -1 }],
    ['timeoutMs', { timeoutMs: 0 }],
    ['maxRedirects', { maxRedirects: 1.5 }],
    ['rate.perSecond', { rate: { perSecond: 0 } }],
    ['allow', { allow: ['bad host'] }],
  ])('refuses a bad %s', (option, options) => {
    expect(() => createRestrictedFetch(options)).toThrowError(
      expect.objectContaining({
        code: 'FETCH_INVALID_OPTION',
        details: { option: option === 'allow' ? 'host' : option },
      }),
    );
  });

  it('close() closes its own Agent but not a dispatcher passed in', async () => {
    await using server = await startServer(hello);
    const own = createRestrictedFetch({ allowPrivate: ['127.0.0.1'] });
    await (await own(`http://127.0.0.1:${server.port}/`)).text();
    await own.close();
    expect(await rejection(own(`http://127.0.0.1:${server.port}/`))).toBeInstanceOf(Error);
    const agent = new Agent();
    const borrowed = createRestrictedFetch({ allowPrivate: ['127.0.0.1'], dispatcher: agent });
    await borrowed.close();
    expect(agent.closed).toBe(false);
    expect(await (await borrowed(`http://127.0.0.1:${server.port}/`)).text()).toBe('hello');
    const literal = await rejection(borrowed(`http://127.0.0.2:${server.port}/`));
    expect(literal.code).toBe('FETCH_BLOCKED_ADDRESS');
    await agent.close();
  });

  it('a fetch closed before its first request refuses requests as one closed after a request does', async () => {
    await using server = await startServer(hello);
    const url = `http://127.0.0.1:${server.port}/`;
    const used = createRestrictedFetch({ allowPrivate: ['127.0.0.1'] });
    await (await used(url)).text();
    await used.close();
    const unused = createRestrictedFetch({ allowPrivate: ['127.0.0.1'] });
    await unused.close();
    await unused.close(); // twice is fine
    const causeCode = (error: unknown) => ((error as Error).cause as { code?: string } | undefined)?.code;
    const afterUse = await rejection(used(url));
    const beforeUse = await rejection(unused(url));
    expect(causeCode(beforeUse)).toBe('UND_ERR_DESTROYED');
    expect([beforeUse.name, beforeUse.message, causeCode(beforeUse)]).toEqual([
      afterUse.name,
      afterUse.message,
      causeCode(afterUse),
    ]);
    expect(server.stats.requests).toHaveLength(1);
  });
});
