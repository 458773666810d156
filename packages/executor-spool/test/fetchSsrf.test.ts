import { setMaxListeners } from 'node:events';
import ipaddr from 'ipaddr.js';
import { describe, expect, it } from 'vitest';
import {
  createHostPolicy,
  createRestrictedFetch,
  isLocalhostName,
  type ResolvedAddress,
} from '../src/index.js';
import { rejection, resolver, startServer } from './fetchSupport.js';

function code(fn: () => unknown): string | undefined {
  try {
    fn();
    return undefined;
  } catch (error) {
    return (error as { code?: string }).code ?? 'thrown';
  }
}

/** Blocked IPv4 targets: loopback, metadata, private, unspecified, CGNAT, multicast, broadcast, reserved. */
const V4_TARGETS = [
  '127.0.0.1',
  '127.255.255.254',
  '169.254.169.254',
  '169.254.0.1',
  '10.0.0.1',
  '10.255.255.255',
  '172.16.0.1',
  '172.31.255.255',
  '192.168.0.1',
  '192.168.255.255',
  '0.0.0.0',
  '0.1.2.3',
  '100.64.0.1',
  '224.0.0.1',
  '255.255.255.255',
  '192.0.0.8',
  '198.18.0.1',
  '240.0.0.1',
];

const hex16 = (b: number[], at: number) => (((b[at] as number) << 8) | (b[at + 1] as number)).toString(16);

/** Encodings of one IPv4 address as a URL host that WHATWG URL turns back into it (or an IPv6 carrying it). */
function v4Encodings(ip: string): string[] {
  const b = ip.split('.').map(Number);
  const [b0, b1, b2, b3] = b as [number, number, number, number];
  const n = ((b0 << 24) >>> 0) + (b1 << 16) + (b2 << 8) + b3;
  const [h1, h2] = [hex16(b, 0), hex16(b, 2)];
  const xor = b.map((x) => x ^ 0xff);
  const fullWidth = (text: string, dot: string) =>
    text.replace(/\d/g, (d) => String.fromCharCode(0xff10 + Number(d))).replace(/\./g, dot);
  return [
    ip,
    `${ip}.`,
    ip.toUpperCase(),
    String(n),
    `${n}.`,
    `0x${n.toString(16)}`,
    `0X${n.toString(16).toUpperCase()}`,
    `0x${n.toString(16).padStart(12, '0')}`,
    `0${n.toString(8)}`,
    b.map((x) => `0x${x.toString(16)}`).join('.'),
    b.map((x) => `0${x.toString(8).padStart(3, '0')}`).join('.'),
    `${b0}.${(b1 << 16) + (b2 << 8) + b3}`,
    `${b0}.${b1}.${(b2 << 8) + b3}`,
    `0x${b0.toString(16)}.${b1}.0${b2.toString(8)}.${b3}`,
    `0${b0.toString(8)}.0x${((b1 << 16) + (b2 << 8) + b3).toString(16)}`,
    [...ip].map((c) => `%${c.charCodeAt(0).toString(16)}`).join(''),
    ip.replace(/\./g, '%2E'),
    fullWidth(ip, '\uff0e'),
    fullWidth(ip, '\u3002'),
    fullWidth(ip, '\uff61'),
    `[::ffff:${ip}]`,
    `[::FFFF:${h1}:${h2}]`,
    `[0:0:0:0:0:ffff:${ip}]`,
    `[0000:0000:0000:0000:0000:ffff:${h1}:${h2}]`,
    `[::${ip}]`,
    `[::${h1}:${h2}]`,
    `[::ffff:0:${ip}]`,
    `[64:ff9b::${ip}]`,
    `[64:ff9b::${h1}:${h2}]`,
    `[64:ff9b:1::${h1}:${h2}]`,
    `[2002:${h1}:${h2}::]`,
    `[2002:${h1}:${h2}:1::1]`,
    `[2001:0:${h1}:${h2}::1]`,
    `[2001:0:4136:e378:8000:63bf:${hex16(xor, 0)}:${hex16(xor, 2)}]`,
    `[2600::5efe:${ip}]`,
    `[2600::200:5efe:${h1}:${h2}]`,
    `[2a00:1450::100:5efe:${ip}]`,
  ];
}

