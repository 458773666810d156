import { isIP } from 'node:net';
import { lazyModule } from '@ordo/contracts';
import type ipaddr from 'ipaddr.js';
import {
  FetchBlockedAddressError,
  FetchHostNotAllowedError,
  FetchOptionError,
  FetchUrlNotAllowedError,
} from './errors.js';

// Loaded by the first address check, not by importing the package: a process that never fetches (the
// runtime's parent, for one) does not carry it.
const ip = lazyModule<typeof ipaddr>(import.meta.url, 'ipaddr.js');

/** What {@link createHostPolicy} enforces. */
export interface HostPolicyOptions {
  /**
   * The hosts that may be fetched: exact names (`api.example.com`), `*.suffix` wildcards (`*.example.com`
   * matches `a.example.com` and `a.b.example.com`, not `example.com` itself), or IP literals, each
   * optionally with a port (`api.example.com:8443`, `*.example.com:443`, `10.0.0.5:8080`,
   * `[2001:db8::1]:8443`); an entry without a port allows every port. Compared after lower-casing, IDNA
   * (punycode) normalization and trailing-dot removal; a URL without a port has its scheme's (80, 443).
   * Leave it out to allow every host that resolves to a public address.
   * @default undefined (every public host)
   */
  allow?: readonly string[] | undefined;
  /**
   * Hosts, IP addresses or CIDR ranges (`10.0.0.0/8`, `fd00::/8`) that may be reached even though they are
   * private, loopback, link-local, unique-local or otherwise not public unicast. `localhost` (and every
   * `*.localhost` name) stands for 127.0.0.1 and ::1 (RFC 6761) and is blocked unless listed here, by name
   * or by address.
   * @default []
   */
  allowPrivate?: readonly string[] | undefined;
}

/** The checks the restricted fetch runs on every URL and every connection. */
export interface HostPolicy {
  /**
   * Checks a URL before any connection: http(s) only, no userinfo, the host (and port) on the allowlist,
   * and an IP literal host (in any encoding) or a localhost name not blocked. Returns the normalized host.
   */
  checkUrl(url: URL): string;
  /** Checks the address a host resolved to (or an IP literal) at connect time. Throws when it is blocked. */
  checkAddress(host: string, address: string): void;
}

/** The addresses a localhost name stands for (RFC 6761 §6.3), answered without asking any resolver. */
export const LOCALHOST_ADDRESSES: readonly { address: string; family: 4 | 6 }[] = Object.freeze([
  { address: '127.0.0.1', family: 4 },
  { address: '::1', family: 6 },
]);

/**
 * Whether a host name is `localhost` or under `.localhost` (with or without trailing dots, any case):
 * loopback names by RFC 6761, which the restricted fetch never sends to a resolver.
 */
export function isLocalhostName(host: string): boolean {
  const name = host.toLowerCase().replace(/\.+$/, '');
  return name === 'localhost' || name.endsWith('.localhost');
}

/**
 * Normalizes a host name the way URLs do (lower case, IDNA to punycode, IPv4 in any encoding to dotted
 * decimal, IPv6 compressed) and removes a trailing dot and IPv6 brackets.
 *
 * @example
 * ```ts
 * normalizeHost('BÜCHER.example.') // 'xn--bcher-kva.example'
 * normalizeHost('0x7f.1') // '127.0.0.1'
 * normalizeHost('[::ffff:127.0.0.1]') // '::ffff:7f00:1'
 * ```
 */
export function normalizeHost(host: string): string {
  let hostname: string;
  try {
    hostname = new URL(`http://${isIP(host) === 6 ? `[${host}]` : host}/`).hostname;
  } catch (cause) {
    throw new FetchOptionError('host', `${JSON.stringify(host)} is not a valid host name (${String(cause)})`);
  }
  return bareHost(hostname);
}

