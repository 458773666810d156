/**
 * A private certificate authority for the worker endpoint's mutual TLS: one CA, the endpoint's server
 * certificate and client certificates for workers. Keys are made by Node's crypto (RSA 2048, the key type
 * node-forge signs with); node-forge (loaded on the first call, not by the import) writes the X.509
 * certificates, which Node's crypto cannot.
 */
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { isIP } from 'node:net';
import { type Clock, lazyModule, systemClock } from '@ordo/contracts';
import type Forge from 'node-forge';
import { RemoteOptionsError } from './remoteErrors.js';

const forge = lazyModule<typeof Forge>(import.meta.url, 'node-forge');

/** A certificate and its private key, as PEM text. */
export interface PemCredential {
  /** The certificate (PEM). */
  cert: string;
  /** Its private key (PKCS #8 PEM). Keep it private: `0600`, a Docker secret, a Kubernetes Secret. */
  key: string;
}

/** Options of {@link createWorkerCertificates}. */
export interface WorkerCertificatesOptions {
  /**
   * The host names and IP addresses workers reach the endpoint by: the endpoint's certificate is valid
   * for each (subject alternative names). At least one.
   */
  hosts: readonly string[];
  /** How long every certificate is valid, in days (from one hour before now, for clock skew). @default 30 */
  days?: number | undefined;
  /** The name in the CA's subject. @default 'ordo worker CA' */
  name?: string | undefined;
  /** @default systemClock */
  clock?: Clock | undefined;
}

/** A CA whose private key never leaves this object, with the endpoint's certificate it signed. */
export interface WorkerCertificates {
  /** The CA's certificate: the endpoint's `tls.ca` and each worker's `--tls-ca`. */
  readonly ca: string;
  /** The endpoint's server certificate and key: `tls.cert` and `tls.key`. */
  readonly endpoint: PemCredential;
  /** Until when the certificates are valid. */
  readonly notAfter: Date;
  /**
   * Issues a client certificate for a worker (`--tls-cert`, `--tls-key`), with `name` as its common name.
   * @throws RemoteOptionsError (`REMOTE_INVALID_OPTIONS`) for an empty name or one over 64 characters.
   */
  issueWorker(name: string): PemCredential;
}

const MAX_DAYS = 825; // the longest validity TLS clients accept for a server certificate
const SKEW_MS = 60 * 60 * 1000;

/**
 * Makes a new CA and the endpoint's certificate for `hosts`. Pass the result to the endpoint as
 * `tls: { key: endpoint.key, cert: endpoint.cert, ca }` and give each worker `ca` and an
 * `issueWorker(name)` credential; `createRemoteLauncher({ tls: 'auto' })` does all of that itself.
 *
 * @throws RemoteOptionsError (`REMOTE_INVALID_OPTIONS`) for no hosts, an empty or malformed host, or
 *   `days` that is not an integer from 1 to 825.
 *
 * @example
 * ```ts
 * import { createWorkerCertificates } from '@ordo/launcher';
 * const pki = createWorkerCertificates({ hosts: ['build-host.internal', '10.0.0.5'] });
 * const worker = pki.issueWorker('worker-1'); // write ca, worker.cert, worker.key for the worker
 * ```
 */