/** Blocked IPv6 targets: loopback, unspecified, unique-local, link-local, multicast, site-local, documentation, … */
const V6_TARGETS = [
  '::1',
  '::',
  'fc00::1',
  'fd12:3456:789a::1',
  'fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff',
  'fe80::1',
  'fe80::abcd:ef01:2345:6789',
  'febf::1',
  'ff02::1',
  'ff05::1:3',
  'fec0::1',
  '2001:db8::1',
  '100::1',
  '4000::1',
  'e000::1',
  '3fff::1',
  '2001:10::1',
];

/** `::1` → `0000:0000:0000:0000:0000:0000:0000:0001`. */
function fixedLength(address: string): string {
  return ipaddr.IPv6.parse(address)
    .toNormalizedString()
    .split(':')
    .map((part) => part.padStart(4, '0'))
    .join(':');
}

function v6Encodings(address: string): string[] {
  const parsed = ipaddr.IPv6.parse(address);
  return [
    `[${address}]`,
    `[${address.toUpperCase()}]`,
    `[${parsed.toNormalizedString()}]`,
    `[${fixedLength(address)}]`,
    `[${address}%25eth0]`,
    `[${address}%eth0]`,
  ];
}

const CORPUS = [...new Set([...V4_TARGETS.flatMap(v4Encodings), ...V6_TARGETS.flatMap(v6Encodings)])];

