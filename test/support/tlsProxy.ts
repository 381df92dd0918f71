import { execFile } from 'node:child_process';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { connect, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer as createTlsServer } from 'node:tls';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface Pki {
  dir: string;
  /** PEM texts. */
  ca: string;
  otherCa: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
  /** Files holding the same PEMs, for settings that name a path. */
  files: { ca: string; clientCert: string; clientKey: string };
}

/** A CA, a server certificate for `serverName` only, a client certificate, and an unrelated CA — made with openssl. */
export async function makePki(serverName: string): Promise<Pki> {
  const dir = await mkdtemp(join(tmpdir(), 'slipway-pki-'));
  const ssl = (...args: string[]) => run('openssl', args, { cwd: dir });
  const ca = async (name: string) => {
    await ssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', `/CN=${name}`, '-keyout', `${name}.key`, '-out', `${name}.pem`);
  };
  const leaf = async (name: string, issuer: string, ext: string) => {
    await ssl('req', '-newkey', 'rsa:2048', '-nodes', '-subj', `/CN=${name}`, '-keyout', `${name}.key`, '-out', `${name}.csr`);
    await writeFile(join(dir, `${name}.ext`), ext);
    await ssl('x509', '-req', '-in', `${name}.csr`, '-CA', `${issuer}.pem`, '-CAkey', `${issuer}.key`, '-CAcreateserial', '-days', '2', '-out', `${name}.pem`, '-extfile', `${name}.ext`);
  };
  await ca('slipway-test-ca');
  await ca('other-ca');
  await leaf('server', 'slipway-test-ca', `subjectAltName=DNS:${serverName}\nextendedKeyUsage=serverAuth\n`);
  await leaf('client', 'slipway-test-ca', 'extendedKeyUsage=clientAuth\n');
  const text = (file: string) => readFile(join(dir, file), 'utf8');
  return {
    dir,
    ca: await text('slipway-test-ca.pem'),
    otherCa: await text('other-ca.pem'),
    serverCert: await text('server.pem'),
    serverKey: await text('server.key'),
    clientCert: await text('client.pem'),
    clientKey: await text('client.key'),
    files: { ca: join(dir, 'slipway-test-ca.pem'), clientCert: join(dir, 'client.pem'), clientKey: join(dir, 'client.key') },
  };
}

export interface TlsProxy {
  address: string;
  /** Connections whose TLS handshake failed, with the reason (e.g. no client certificate). */
  refused: string[];
  close(): Promise<void>;
}

/**
 * Terminates TLS (HTTP/2 by ALPN, as gRPC needs) in front of a plain-text Temporal frontend and
 * pipes the bytes through. With `requireClientCert`, a client without a certificate signed by the
 * CA is refused in the handshake — what a Temporal server with mTLS does.
 */
export async function startTlsProxy(pki: Pki, upstream: string, options: { requireClientCert: boolean }): Promise<TlsProxy> {
  const [host, port] = [upstream.slice(0, upstream.lastIndexOf(':')), Number(upstream.slice(upstream.lastIndexOf(':') + 1))];
  const sockets = new Set<Socket>();
  const refused: string[] = [];
  const server: Server = createTlsServer(
    {
      key: pki.serverKey,
      cert: pki.serverCert,
      ca: pki.ca,
      requestCert: options.requireClientCert,
      rejectUnauthorized: options.requireClientCert,
      ALPNProtocols: ['h2'],
    },
    (client) => {
      const backend = connect(port, host);
      sockets.add(client);
      sockets.add(backend);
      client.pipe(backend).pipe(client);
      const end = () => {
        client.destroy();
        backend.destroy();
        sockets.delete(client);
        sockets.delete(backend);
      };
      client.on('error', end).on('close', end);
      backend.on('error', end).on('close', end);
    },
  );
  server.on('tlsClientError', (err) => refused.push(err.message));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('the TLS proxy has no port');
  return {
    address: `127.0.0.1:${address.port}`,
    refused,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