/**
 * Says why an address is blocked (`'loopback'`, `'private'`, `'linkLocal'`, `'uniqueLocal'`,
 * `'unspecified'`, `'notGlobalUnicast'`, …, mostly ipaddr.js's range names), or `undefined` for a public
 * unicast address. An IPv6 address that carries an IPv4 address is judged as that IPv4 address too:
 * IPv4-mapped (`::ffff:0:0/96`), IPv4-compatible (`::/96`), IPv4-translated (`::ffff:0:0:0/96`), NAT64
 * (`64:ff9b::/96`), 6to4 (`2002::/16`), Teredo (`2001::/32`: the server and the XOR-ed client) and
 * ISATAP (an interface id of `0:5efe` or `200:5efe`). Any other IPv6 address outside global unicast
 * (`2000::/3`) is blocked.
 */
export function blockedRange(address: string): string | undefined {
  return judge(ip().parse(address))[0]?.range;
}

/** One reason an address is blocked: the range, and the (possibly embedded) address that is in it. */
interface Judgement {
  range: string;
  address: ipaddr.IPv4 | ipaddr.IPv6;
}

let globalUnicast: [ipaddr.IPv6, number] | undefined;
/** 2000::/3, the global unicast block. */
const GLOBAL_UNICAST = () => (globalUnicast ??= ip().parseCIDR('2000::/3') as [ipaddr.IPv6, number]);

/** Every reason `address` is blocked; empty when it is public unicast. */
function judge(address: ipaddr.IPv4 | ipaddr.IPv6): Judgement[] {
  if (address.kind() === 'ipv4') {
    const range = address.range();
    return range === 'unicast' ? [] : [{ range, address }];
  }
  const v6 = address as ipaddr.IPv6;
  const carried = carriedIPv4(v6);
  if (carried) return judge(carried);
  const range = v6.range();
  const out: Judgement[] = [];
  if (!v6.match(GLOBAL_UNICAST()))
    out.push({ range: range === 'unicast' ? 'notGlobalUnicast' : range, address });
  else if (range !== 'unicast' && range !== '6to4' && range !== 'teredo') out.push({ range, address });
  for (const tunnelled of tunnelledIPv4(v6)) out.push(...judge(tunnelled));
  return out;
}

/**
 * The IPv4 address an IPv6 address stands for outright: IPv4-mapped, IPv4-compatible (but not `::` and
 * `::1`), IPv4-translated and well-known-prefix NAT64.
 */
function carriedIPv4(v6: ipaddr.IPv6): ipaddr.IPv4 | undefined {
  const b = v6.toByteArray();
  const zero = (from: number, to: number) => b.slice(from, to).every((x) => x === 0);
  const low = () => new (ip().IPv4)(b.slice(12, 16));
  if (zero(0, 10) && b[10] === 0xff && b[11] === 0xff) return low(); // ::ffff:0:0/96 mapped
  if (zero(0, 12) && !(zero(12, 15) && (b[15] as number) <= 1)) return low(); // ::/96 compatible
  if (zero(0, 8) && b[8] === 0xff && b[9] === 0xff && zero(10, 12)) return low(); // ::ffff:0:0:0/96
  if (b[0] === 0 && b[1] === 0x64 && b[2] === 0xff && b[3] === 0x9b && zero(4, 12)) return low(); // 64:ff9b::/96
  return undefined;
}

/** The IPv4 addresses a tunnelling IPv6 address leads to: 6to4, Teredo server and client, ISATAP. */
function tunnelledIPv4(v6: ipaddr.IPv6): ipaddr.IPv4[] {
  const b = v6.toByteArray();
  const out: ipaddr.IPv4[] = [];
  if (b[0] === 0x20 && b[1] === 0x02) out.push(new (ip().IPv4)(b.slice(2, 6)));
  if (b[0] === 0x20 && b[1] === 0x01 && b[2] === 0 && b[3] === 0) {
    out.push(new (ip().IPv4)(b.slice(4, 8)));
    out.push(new (ip().IPv4)(b.slice(12, 16).map((x) => x ^ 0xff)));
  }
  if (((b[8] as number) & 0xfc) === 0 && b[9] === 0 && b[10] === 0x5e && b[11] === 0xfe) {
    out.push(new (ip().IPv4)(b.slice(12, 16)));
  }
  return out;
}

