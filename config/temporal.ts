/**
 * How Slipway reaches Temporal: a local dev server, a self-hosted cluster behind TLS or mTLS,
 * or Temporal Cloud with an API key. The config holds only NAMES of environment variables;
 * `connectionOptions` reads them once at start-up and fails with the field to fix.
 */
import { readFileSync } from 'node:fs';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { connect as tlsConnect } from 'node:tls';
import { ConfigError } from './load';
import type { SlipwayConfig } from './schema';

export type TemporalSettings = SlipwayConfig['temporal'];

/** What both `Connection.connect` (client) and `NativeConnection.connect` (worker) accept. */
export interface TemporalConnectionOptions {
  address: string;
  tls?: {
    serverNameOverride?: string;
    serverRootCACertificate?: Buffer;
    clientCertPair?: { crt: Buffer; key: Buffer };
  };
  apiKey?: string;
}

/** A Temporal connection setting that cannot be used; the message names the field and the variable. */
export class TemporalSettingsError extends ConfigError {
  constructor(message: string) {
    super(message);
    this.name = 'TemporalSettingsError';
  }
}

/** The variable's value as PEM: either the PEM text itself or the path of a file holding it. */
function pemFrom(field: string, name: string, env: NodeJS.ProcessEnv, kind: 'certificate' | 'key'): Buffer {
  const value = env[name];
  if (value === undefined || value.trim() === '') throw new TemporalSettingsError(`${field}: environment variable ${name} is not set`);
  let pem = value;
  if (!value.trimStart().startsWith('-----BEGIN')) {
    try {
      pem = readFileSync(value.trim(), 'utf8');
    } catch (err) {
      throw new TemporalSettingsError(`${field}: ${name} holds neither PEM text nor a readable file path (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
    }
  }
  // Parse it now, so a wrong file fails at start-up rather than as a TLS error on the first call.
  try {
    if (kind === 'certificate') new X509Certificate(pem);
    else createPrivateKey(pem);
  } catch {
    throw new TemporalSettingsError(`${field}: ${name} does not hold a PEM ${kind === 'certificate' ? 'certificate' : 'private key'}`);
  }
  return Buffer.from(pem);
}

/** Reads the secrets the settings name from `env` and returns the options to connect with. */
export function connectionOptions(settings: TemporalSettings, env: NodeJS.ProcessEnv = process.env): TemporalConnectionOptions {
  const options: TemporalConnectionOptions = { address: settings.address };
  const tls = settings.tls;
  if (tls !== undefined || settings.apiKeyEnv !== undefined) {
    options.tls = {};
    if (tls?.serverName !== undefined) options.tls.serverNameOverride = tls.serverName;
    if (tls?.caCertEnv !== undefined) options.tls.serverRootCACertificate = pemFrom('temporal.tls.caCertEnv', tls.caCertEnv, env, 'certificate');
    if (tls?.clientCertEnv !== undefined && tls.clientKeyEnv !== undefined) {
      options.tls.clientCertPair = {
        crt: pemFrom('temporal.tls.clientCertEnv', tls.clientCertEnv, env, 'certificate'),
        key: pemFrom('temporal.tls.clientKeyEnv', tls.clientKeyEnv, env, 'key'),
      };
    }
  }
  if (settings.apiKeyEnv !== undefined) {
    const key = env[settings.apiKeyEnv];
    if (key === undefined || key.trim() === '') throw new TemporalSettingsError(`temporal.apiKeyEnv: environment variable ${settings.apiKeyEnv} is not set`);
    options.apiKey = key.trim();
  }
  return options;
}

/**
 * One line a person can act on, for an error from connecting to Temporal. The raw errors say
 * little ("Failed to connect before the deadline" from grpc-js), so with TLS a plain handshake
 * with the same settings is tried to find out why.
 */
export async function explainConnectionError(err: unknown, settings: TemporalSettings, options?: TemporalConnectionOptions): Promise<string> {
  const raw = err instanceof Error ? `${err.message} ${err.cause instanceof Error ? err.cause.message : ''}` : String(err);
  const where = `cannot connect to Temporal at ${settings.address}`;
  if (options?.tls !== undefined) {
    const handshake = await probeTls(options);
    // A server that is not there is not a TLS problem: say so below.
    if (handshake !== undefined && !/^(ECONNREFUSED|ENOTFOUND|EAI_AGAIN|ETIMEDOUT|EHOSTUNREACH)$/.test(handshake.code)) return `${where}: ${explainTls(handshake, settings)}`;
  }
  if (/Unauthenticated|UNAUTHENTICATED|invalid api key|PermissionDenied|PERMISSION_DENIED/i.test(raw)) {
    return `${where}: the server refused the credentials (check the API key in ${settings.apiKeyEnv ?? 'temporal.apiKeyEnv'} or the client certificate)`;
  }
  if (/ECONNREFUSED|Connection refused|UNAVAILABLE|deadline|timed? ?out|ENOTFOUND|dns/i.test(raw)) {
    return `${where}: nothing answered (${oneLine(raw)})`;
  }
  return `${where}: ${oneLine(raw)}`;
}

interface HandshakeFailure {
  code: string;
  message: string;
}

function explainTls(failure: HandshakeFailure, settings: TemporalSettings): string {
  const text = `${failure.code} ${failure.message}`;
  if (/ALTNAME|hostname|altnames/i.test(text)) {
    return `the server's certificate does not name this host (set temporal.tls.serverName to the name it carries)`;
  }
  if (/SELF_SIGNED|UNABLE_TO_VERIFY|UNABLE_TO_GET_ISSUER|CERT_UNTRUSTED|CERT_SIGNATURE_FAILURE/i.test(text)) {
    return `the server's certificate is not trusted (set temporal.tls.caCertEnv to the CA that signed it${settings.tls?.caCertEnv ? `; ${settings.tls.caCertEnv} holds a different CA` : ''})`;
  }
  if (/CERTIFICATE_REQUIRED|HANDSHAKE_FAILURE|BAD_CERTIFICATE|UNKNOWN_CA|ECONNRESET/i.test(text)) {
    return settings.tls?.clientCertEnv === undefined
      ? 'the server requires a client certificate (mTLS) it accepts (set temporal.tls.clientCertEnv and clientKeyEnv)'
      : `the server refused the client certificate in ${settings.tls.clientCertEnv} (is it signed by a CA the server trusts?)`;
  }
  if (/WRONG_VERSION_NUMBER|packet length|unknown protocol/i.test(text)) {
    return `the server does not speak TLS on this port (drop temporal.tls, or use the TLS port)`;
  }
  return `TLS handshake failed: ${oneLine(failure.message)}`;
}

/** A TLS handshake (ALPN h2, as gRPC does) with the same settings; undefined when it succeeds and the server keeps the connection. */
function probeTls(options: TemporalConnectionOptions): Promise<HandshakeFailure | undefined> {
  const colon = options.address.lastIndexOf(':');
  const host = options.address.slice(0, colon);
  const port = Number(options.address.slice(colon + 1));
  return new Promise((resolve) => {
    const tls = options.tls ?? {};
    const socket = tlsConnect({
      host,
      port,
      servername: tls.serverNameOverride ?? (/^[\d.]+$|:/.test(host) ? undefined : host),
      ...(tls.serverRootCACertificate !== undefined ? { ca: tls.serverRootCACertificate } : {}),
      ...(tls.clientCertPair !== undefined ? { cert: tls.clientCertPair.crt, key: tls.clientCertPair.key } : {}),
      ALPNProtocols: ['h2'],
      timeout: 5_000,
    });
    let settled = false;
    const done = (value: HandshakeFailure | undefined) => {
      if (settled) return;
      settled = true;
      socket.destroy();
      resolve(value);
    };
    socket.on('error', (err: NodeJS.ErrnoException) => done({ code: err.code ?? '', message: err.message }));
    socket.on('timeout', () => done(undefined));
    // TLS 1.3 servers refuse a missing client certificate after the client's handshake is done: wait a moment.
    socket.on('secureConnect', () => setTimeout(() => done(undefined), 500));
  });
}

function oneLine(text: string): string {
  const line = text.replace(/\s+/g, ' ').trim();
  return line.length > 300 ? `${line.slice(0, 297)}...` : line;
}

/** Runs `connect`, turning its failure into a one-line TemporalSettingsError (printed as such by `fatal`). */
export async function connectExplained<T>(settings: TemporalSettings, options: TemporalConnectionOptions, connect: () => Promise<T>): Promise<T> {
  try {
    return await connect();
  } catch (err) {
    throw new TemporalSettingsError(await explainConnectionError(err, settings, options));
  }
}
