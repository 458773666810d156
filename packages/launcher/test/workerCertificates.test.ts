import { X509Certificate } from 'node:crypto';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { type ConnectionOptions, connect, createServer, type TLSSocket } from 'node:tls';
import { describe, expect, it } from 'vitest';
import { createWorkerCertificates } from '../src/index.js';

/** A real TLS server with `pki`'s endpoint credential, asking for client certificates signed by `ca`. */
async function mutualTlsServer(pki: ReturnType<typeof createWorkerCertificates>) {
  const server = createServer(
    {
      key: pki.endpoint.key,
      cert: pki.endpoint.cert,
      ca: pki.ca,
      requestCert: true,
      rejectUnauthorized: true,
    },
    (socket) => socket.end(`hello ${(socket as TLSSocket).getPeerCertificate().subject.CN}`),
  );
  server.on('tlsClientError', () => {});
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as AddressInfo).port,
    async [Symbol.asyncDispose]() {
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/** Connects with `options` and resolves with what the server said, or rejects with the TLS error. */
function talk(port: number, options: ConnectionOptions): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, ...options });
    let text = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk) => {
      text += chunk;
    });
    socket.on('end', () => resolve(text));
    socket.on('error', reject);
  });
}

describe('createWorkerCertificates: a private CA for mutual TLS', () => {
  it('makes a CA, an endpoint certificate valid for each host, and worker client certificates', () => {
    const pki = createWorkerCertificates({ hosts: ['build-host.internal', '127.0.0.1', '::1'], days: 7 });
    const ca = new X509Certificate(pki.ca);
    const endpoint = new X509Certificate(pki.endpoint.cert);
    expect(ca.ca).toBe(true);
    expect(ca.subject).toContain('CN=ordo worker CA');
    expect(endpoint.ca).toBe(false);
    expect(endpoint.checkIssued(ca)).toBe(true);
    expect(endpoint.verify(ca.publicKey)).toBe(true);
    expect(endpoint.checkHost('build-host.internal')).toBe('build-host.internal');
    expect(endpoint.checkIP('127.0.0.1')).toBe('127.0.0.1');
    expect(endpoint.checkIP('::1')).toBe('::1');
    expect(endpoint.checkHost('other.internal')).toBeUndefined();
    expect(endpoint.keyUsage).toEqual(['1.3.6.1.5.5.7.3.1']); // serverAuth only
    const worker = new X509Certificate(pki.issueWorker('worker-1').cert);
    expect(worker.subject).toContain('CN=worker-1');
    expect(worker.verify(ca.publicKey)).toBe(true);
    expect(worker.keyUsage).toEqual(['1.3.6.1.5.5.7.3.2']); // clientAuth only
    const days = (Date.parse(worker.validTo) - Date.now()) / 86_400_000;
    expect(days).toBeGreaterThan(6.9);
    expect(days).toBeLessThan(7.1);
    expect(worker.serialNumber).not.toBe(endpoint.serialNumber);
  });

  it('works in a real TLS handshake: a worker with an issued certificate gets in, one without or from another CA does not', async () => {
    const pki = createWorkerCertificates({ hosts: ['127.0.0.1'] });
    await using server = await mutualTlsServer(pki);
    const worker = pki.issueWorker('worker-7');
    expect(await talk(server.port, { ca: pki.ca, ...worker })).toBe('hello worker-7');

    // No client certificate, one from another CA, and the endpoint's own (server-only) certificate.
    const stranger = createWorkerCertificates({ hosts: ['127.0.0.1'] }).issueWorker('worker-7');
    // (Under TLS 1.3 the server refuses after the client's side of the handshake: the client sees an
    // alert or an empty end, never the greeting.)
    for (const attempt of [{}, stranger, pki.endpoint]) {
      const said = await talk(server.port, { ca: pki.ca, ...attempt }).catch((error: Error) => error.message);
      expect(said).not.toContain('hello');
    }
    // A worker that does not trust the CA refuses the endpoint.
    await expect(talk(server.port, { ...worker })).rejects.toThrow(
      /self[- ]signed|unable to verify|certificate/i,
    );
  });

  it('refuses bad hosts, names and validity with REMOTE_INVALID_OPTIONS', () => {
    const bad: Array<() => unknown> = [
      () => createWorkerCertificates({ hosts: [] }),
      () => createWorkerCertificates({ hosts: [''] }),
      () => createWorkerCertificates({ hosts: ['*.example.com'] }),
      () => createWorkerCertificates({ hosts: ['a b'] }),
      () => createWorkerCertificates({ hosts: ['host\u0000.evil'] }),
      () => createWorkerCertificates({ hosts: [`${'a'.repeat(64)}.example`] }),
      () => createWorkerCertificates({ hosts: [42 as unknown as string] }),
      () => createWorkerCertificates({ hosts: ['ok'], days: 0 }),
      () => createWorkerCertificates({ hosts: ['ok'], days: 2 ** 31 }),
      () => createWorkerCertificates({ hosts: ['ok'], days: 1.5 }),
      () => createWorkerCertificates({ hosts: ['ok'], name: '' }),
      () => createWorkerCertificates({ hosts: ['ok'] }).issueWorker('x'.repeat(65)),
      () => createWorkerCertificates({ hosts: ['ok'] }).issueWorker('line\nbreak'),
    ];
    for (const call of bad)
      expect(call).toThrowError(expect.objectContaining({ code: 'REMOTE_INVALID_OPTIONS' }));
  });
});