/** An `allow` entry: a host (or `.suffix`), and the port it is limited to. */
interface AllowEntry {
  host: string;
  port: number | undefined;
}

function parseAllowEntry(entry: unknown): AllowEntry & { wildcard: boolean } {
  if (typeof entry !== 'string' || entry.length === 0) {
    throw new FetchOptionError('allow', `${JSON.stringify(entry)} is not a host name`);
  }
  const wildcard = entry.startsWith('*.');
  let host = wildcard ? entry.slice(2) : entry;
  let port: string | undefined;
  if (host.startsWith('[')) {
    const end = host.indexOf(']');
    const after = end === -1 ? '' : host.slice(end + 1);
    if (end === -1 || (after !== '' && !/^:\d+$/.test(after))) {
      throw new FetchOptionError('allow', `${JSON.stringify(entry)} is not [ipv6] or [ipv6]:port`);
    }
    if (after !== '') port = after.slice(1);
    host = host.slice(1, end);
  } else if (host.split(':').length === 2) {
    [host, port] = host.split(':') as [string, string];
  }
  let portNumber: number | undefined;
  if (port !== undefined) {
    portNumber = /^\d{1,5}$/.test(port) ? Number(port) : Number.NaN;
    if (!(portNumber >= 1 && portNumber <= 65_535)) {
      throw new FetchOptionError('allow', `${JSON.stringify(entry)} has a port that is not 1–65535`);
    }
  }
  const normalized = normalizeHost(host);
  return {
    host: wildcard ? `.${normalized}` : (canonicalAddress(normalized) ?? normalized),
    port: portNumber,
    wildcard,
  };
}

/**
 * Builds the host and address checks of the restricted fetch.
 *
 * @example
 * ```ts
 * const policy = createHostPolicy({ allow: ['*.example.com', 'api.example.net:8443'], allowPrivate: ['10.1.0.0/16'] });
 * policy.checkUrl(new URL('https://api.example.com/x')); // 'api.example.com'
 * policy.checkAddress('api.example.com', '169.254.169.254'); // throws FETCH_BLOCKED_ADDRESS
 * ```
 */
