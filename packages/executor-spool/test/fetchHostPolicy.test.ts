import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { blockedRange, createHostPolicy, normalizeHost } from '../src/index.js';

function code(fn: () => unknown): string | undefined {
  try {
    fn();
    return undefined;
  } catch (error) {
    return (error as { code?: string }).code;
  }
}

describe('normalizeHost', () => {
  it.each([
    ['Example.COM', 'example.com'],
    ['example.com.', 'example.com'],
    ['BÜCHER.example', 'xn--bcher-kva.example'],
    ['bücher.example.', 'xn--bcher-kva.example'],
    ['example\u3002com', 'example.com'],
    ['2130706433', '127.0.0.1'],
    ['0x7f000001', '127.0.0.1'],
    ['0177.0.0.1', '127.0.0.1'],
    ['0x7f.0.0.1', '127.0.0.1'],
    ['127.1', '127.0.0.1'],
    ['127.0.1', '127.0.0.1'],
    ['0', '0.0.0.0'],
    ['127.0.0.1.', '127.0.0.1'],
    ['[::1]', '::1'],
    ['[0:0:0:0:0:0:0:1]', '::1'],
    ['[::ffff:127.0.0.1]', '::ffff:7f00:1'],
    ['[FE80::1]', 'fe80::1'],
  ])('%j → %j', (host, normalized) => {
    expect(normalizeHost(host)).toBe(normalized);
  });

  it('refuses what is not a host', () => {
    expect(code(() => normalizeHost('exa mple.com'))).toBe('FETCH_INVALID_OPTION');
  });
});

describe('blockedRange', () => {
  it.each([
    ['127.0.0.1', 'loopback'],
    ['10.0.0.1', 'private'],
    ['172.16.5.4', 'private'],
    ['192.168.1.1', 'private'],
    ['169.254.169.254', 'linkLocal'],
    ['0.0.0.0', 'unspecified'],
    ['100.64.0.1', 'carrierGradeNat'],
    ['255.255.255.255', 'broadcast'],
    ['224.0.0.1', 'multicast'],
    ['::1', 'loopback'],
    ['::', 'unspecified'],
    ['fe80::1', 'linkLocal'],
    ['fd00::1', 'uniqueLocal'],
    ['::ffff:127.0.0.1', 'loopback'],
    ['::ffff:a9fe:a9fe', 'linkLocal'],
    ['64:ff9b::7f00:1', 'loopback'],
    ['2002:7f00:1::', 'loopback'],
    ['::7f00:1', 'loopback'],
    ['::a9fe:a9fe', 'linkLocal'],
    ['fec0::1', 'deprecatedSiteLocal'],
    ['4000::1', 'notGlobalUnicast'],
    ['2001:db8::1', 'reserved'],
  ])('%s is blocked as %s', (address, range) => {
    expect(blockedRange(address)).toBe(range);
  });

  it.each([
    '8.8.8.8',
    '93.184.216.34',
    '2606:4700:4700::1111',
    '::ffff:8.8.8.8',
    '64:ff9b::808:808',
    '2002:808:808::1',
  ])('%s is public', (address) => {
    expect(blockedRange(address)).toBeUndefined();
  });
});

