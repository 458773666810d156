import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { InvalidOptionsError } from './errors.js';

/** TLS material for a remote engine (`DOCKER_HOST=tcp://…` with `DOCKER_TLS_VERIFY`). PEM strings or buffers. */
export interface DockerTls {
  /** The CA that signed the engine's certificate (`ca.pem`). */
  ca?: string | Buffer | undefined;
  /** The client certificate (`cert.pem`). */
  cert?: string | Buffer | undefined;
  /** The client key (`key.pem`). */
  key?: string | Buffer | undefined;
  /** Whether to check the engine's certificate. @default true */
  rejectUnauthorized?: boolean | undefined;
  /** The name to check the engine's certificate against. @default the URL's host */
  servername?: string | undefined;
}

/**
 * Where the Docker engine listens: a unix socket, or an HTTP(S) URL (`tcp://` is accepted and means
 * `https://` when `tls` is given, else `http://`).
 *
 * @example
 * ```ts
 * const local: DockerConnection = { socketPath: '/var/run/docker.sock' };
 * const remote: DockerConnection = {
 *   url: 'tcp://build-host:2376',
 *   tls: { ca: readFileSync('ca.pem'), cert: readFileSync('cert.pem'), key: readFileSync('key.pem') },
 * };
 * ```
 */
export type DockerConnection = { socketPath: string } | { url: string; tls?: DockerTls | undefined };

/** The engine socket when `DOCKER_HOST` is not set. */
export const DEFAULT_DOCKER_SOCKET = '/var/run/docker.sock';

/**
 * Reads the engine's address the way the docker CLI does: `DOCKER_HOST` (`unix://…` or `tcp://…`); for
 * TCP, TLS when `DOCKER_TLS_VERIFY` (checking the engine's certificate) or `DOCKER_TLS` (not checking it) is
 * set, with `ca.pem`, `cert.pem` and `key.pem` from `DOCKER_CERT_PATH` (default `~/.docker`). Without
 * `DOCKER_HOST`, the local socket `/var/run/docker.sock`.
 *
 * @example
 * ```ts
 * // DOCKER_HOST=tcp://build-host:2376 DOCKER_TLS_VERIFY=1 DOCKER_CERT_PATH=~/.docker/build-host
 * const launcher = createContainerLauncher({ docker: dockerFromEnv(), image: 'my-worker:1' });
 * ```
 */
export function dockerFromEnv(
  env: Readonly<Record<string, string | undefined>> = process.env,
): DockerConnection {
  const host = env.DOCKER_HOST?.trim();
  if (!host) return { socketPath: DEFAULT_DOCKER_SOCKET };
  if (host.startsWith('unix://')) return { socketPath: host.slice('unix://'.length) };
  if (!/^(tcp|https?):\/\//.test(host)) {
    throw new InvalidOptionsError(
      `DOCKER_HOST=${host} is not supported: use unix:///path/to/docker.sock or tcp://host:port.`,
      { details: { DOCKER_HOST: host } },
    );
  }
  const on = (value: string | undefined) =>
    value !== undefined && value !== '' && value !== '0' && value !== 'false';
  const verify = on(env.DOCKER_TLS_VERIFY);
  if (!verify && !on(env.DOCKER_TLS)) return { url: host };
  const dir = env.DOCKER_CERT_PATH ?? join(env.HOME ?? '', '.docker');
  const read = (name: string) => {
    try {
      return readFileSync(join(dir, name));
    } catch (cause) {
      throw new InvalidOptionsError(
        `Cannot read ${name} in DOCKER_CERT_PATH=${dir}: put the engine's ca.pem, cert.pem and key.pem there, or unset DOCKER_TLS_VERIFY.`,
        { cause, details: { dir, file: name } },
      );
    }
  };
  return {
    url: host,
    tls: { ca: read('ca.pem'), cert: read('cert.pem'), key: read('key.pem'), rejectUnauthorized: verify },
  };
}