describe('SSRF corpus: every encoding of a blocked address is refused before any connection', () => {
  it('the corpus is large, and only IPv6 zone ids are not URLs at all', () => {
    expect(CORPUS.length).toBeGreaterThan(700);
    const notUrls = CORPUS.filter((host) => !URL.canParse(`http://${host}/`));
    expect(notUrls.length).toBeLessThan(40);
    for (const host of notUrls) expect(host).toMatch(/^\[.*%.*\]$/);
  });

  for (const [name, policy] of [
    ['with no allowlist', createHostPolicy({})],
    ['with every corpus host on the allowlist', createHostPolicy({ allow: ['*.test'] })],
  ] as const) {
    it(`the URL check refuses all ${CORPUS.length} hosts (${name})`, () => {
      const passed: string[] = [];
      for (const host of CORPUS) {
        for (const port of ['', ':8080']) {
          let url: URL;
          try {
            url = new URL(`http://${host}${port}/`);
          } catch {
            continue; // not a URL at all: the fetch refuses it with FETCH_URL_NOT_ALLOWED
          }
          const verdict = code(() => policy.checkUrl(url));
          if (verdict !== 'FETCH_BLOCKED_ADDRESS' && verdict !== 'FETCH_HOST_NOT_ALLOWED')
            passed.push(url.href);
          if (name.startsWith('with no') && verdict !== 'FETCH_BLOCKED_ADDRESS') passed.push(url.href);
        }
      }
      expect(passed).toEqual([]);
    });
  }

  it('URLs in the style of public SSRF payload lists are refused at the URL check (or are not URLs)', () => {
    const policy = createHostPolicy({});
    const payloads = [
      'http://①②⑦.⓪.⓪.①/',
      'http://ⓛⓞⓒⓐⓛⓗⓞⓢⓣ/',
      'http://127.000000000000.1/',
      'http://%30%78%37%66.%30%78%30%30.%30%78%30%30.%30%78%30%31/',
      'http://127.0.0.1%00.evil.com/',
      'http://127.1.1.1:80#\\@127.2.2.2:80/',
      'http://127.0.0.1:80\\@127.2.2.2:80/',
      'http://3232235521/',
      'http://[fd00:ec2::254]/',
      'http://100.100.100.200/',
      'http://192.0.0.192/',
      'http://[fe80::a9fe:a9fe]/',
      'http://127%E3%80%820.0.1/',
      'http://localhost%2E/',
      'http://LOCALHOST%2e%2e/',
      'http://%6c%6f%63%61%6c%68%6f%73%74/',
      'http://[0000::1]/',
      'http://[::ffff:0.0.0.0]/',
      'http://127.0.0.1\t/',
      'http:\\\\127.0.0.1\\',
      'http:/127.0.0.1/',
      'http:127.0.0.1/',
      'HTTP://127.0.0.1/',
      'http://4294967296/',
      'http://169.254.43518/',
      'http://169.16689662/',
      'http://[::1%25lo]/',
      'gopher://127.0.0.1:6379/_INFO',
      'dict://127.0.0.1:11211/stat',
      'file:///etc/passwd',
      'http://user@127.0.0.1/',
    ];
    const passed = payloads.filter((text) => {
      if (!URL.canParse(text)) return false;
      return code(() => policy.checkUrl(new URL(text))) === undefined;
    });
    expect(passed).toEqual([]);
  });

  it('the same addresses answered by a resolver are refused at connect time', () => {
    const policy = createHostPolicy({ allow: ['evil.test'] });
    const answers = [
      ...V4_TARGETS,
      ...V4_TARGETS.flatMap(v4Encodings)
        .filter((host) => host.startsWith('[') && !host.includes('%'))
        .map((host) => host.slice(1, -1)),
      ...V6_TARGETS,
      ...V6_TARGETS.map(fixedLength),
      'fe80::1%eth0',
      'fe80::1%1',
      '::ffff:127.0.0.1',
      '127.000.000.001',
      '0177.0.0.1',
      'localhost',
      '',
    ];
    expect(new Set(answers).size).toBeGreaterThan(350);
    const passed = answers.filter(
      (address) => code(() => policy.checkAddress('evil.test', address)) !== 'FETCH_BLOCKED_ADDRESS',
    );
    expect(passed).toEqual([]);
  });

  it('public addresses, also inside 6to4, Teredo and NAT64, still pass', () => {
    const policy = createHostPolicy({});
    for (const address of [
      '8.8.8.8',
      '93.184.216.34',
      '2606:4700:4700::1111',
      '2a00:1450:4001:830::200e',
      '::ffff:8.8.8.8',
      '64:ff9b::808:808',
      '2002:808:808::1',
      '2001:0:4136:e378:8000:63bf:f7f7:f7f7', // Teredo: server 65.54.227.120, client 8.8.8.8
    ]) {
      expect(
        code(() => policy.checkAddress('ok.test', address)),
        address,
      ).toBeUndefined();
    }
  });

  it('allowPrivate lets a listed range through in any carrying form, and only that range', () => {
    const policy = createHostPolicy({ allowPrivate: ['10.1.0.0/16', 'fd00::/8'] });
    expect(code(() => policy.checkAddress('x.test', '::ffff:10.1.2.3'))).toBeUndefined();
    expect(code(() => policy.checkAddress('x.test', '::a01:203'))).toBeUndefined();
    expect(code(() => policy.checkAddress('x.test', '64:ff9b::a01:203'))).toBeUndefined();
    expect(code(() => policy.checkAddress('x.test', 'fd00::5'))).toBeUndefined();
    expect(code(() => policy.checkAddress('x.test', '::a02:203'))).toBe('FETCH_BLOCKED_ADDRESS');
    expect(code(() => policy.checkAddress('x.test', 'fc00::5'))).toBe('FETCH_BLOCKED_ADDRESS');
  });

  it('a loopback-carrying literal never reaches the loopback server through the real fetch', async () => {
    await using server = await startServer((_req, res) => res.end('reached'));
    const dns = resolver({});
    await using fetch = createRestrictedFetch({ resolve: dns.resolve });
    const loopbackOnly = v4Encodings('127.0.0.1').filter(
      (host) => !host.startsWith('[') || host.includes('ffff'),
    );
    const codes = await Promise.all(
      loopbackOnly.map(async (host) => (await rejection(fetch(`http://${host}:${server.port}/`))).code),
    );
    expect(new Set(codes)).toEqual(new Set(['FETCH_BLOCKED_ADDRESS']));
    expect(dns.calls).toEqual([]);
    expect(server.stats.connections).toBe(0);
  });
});