describe('createHostPolicy', () => {
  const policy = createHostPolicy({
    allow: ['api.example.com', '*.Example.ORG', 'bücher.example', '8.8.8.8'],
  });
  const check = (url: string) => code(() => policy.checkUrl(new URL(url)));

  it.each([
    'https://api.example.com/x',
    'https://API.EXAMPLE.COM./x',
    'https://a.example.org/',
    'https://a.b.example.org/',
    'https://xn--bcher-kva.example/',
    'https://BÜCHER.example./',
    'http://8.8.8.8/',
    'http://134744072/',
  ])('allows %s', (url) => {
    expect(check(url)).toBeUndefined();
  });

  it.each([
    ['https://example.org/', 'FETCH_HOST_NOT_ALLOWED'],
    ['https://api.example.com.evil.net/', 'FETCH_HOST_NOT_ALLOWED'],
    ['https://evilexample.org/', 'FETCH_HOST_NOT_ALLOWED'],
    ['https://аpi.example.com/', 'FETCH_HOST_NOT_ALLOWED'],
    ['https://1.1.1.1/', 'FETCH_HOST_NOT_ALLOWED'],
    ['ftp://api.example.com/', 'FETCH_URL_NOT_ALLOWED'],
    ['file:///etc/passwd', 'FETCH_URL_NOT_ALLOWED'],
    ['data:text/plain,hi', 'FETCH_URL_NOT_ALLOWED'],
    ['https://user:pass@api.example.com/', 'FETCH_URL_NOT_ALLOWED'],
    ['https://user@api.example.com/', 'FETCH_URL_NOT_ALLOWED'],
    ['http://127.0.0.1/', 'FETCH_BLOCKED_ADDRESS'],
    ['http://2130706433/', 'FETCH_BLOCKED_ADDRESS'],
    ['http://0x7f.1/', 'FETCH_BLOCKED_ADDRESS'],
    ['http://0177.0.0.01/', 'FETCH_BLOCKED_ADDRESS'],
    ['http://127.1/', 'FETCH_BLOCKED_ADDRESS'],
    ['http://0/', 'FETCH_BLOCKED_ADDRESS'],
    ['http://[::]/', 'FETCH_BLOCKED_ADDRESS'],
    ['http://[::1]/', 'FETCH_BLOCKED_ADDRESS'],
    ['http://[::ffff:127.0.0.1]/', 'FETCH_BLOCKED_ADDRESS'],
    ['http://[::ffff:7f00:1]/', 'FETCH_BLOCKED_ADDRESS'],
    ['http://169.254.169.254/latest/meta-data', 'FETCH_BLOCKED_ADDRESS'],
    ['http://0xa9fea9fe/', 'FETCH_BLOCKED_ADDRESS'],
    ['http://[::ffff:169.254.169.254]/', 'FETCH_BLOCKED_ADDRESS'],
    ['http://10.0.0.1/', 'FETCH_BLOCKED_ADDRESS'],
    ['http://192.168.0.1/', 'FETCH_BLOCKED_ADDRESS'],
    ['http://[fd12::1]/', 'FETCH_BLOCKED_ADDRESS'],
    ['http://[fe80::1]/', 'FETCH_BLOCKED_ADDRESS'],
  ])('refuses %s with %s', (url, expected) => {
    expect(check(url)).toBe(expected);
  });

  it('checks resolved addresses, letting allowPrivate hosts, addresses and ranges through', () => {
    const p = createHostPolicy({
      allowPrivate: ['intranet.test', '10.1.0.0/16', '::1', '::ffff:192.168.0.0/112'],
    });
    expect(code(() => p.checkAddress('api.test', '127.0.0.1'))).toBe('FETCH_BLOCKED_ADDRESS');
    expect(code(() => p.checkAddress('api.test', '::ffff:127.0.0.1'))).toBe('FETCH_BLOCKED_ADDRESS');
    expect(code(() => p.checkAddress('INTRANET.test.', '127.0.0.1'))).toBeUndefined();
    expect(code(() => p.checkAddress('api.test', '10.1.2.3'))).toBeUndefined();
    expect(code(() => p.checkAddress('api.test', '10.2.0.1'))).toBe('FETCH_BLOCKED_ADDRESS');
    expect(code(() => p.checkAddress('api.test', '::1'))).toBeUndefined();
    expect(code(() => p.checkAddress('api.test', '192.168.7.7'))).toBeUndefined();
    expect(code(() => p.checkAddress('api.test', '8.8.8.8'))).toBeUndefined();
    expect(code(() => p.checkAddress('api.test', 'not-an-ip'))).toBe('FETCH_BLOCKED_ADDRESS');
    expect(code(() => p.checkUrl(new URL('http://[::1]:8080/')))).toBeUndefined();
  });

  it('refuses bad options', () => {
    expect(code(() => createHostPolicy({ allow: [''] }))).toBe('FETCH_INVALID_OPTION');
    expect(code(() => createHostPolicy({ allow: ['bad host'] }))).toBe('FETCH_INVALID_OPTION');
    expect(code(() => createHostPolicy({ allowPrivate: ['10.0.0.0/99'] }))).toBe('FETCH_INVALID_OPTION');
  });

  it('every encoding of an IPv4 address gets the same verdict (property)', () => {
    const open = createHostPolicy({});
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffffffff }), (n) => {
        const bytes = [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255];
        const encodings = [
          bytes.join('.'),
          String(n),
          `0x${n.toString(16)}`,
          bytes.map((b) => `0${b.toString(8)}`).join('.'),
          `${bytes[0]}.${(n & 0xffffff).toString()}`,
          `[::ffff:${bytes.join('.')}]`,
        ];
        const verdicts = encodings.map((host) => code(() => open.checkUrl(new URL(`http://${host}/`))));
        const expected = blockedRange(bytes.join('.')) === undefined ? undefined : 'FETCH_BLOCKED_ADDRESS';
        expect(verdicts).toEqual(encodings.map(() => expected));
      }),
    );
  });

  it('remembering allowed hosts never changes a verdict, refusals included (property)', () => {
    const options = {
      allow: ['api.example.com', '*.example.org', '8.8.8.8', '10.1.2.3', '[::1]'],
      allowPrivate: ['10.0.0.0/8', '::1'],
    };
    // One policy for every run: it sees thousands of URLs, so it also starts over past its bound.
    const remembering = createHostPolicy(options);
    const verdict = (policy: ReturnType<typeof createHostPolicy>, url: URL) => {
      try {
        return policy.checkUrl(url);
      } catch (error) {
        return `refused: ${(error as { code?: string }).code}`;
      }
    };
    const host = fc.oneof(
      fc.constantFrom(
        'api.example.com',
        'API.Example.COM.',
        'example.org',
        'a.example.org',
        '8.8.8.8',
        '134744072',
        '10.1.2.3',
        '0xa010203',
        '127.0.0.1',
        '169.254.169.254',
        '[::1]',
        '[::ffff:10.1.2.3]',
        'evil.test',
      ),
      fc.domain(),
      fc.domain().map((name) => `${name}.example.org`),
      fc.ipV4(),
    );
    const url = fc.tuple(fc.constantFrom('http://', 'https://', 'ftp://', 'http://user@'), host);
    fc.assert(
      fc.property(fc.array(url, { minLength: 1, maxLength: 60 }), (urls) => {
        for (const [prefix, name] of urls) {
          const parsed = new URL(`${prefix}${name}/`);
          expect(verdict(remembering, parsed)).toBe(verdict(createHostPolicy(options), parsed));
        }
      }),
    );
  });
});