export function createHostPolicy(options: HostPolicyOptions = {}): HostPolicy {
  const exact = new Map<string, Set<number | undefined>>();
  const suffixes: AllowEntry[] = [];
  for (const entry of options.allow ?? []) {
    const parsed = parseAllowEntry(entry);
    if (parsed.wildcard) suffixes.push(parsed);
    else {
      const ports = exact.get(parsed.host) ?? new Set();
      ports.add(parsed.port);
      exact.set(parsed.host, ports);
    }
  }
  const privateHosts = new Set<string>();
  const privateRanges: [ipaddr.IPv4 | ipaddr.IPv6, number][] = [];
  for (const entry of options.allowPrivate ?? []) {
    if (typeof entry === 'string' && entry.includes('/')) {
      try {
        const [range, bits] = ip().parseCIDR(entry);
        privateRanges.push([
          toIPv4IfMapped(range),
          range.kind() === 'ipv6' && isMapped(range) ? bits - 96 : bits,
        ]);
      } catch {
        throw new FetchOptionError('allowPrivate', `${JSON.stringify(entry)} is not a CIDR range`);
      }
    } else if (typeof entry === 'string' && entry.length > 0) {
      privateHosts.add(canonicalAddress(normalizeHost(entry)) ?? normalizeHost(entry));
    } else {
      throw new FetchOptionError('allowPrivate', `${JSON.stringify(entry)} is not a host, address or range`);
    }
  }
  const allowAll = options.allow === undefined;
  // URL hostname and port → the normalized host it was allowed as. The host checks depend on nothing but
  // these and this (immutable) policy, so a host allowed once is allowed again; refusals are not kept.
  const allowedHosts = new Map<string, string>();

  function isAllowed(host: string, port: number): boolean {
    if (allowAll) return true;
    const ports = exact.get(host);
    if (ports && (ports.has(undefined) || ports.has(port))) return true;
    return suffixes.some((s) => host.endsWith(s.host) && (s.port === undefined || s.port === port));
  }

  function mayReachPrivate(
    host: string,
    canonical: string,
    whole: ipaddr.IPv4 | ipaddr.IPv6,
    inner: ipaddr.IPv4 | ipaddr.IPv6,
  ): boolean {
    if (privateHosts.has(host) || privateHosts.has(canonical) || privateHosts.has(inner.toString()))
      return true;
    return [whole, inner].some((a) =>
      privateRanges.some(([range, bits]) => a.kind() === range.kind() && a.match(range, bits)),
    );
  }

  function checkAddress(host: string, address: string): void {
    const canonical = canonicalAddress(address);
    if (canonical === undefined) throw new FetchBlockedAddressError(host, address, 'not an IP address');
    const whole = toIPv4IfMapped(ip().parse(canonical));
    for (const { range, address: inner } of judge(whole)) {
      if (!mayReachPrivate(host, canonical, whole, inner))
        throw new FetchBlockedAddressError(host, canonical, range);
    }
  }

  /** A localhost name passes when one of its loopback addresses may be reached. */
  function checkLocalhost(host: string): void {
    let refusal: unknown;
    for (const { address } of LOCALHOST_ADDRESSES) {
      try {
        checkAddress(host, address);
        return;
      } catch (error) {
        refusal ??= error;
      }
    }
    throw refusal;
  }

  return {
    checkUrl(url) {
      if (url.protocol !== 'http:' && url.protocol !== 'https:') {
        throw new FetchUrlNotAllowedError(
          url.href,
          `the scheme ${url.protocol} is refused; only http and https`,
        );
      }
      if (url.username !== '' || url.password !== '') {
        throw new FetchUrlNotAllowedError(url.href, 'URLs with user info (user:password@) are refused');
      }
      const port = url.port === '' ? (url.protocol === 'https:' ? 443 : 80) : Number(url.port);
      const key = `${url.hostname} ${port}`;
      const known = allowedHosts.get(key);
      if (known !== undefined) return known;
      // A URL's hostname is already lower-cased, IDNA-mapped and IPv4-normalized by the URL parser.
      const host = bareHost(url.hostname);
      const literal = canonicalAddress(host);
      if (literal !== undefined) checkAddress(literal, literal);
      else if (isLocalhostName(host)) checkLocalhost(host);
      if (!isAllowed(literal ?? host, port))
        throw new FetchHostNotAllowedError(port === 80 || port === 443 ? host : `${host}:${port}`);
      if (allowedHosts.size >= ALLOWED_HOSTS_KEPT) allowedHosts.clear();
      allowedHosts.set(key, literal ?? host);
      return literal ?? host;
    },
    checkAddress: (host, address) => checkAddress(normalizeHost(host), address),
  };
}

/** How many allowed hostnames a policy remembers before it starts over (a bound, not a tuning knob). */
const ALLOWED_HOSTS_KEPT = 1_000;

/** A URL hostname without IPv6 brackets and without a trailing dot. */
function bareHost(hostname: string): string {
  if (hostname.startsWith('[')) return hostname.slice(1, -1);
  return hostname.endsWith('.') ? hostname.slice(0, -1) : hostname;
}

/** The canonical text of an IP address (IPv4-mapped IPv6 as IPv4), or `undefined` for a name. */
function canonicalAddress(host: string): string | undefined {
  if (isIP(host) === 0) return undefined;
  return toIPv4IfMapped(ip().parse(host)).toString();
}

function isMapped(address: ipaddr.IPv4 | ipaddr.IPv6): address is ipaddr.IPv6 {
  return address.kind() === 'ipv6' && (address as ipaddr.IPv6).isIPv4MappedAddress();
}

function toIPv4IfMapped(address: ipaddr.IPv4 | ipaddr.IPv6): ipaddr.IPv4 | ipaddr.IPv6 {
  return isMapped(address) ? address.toIPv4Address() : address;
}