describe('DNS rebinding and redirects', () => {
  it('a resolver answering an allowed address, then a blocked one, is refused on the new connection', async () => {
    await using server = await startServer((_req, res) =>
      res.writeHead(200, { connection: 'close' }).end('ok'),
    );
    let answer = '127.0.0.1';
    const calls: string[] = [];
    const resolve = async (hostname: string): Promise<ResolvedAddress[]> => {
      calls.push(hostname);
      return [{ address: answer, family: answer.includes(':') ? 6 : 4 }];
    };
    await using fetch = createRestrictedFetch({ allowPrivate: ['127.0.0.1'], resolve });
    expect(await (await fetch(`http://rebind.test:${server.port}/`)).text()).toBe('ok');
    for (const next of ['::ffff:127.0.0.2', '127.0.0.2', '::1']) {
      answer = next;
      expect((await rejection(fetch(`http://rebind.test:${server.port}/`))).code).toBe(
        'FETCH_BLOCKED_ADDRESS',
      );
    }
    expect(calls).toHaveLength(4);
    expect(server.stats.connections).toBe(1);
  });

  it('every redirect hop is checked: to localhost., *.localhost and a mapped loopback address', async () => {
    const targets = ['http://localhost.:PORT/', 'http://a.b.localhost:PORT/', 'http://[::ffff:7f00:2]:PORT/'];
    await using server = await startServer((req, res, port) => {
      const index = Number((req.url ?? '/0').slice(1));
      res.writeHead(302, { location: (targets[index] as string).replace('PORT', String(port)) }).end();
    });
    const dns = resolver({ 'api.test': '127.0.0.1' });
    await using fetch = createRestrictedFetch({ allowPrivate: ['api.test'], resolve: dns.resolve });
    for (let i = 0; i < targets.length; i++) {
      expect((await rejection(fetch(`http://api.test:${server.port}/${i}`))).code).toBe(
        'FETCH_BLOCKED_ADDRESS',
      );
    }
    expect(server.stats.requests).toHaveLength(targets.length); // only the first hops arrived
    expect(dns.calls.every((name) => name === 'api.test')).toBe(true);
  });
});

describe('localhost names (RFC 6761) and DNS failures', () => {
  it.each([
    'localhost',
    'localhost.',
    'LOCALHOST',
    'a.localhost',
    'a.b.localhost.',
    'x.LocalHost',
  ])('%s is loopback without asking a resolver', (name) => {
    expect(isLocalhostName(name)).toBe(true);
    const policy = createHostPolicy({});
    expect(code(() => policy.checkUrl(new URL(`http://${name}:8080/`)))).toBe('FETCH_BLOCKED_ADDRESS');
  });

  it('names that only look like localhost are ordinary names', () => {
    for (const name of ['localhost.example.com', 'notlocalhost', 'localhostx', 'localhost-a.test']) {
      expect(isLocalhostName(name), name).toBe(false);
    }
  });

  it('reaches a *.localhost server on 127.0.0.1 only when allowed, never calling the resolver', async () => {
    await using server = await startServer((_req, res) => res.end('local'));
    const dns = resolver({});
    await using blocked = createRestrictedFetch({ resolve: dns.resolve });
    expect((await rejection(blocked(`http://app.localhost.:${server.port}/`))).code).toBe(
      'FETCH_BLOCKED_ADDRESS',
    );
    await using allowed = createRestrictedFetch({ allowPrivate: ['127.0.0.1'], resolve: dns.resolve });
    expect(await (await allowed(`http://app.localhost.:${server.port}/`)).text()).toBe('local');
    expect(await (await allowed(`http://localhost:${server.port}/`)).text()).toBe('local');
    expect(dns.calls).toEqual([]);
    expect(server.stats.connections).toBeGreaterThanOrEqual(1);
  });

  it('a DNS failure is FETCH_DNS_FAILED with the resolver code, not a bare TypeError', async () => {
    const answers: Record<string, () => Promise<ResolvedAddress[]>> = {
      'missing.test': async () => {
        throw Object.assign(new Error('getaddrinfo ENOTFOUND missing.test'), { code: 'ENOTFOUND' });
      },
      'again.test': async () => {
        throw Object.assign(new Error('getaddrinfo EAI_AGAIN again.test'), { code: 'EAI_AGAIN' });
      },
      'empty.test': async () => [],
      'odd.test': async () => {
        throw 'not an error';
      },
    };
    await using fetch = createRestrictedFetch({
      resolve: (hostname) => (answers[hostname] as () => Promise<ResolvedAddress[]>)(),
    });
    const seen: Record<string, unknown> = {};
    for (const name of Object.keys(answers)) {
      const error = await rejection(fetch(`http://${name}/`));
      expect(error.code, name).toBe('FETCH_DNS_FAILED');
      seen[name] = (error as unknown as { details: { dnsCode: string } }).details.dnsCode;
    }
    expect(seen).toEqual({
      'missing.test': 'ENOTFOUND',
      'again.test': 'EAI_AGAIN',
      'empty.test': 'ENOTFOUND',
      'odd.test': 'ERESOLVER',
    });
  });
});

