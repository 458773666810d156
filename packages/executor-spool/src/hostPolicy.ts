import { isIP } from 'node:net';
import ipaddr from 'ipaddr.js';
import {
  FetchBlockedAddressError,
  FetchHostNotAllowedError,
  FetchOptionError,
  FetchUrlNotAllowedError,
} from './errors.js';

/** What {@link createHostPolicy} enforces. */
export interface HostPolicyOptions {
  /**
   * The hosts that may be fetched: exact names (`api.example.com`), `*.suffix` wildcards (`*.example.com`
   * matches `a.example.com` and `a.b.example.com`, not `example.com` itself), or IP literals. Compared after
   * lower-casing, IDNA (punycode) normalization and trailing-dot removal. Leave it out to allow every host
   * that resolves to a public address.
   * @default undefined (every public host)
   */
  allow?: readonly string[] | undefined;
  /**
   * Hosts, IP addresses or CIDR ranges (`10.0.0.0/8`, `fd00::/8`) that may be reached even though they are
   * private, loopback, link-local, unique-local or otherwise not public unicast.
   * @default []
   */
  allowPrivate?: readonly string[] | undefined;
}

/** The checks the restricted fetch runs on every URL and every connection. */
export interface HostPolicy {
  /**
   * Checks a URL before any connection: http(s) only, no userinfo, the host on the allowlist, and an IP
   * literal host (in any encoding) not blocked. Returns the normalized host.
   */
  checkUrl(url: URL): string;
  /** Checks the address a host resolved to (or an IP literal) at connect time. Throws when it is blocked. */
  checkAddress(host: string, address: string): void;
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
 * `'unspecified'`, …, ipaddr.js's range names), or `undefined` for a public unicast address. IPv4-mapped
 * IPv6 addresses are judged as the IPv4 address they carry.
 */
export function blockedRange(address: string): string | undefined {
  const parsed = toIPv4IfMapped(ipaddr.parse(address));
  const range = parsed.range();
  return range === 'unicast' ? undefined : range;
}

/**
 * Builds the host and address checks of the restricted fetch.
 *
 * @example
 * ```ts
 * const policy = createHostPolicy({ allow: ['*.example.com'], allowPrivate: ['10.1.0.0/16'] });
 * policy.checkUrl(new URL('https://api.example.com/x')); // 'api.example.com'
 * policy.checkAddress('api.example.com', '169.254.169.254'); // throws FETCH_BLOCKED_ADDRESS
 * ```
 */
export function createHostPolicy(options: HostPolicyOptions = {}): HostPolicy {
  const exact = new Set<string>();
  const suffixes: string[] = [];
  for (const entry of options.allow ?? []) {
    if (typeof entry !== 'string' || entry.length === 0) {
      throw new FetchOptionError('allow', `${JSON.stringify(entry)} is not a host name`);
    }
    if (entry.startsWith('*.')) suffixes.push(`.${normalizeHost(entry.slice(2))}`);
    else exact.add(normalizeHost(entry));
  }
  const privateHosts = new Set<string>();
  const privateRanges: [ipaddr.IPv4 | ipaddr.IPv6, number][] = [];
  for (const entry of options.allowPrivate ?? []) {
    if (typeof entry === 'string' && entry.includes('/')) {
      try {
        const [range, bits] = ipaddr.parseCIDR(entry);
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
  // URL hostname → the normalized host it was allowed as. The host checks depend on nothing but the
  // hostname and this (immutable) policy, so a host allowed once is allowed again; refusals are not kept.
  const allowedHosts = new Map<string, string>();

  function isAllowed(host: string): boolean {
    return allowAll || exact.has(host) || suffixes.some((suffix) => host.endsWith(suffix));
  }

  function mayReachPrivate(host: string, address: string): boolean {
    if (privateHosts.has(host) || privateHosts.has(address)) return true;
    const parsed = toIPv4IfMapped(ipaddr.parse(address));
    return privateRanges.some(([range, bits]) => parsed.kind() === range.kind() && parsed.match(range, bits));
  }

  function checkAddress(host: string, address: string): void {
    const canonical = canonicalAddress(address);
    if (canonical === undefined) throw new FetchBlockedAddressError(host, address, 'not an IP address');
    const range = blockedRange(canonical);
    if (range !== undefined && !mayReachPrivate(host, canonical)) {
      throw new FetchBlockedAddressError(host, canonical, range);
    }
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
      const known = allowedHosts.get(url.hostname);
      if (known !== undefined) return known;
      // A URL's hostname is already lower-cased, IDNA-mapped and IPv4-normalized by the URL parser.
      const host = bareHost(url.hostname);
      const literal = canonicalAddress(host);
      if (literal !== undefined) checkAddress(literal, literal);
      if (!isAllowed(literal ?? host)) throw new FetchHostNotAllowedError(host);
      if (allowedHosts.size >= ALLOWED_HOSTS_KEPT) allowedHosts.clear();
      allowedHosts.set(url.hostname, literal ?? host);
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
  return toIPv4IfMapped(ipaddr.parse(host)).toString();
}

function isMapped(address: ipaddr.IPv4 | ipaddr.IPv6): address is ipaddr.IPv6 {
  return address.kind() === 'ipv6' && (address as ipaddr.IPv6).isIPv4MappedAddress();
}

function toIPv4IfMapped(address: ipaddr.IPv4 | ipaddr.IPv6): ipaddr.IPv4 | ipaddr.IPv6 {
  return isMapped(address) ? address.toIPv4Address() : address;
}
