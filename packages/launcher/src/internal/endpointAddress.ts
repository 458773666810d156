import { isIP } from 'node:net';
import path from 'node:path';
import { RemoteOptionsError } from '../remoteErrors.js';

/** Where a worker endpoint listens, or where a worker connects. */
export type EndpointAddress =
  | { kind: 'unix'; path: string }
  | { kind: 'tcp'; host: string; port: number; tls: boolean };

/**
 * Parses `unix:///abs/path.sock`, `unix:/abs/path.sock`, an absolute path, `tcp://host:port`,
 * `tls://host:port` or `host:port` (`[::1]:port` for IPv6). `tls` is true only for `tls://`.
 * @throws RemoteOptionsError for anything else.
 */
export function parseEndpointAddress(text: string, what: string): EndpointAddress {
  if (typeof text !== 'string' || text === '') {
    throw new RemoteOptionsError(`${what} must be a unix socket path or host:port, got ${String(text)}.`);
  }
  const unix = /^unix:(?:\/\/)?(\/.*)$/.exec(text)?.[1] ?? (text.startsWith('/') ? text : undefined);
  if (unix !== undefined) {
    if (unix.includes('\0') || path.normalize(unix) !== unix || unix.endsWith('/')) {
      throw new RemoteOptionsError(
        `${what}: ${JSON.stringify(text)} is not a normalized absolute socket path.`,
      );
    }
    return { kind: 'unix', path: unix };
  }
  const match = /^(?:(tcp|tls):\/\/)?(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(text);
  if (!match) {
    throw new RemoteOptionsError(
      `${what}: ${JSON.stringify(text)} is not an address. Use unix:///path/to.sock, 127.0.0.1:7070, tcp://host:port or tls://host:port.`,
    );
  }
  const host = (match[2] as string).replace(/^\[(.*)\]$/, '$1');
  const port = Number(match[3]);
  if (port > 65_535) throw new RemoteOptionsError(`${what}: port ${port} is out of range (0-65535).`);
  if (match[2]?.startsWith('[') && isIP(host) !== 6) {
    throw new RemoteOptionsError(`${what}: ${host} is not an IPv6 address.`);
  }
  return { kind: 'tcp', host, port, tls: match[1] === 'tls' };
}

/** The URL a worker connects to for `address` (`tls://` when the endpoint speaks TLS). */
export function endpointUrl(address: EndpointAddress, tls: boolean): string {
  if (address.kind === 'unix') return `unix://${address.path}`;
  const host = address.host.includes(':') ? `[${address.host}]` : address.host;
  return `${tls ? 'tls' : 'tcp'}://${host}:${address.port}`;
}

/** Whether `host` is a loopback name or address (127.0.0.0/8, ::1, localhost). */
export function isLoopbackHost(host: string): boolean {
  if (host === 'localhost' || host === '::1' || host === '0:0:0:0:0:0:0:1') return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(host)?.[1];
  return mapped?.startsWith('127.') === true;
}