export function createWorkerCertificates(options: WorkerCertificatesOptions): WorkerCertificates {
  const hosts = checkHosts(options.hosts);
  const days = options.days ?? 30;
  if (!Number.isInteger(days) || days < 1 || days > MAX_DAYS) {
    throw new RemoteOptionsError(`days must be an integer from 1 to ${MAX_DAYS}, got ${String(days)}.`);
  }
  const name = checkName(options.name ?? 'ordo worker CA', 'name');
  const now = (options.clock ?? systemClock).now();
  const notBefore = new Date(now - SKEW_MS);
  const notAfter = new Date(now + days * 86_400_000);
  const pki = forge().pki;

  const caKeys = newKeyPair();
  const caCert = pki.createCertificate();
  fill(caCert, caKeys.publicKey, { notBefore, notAfter });
  caCert.setSubject([{ name: 'commonName', value: name }]);
  caCert.setIssuer(caCert.subject.attributes);
  caCert.setExtensions([
    { name: 'basicConstraints', cA: true, pathLenConstraint: 0, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
    { name: 'subjectKeyIdentifier' },
  ]);
  caCert.sign(caKeys.privateKey, forge().md.sha256.create());

  const issue = (commonName: string, extensions: object[]): PemCredential => {
    const keys = newKeyPair();
    const cert = pki.createCertificate();
    fill(cert, keys.publicKey, { notBefore, notAfter });
    cert.setSubject([{ name: 'commonName', value: commonName }]);
    cert.setIssuer(caCert.subject.attributes);
    cert.setExtensions([
      { name: 'basicConstraints', cA: false, critical: true },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
      { name: 'authorityKeyIdentifier', keyIdentifier: caCert.generateSubjectKeyIdentifier().getBytes() },
      ...extensions,
    ]);
    cert.sign(caKeys.privateKey, forge().md.sha256.create());
    return { cert: pki.certificateToPem(cert), key: keys.pem };
  };

  const endpoint = issue(hosts[0] as string, [
    { name: 'extKeyUsage', serverAuth: true },
    {
      name: 'subjectAltName',
      altNames: hosts.map((host) => (isIP(host) ? { type: 7, ip: host } : { type: 2, value: host })),
    },
  ]);
  return {
    ca: pki.certificateToPem(caCert),
    endpoint,
    notAfter,
    issueWorker: (workerName) =>
      issue(checkName(workerName, 'worker name'), [{ name: 'extKeyUsage', clientAuth: true }]),
  };
}

/** Serial, validity and public key of a new certificate. */
function fill(
  cert: Forge.pki.Certificate,
  publicKey: Forge.pki.PublicKey,
  validity: { notBefore: Date; notAfter: Date },
): void {
  cert.publicKey = publicKey;
  // A positive 128-bit serial (the top bit cleared: DER integers are signed).
  const serial = randomBytes(16);
  serial[0] = (serial[0] as number) & 0x7f;
  cert.serialNumber = serial.toString('hex');
  cert.validity.notBefore = validity.notBefore;
  cert.validity.notAfter = validity.notAfter;
}

/**
 * An RSA key pair made by Node's crypto (forge signs with RSA only; its own key generation is slow pure
 * JavaScript): the forge keys to sign with, and the private key as PKCS #8 PEM.
 */
function newKeyPair(): {
  publicKey: Forge.pki.PublicKey;
  privateKey: Forge.pki.rsa.PrivateKey;
  pem: string;
} {
  const { publicKey, privateKey } = generateKeyPairSync('rsa', {
    modulusLength: 2048,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
  const pki = forge().pki;
  return {
    publicKey: pki.publicKeyFromPem(publicKey),
    privateKey: pki.privateKeyFromPem(privateKey) as Forge.pki.rsa.PrivateKey,
    pem: privateKey,
  };
}

/** Host names (RFC 1123 labels, `*.` not allowed) and IP literals, at least one, without duplicates. */
function checkHosts(hosts: readonly string[] | undefined): string[] {
  if (!Array.isArray(hosts) || hosts.length === 0) {
    throw new RemoteOptionsError('hosts needs at least one host name or IP address workers connect to.');
  }
  const seen = new Set<string>();
  for (const host of hosts) {
    const name = typeof host === 'string' ? host.replace(/^\[(.*)\]$/, '$1').toLowerCase() : '';
    const valid =
      isIP(name) !== 0 ||
      (name.length <= 253 &&
        name.split('.').every((label) => /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/.test(label)));
    if (!valid) {
      throw new RemoteOptionsError(
        `hosts has ${JSON.stringify(host)}, which is neither a host name nor an IP address.`,
      );
    }
    seen.add(name);
  }
  return [...seen];
}

/** A common name: 1 to 64 printable characters (X.509's upper bound for it). */
function checkName(name: unknown, what: string): string {
  if (typeof name !== 'string' || !/^[\x20-\x7e]{1,64}$/.test(name)) {
    throw new RemoteOptionsError(
      `${what} must be 1 to 64 printable ASCII characters, got ${JSON.stringify(name)}.`,
    );
  }
  return name;
}