describe('per-host connection cap', () => {
  it('500 concurrent requests to a server that never answers open at most maxConnectionsPerHost sockets', async () => {
    await using server = await startServer(() => {
      // never answers
    });
    const dns = resolver({ 'slow.test': '127.0.0.1' });
    await using fetch = createRestrictedFetch({
      allowPrivate: ['slow.test'],
      resolve: dns.resolve,
      maxConnectionsPerHost: 8,
      timeoutMs: Number.POSITIVE_INFINITY,
    });
    const controller = new AbortController();
    setMaxListeners(1_000, controller.signal); // one caller signal shared by 500 requests
    const requests = Array.from({ length: 500 }, (_, i) =>
      fetch(`http://slow.test:${server.port}/${i}`, { signal: controller.signal }).catch((e: unknown) => e),
    );
    await server.until((stats) => stats.requests.length >= 8);
    // Give the other 492 requests every chance to open sockets they must not open.
    for (let turn = 0; turn < 20; turn++) await new Promise((resolve) => setTimeout(resolve, 5));
    expect(server.stats.connections).toBe(8);
    controller.abort(new Error('test over'));
    const outcomes = await Promise.all(requests);
    expect(outcomes.every((outcome) => outcome instanceof Error)).toBe(true);
    expect(server.stats.connections).toBeLessThanOrEqual(8);
  });

  it('refuses a cap that is not an integer >= 1', () => {
    for (const value of [0, -1, 1.5, Number.NaN]) {
      expect(code(() => createRestrictedFetch({ maxConnectionsPerHost: value }))).toBe(
        'FETCH_INVALID_OPTION',
      );
    }
  });
});

describe('allow entries with ports', () => {
  const policy = createHostPolicy({
    allow: [
      'api.test:8443',
      '[2606:4700::1111]:8080',
      '*.example.org:443',
      '8.8.8.8:53',
      'any.test',
      'any.test:9',
    ],
  });
  const check = (url: string) => code(() => policy.checkUrl(new URL(url)));

  it.each([
    'https://api.test:8443/',
    'http://[2606:4700::1111]:8080/',
    'https://a.example.org/',
    'http://a.example.org:443/',
    'http://8.8.8.8:53/',
    'http://any.test:1234/',
    'https://any.test/',
  ])('allows %s', (url) => {
    expect(check(url)).toBeUndefined();
  });

  it.each([
    'https://api.test/',
    'http://api.test:8444/',
    'http://[2606:4700::1111]/',
    'http://a.example.org/',
    'https://a.example.org:8443/',
    'http://8.8.8.8/',
  ])('refuses %s (FETCH_HOST_NOT_ALLOWED)', (url) => {
    expect(check(url)).toBe('FETCH_HOST_NOT_ALLOWED');
  });

  it('refuses malformed entries', () => {
    for (const entry of [
      'api.test:0',
      'api.test:65536',
      'api.test:http',
      '[::1',
      '[::1]x',
      '[::1]:',
      'a:b:c:d',
    ]) {
      expect(
        code(() => createHostPolicy({ allow: [entry] })),
        entry,
      ).toBe('FETCH_INVALID_OPTION');
    }
  });

  it('a real loopback server is reached on its allowed port only', async () => {
    await using server = await startServer((_req, res) => res.end('port ok'));
    await using other = await startServer((_req, res) => res.end('other'));
    await using fetch = createRestrictedFetch({
      allow: [`127.0.0.1:${server.port}`],
      allowPrivate: ['127.0.0.1'],
    });
    expect(await (await fetch(`http://127.0.0.1:${server.port}/`)).text()).toBe('port ok');
    expect((await rejection(fetch(`http://127.0.0.1:${other.port}/`))).code).toBe('FETCH_HOST_NOT_ALLOWED');
    expect(other.stats.connections).toBe(0);
  });
});
