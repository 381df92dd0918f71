import { Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import { temporalSchema } from '../../config/schema';
import { connectionOptions, explainConnectionError, TemporalSettingsError, type TemporalSettings } from '../../config/temporal';
import { makePki, startTlsProxy, type Pki, type TlsProxy } from '../support/tlsProxy';

const SERVER_NAME = 'temporal.slipway.test';
let pki: Pki;
let mtls: TlsProxy;
let tlsOnly: TlsProxy;

beforeAll(async () => {
  const upstream = process.env.SLIPWAY_TEST_TEMPORAL_ADDRESS;
  if (!upstream) throw new Error('SLIPWAY_TEST_TEMPORAL_ADDRESS is not set: run through jest');
  pki = await makePki(SERVER_NAME);
  mtls = await startTlsProxy(pki, upstream, { requireClientCert: true });
  tlsOnly = await startTlsProxy(pki, upstream, { requireClientCert: false });
});
afterAll(async () => {
  await mtls?.close();
  await tlsOnly?.close();
});

const settings = (address: string, tls: TemporalSettings['tls'], extra: Partial<TemporalSettings> = {}): TemporalSettings =>
  temporalSchema.parse({ address, tls, ...extra });

const env = () => ({ TEMPORAL_CA: pki.ca, TEMPORAL_CLIENT_CERT: pki.clientCert, TEMPORAL_CLIENT_KEY: pki.clientKey, OTHER_CA: pki.otherCa });
const fullMtls = { serverName: SERVER_NAME, caCertEnv: 'TEMPORAL_CA', clientCertEnv: 'TEMPORAL_CLIENT_CERT', clientKeyEnv: 'TEMPORAL_CLIENT_KEY' };

/** Connects the client (grpc-js) and asks for the system info; returns the one-line error if it fails. */
async function clientCall(s: TemporalSettings, vars: NodeJS.ProcessEnv = env()): Promise<string> {
  try {
    const connection = await Connection.connect({ ...connectionOptions(s, vars), connectTimeout: 5_000 });
    await connection.workflowService.getSystemInfo({});
    await connection.close();
    return 'ok';
  } catch (err) {
    if (err instanceof TemporalSettingsError) throw err;
    return explainConnectionError(err, s, connectionOptions(s, vars));
  }
}

/** Same through the worker's connection (Rust core, rustls). */
async function nativeCall(s: TemporalSettings, vars: NodeJS.ProcessEnv = env()): Promise<string> {
  try {
    const connection = await NativeConnection.connect(connectionOptions(s, vars));
    await connection.workflowService.getSystemInfo({});
    await connection.close();
    return 'ok';
  } catch (err) {
    return explainConnectionError(err, s, connectionOptions(s, vars));
  }
}

test('mTLS: client and worker connections with the CA, a client certificate and the server name reach Temporal', async () => {
  const s = settings(mtls.address, fullMtls);
  expect(await clientCall(s)).toBe('ok');
  expect(await nativeCall(s)).toBe('ok');
  // The same PEMs given as file paths in the variables.
  const byPath = { TEMPORAL_CA: pki.files.ca, TEMPORAL_CLIENT_CERT: pki.files.clientCert, TEMPORAL_CLIENT_KEY: pki.files.clientKey };
  expect(await clientCall(s, byPath)).toBe('ok');
});

test('a server certificate from another CA is refused with a one-line message naming the variable', async () => {
  const s = settings(mtls.address, { ...fullMtls, caCertEnv: 'OTHER_CA' });
  const expected = `cannot connect to Temporal at ${mtls.address}: the server's certificate is not trusted (set temporal.tls.caCertEnv to the CA that signed it; OTHER_CA holds a different CA)`;
  expect(await clientCall(s)).toBe(expected);
  expect(await nativeCall(s)).toBe(expected);
});

test('without a client certificate the mTLS server refuses the handshake, and the message says what to set', async () => {
  const s = settings(mtls.address, { serverName: SERVER_NAME, caCertEnv: 'TEMPORAL_CA' });
  const before = mtls.refused.length;
  const expected = `cannot connect to Temporal at ${mtls.address}: the server requires a client certificate (mTLS) it accepts (set temporal.tls.clientCertEnv and clientKeyEnv)`;
  expect(await clientCall(s)).toBe(expected);
  expect(await nativeCall(s)).toBe(expected);
  expect(mtls.refused.length).toBeGreaterThan(before);
  expect(mtls.refused.join('\n')).toMatch(/certificate/i);
});

test('a certificate for another name is refused unless serverName says which name to expect', async () => {
  const s = settings(tlsOnly.address, { caCertEnv: 'TEMPORAL_CA' });
  const expected = `cannot connect to Temporal at ${tlsOnly.address}: the server's certificate does not name this host (set temporal.tls.serverName to the name it carries)`;
  expect(await clientCall(s)).toBe(expected);
  expect(await nativeCall(s)).toBe(expected);
  expect(await clientCall(settings(tlsOnly.address, { caCertEnv: 'TEMPORAL_CA', serverName: SERVER_NAME }))).toBe('ok');
});

test('settings are checked before connecting: unset variables, text that is not PEM, half an mTLS pair', () => {
  expect(() => connectionOptions(settings(mtls.address, fullMtls), {})).toThrow('temporal.tls.caCertEnv: environment variable TEMPORAL_CA is not set');
  expect(() => connectionOptions(settings(mtls.address, fullMtls), { ...env(), TEMPORAL_CLIENT_KEY: pki.clientCert })).toThrow(
    'temporal.tls.clientKeyEnv: TEMPORAL_CLIENT_KEY does not hold a PEM private key',
  );
  expect(() => connectionOptions(settings(mtls.address, fullMtls), { ...env(), TEMPORAL_CA: '/nonexistent/ca.pem' })).toThrow(
    'temporal.tls.caCertEnv: TEMPORAL_CA holds neither PEM text nor a readable file path (ENOENT)',
  );
  const half = temporalSchema.safeParse({ tls: { clientCertEnv: 'TEMPORAL_CLIENT_CERT' } });
  expect(half.success).toBe(false);
  expect(half.error?.issues[0]).toMatchObject({ path: ['tls', 'clientKeyEnv'], message: 'mTLS needs both clientCertEnv and clientKeyEnv (or neither)' });
  expect(temporalSchema.safeParse({ apiKeyEnv: 'sk-live-123' }).error?.issues[0]?.message).toBe('must be the NAME of an environment variable, not its value');
});

test('an API key turns TLS on with the system CAs and is sent as the connection key; without its variable it fails clearly', () => {
  const cloud = temporalSchema.parse({ address: 'my-ns.a1b2c.tmprl.cloud:7233', namespace: 'my-ns.a1b2c', apiKeyEnv: 'TEMPORAL_API_KEY' });
  expect(connectionOptions(cloud, { TEMPORAL_API_KEY: ' key-123 ' })).toEqual({ address: 'my-ns.a1b2c.tmprl.cloud:7233', tls: {}, apiKey: 'key-123' });
  expect(() => connectionOptions(cloud, {})).toThrow('temporal.apiKeyEnv: environment variable TEMPORAL_API_KEY is not set');
  // A plain local server: no TLS, no key.
  expect(connectionOptions(temporalSchema.parse(undefined), {})).toEqual({ address: '127.0.0.1:7233' });
});

test('with TLS configured but no server listening, the message says nothing answered', async () => {
  const s = settings('127.0.0.1:1', fullMtls);
  expect(await clientCall(s)).toMatch(/^cannot connect to Temporal at 127\.0\.0\.1:1: nothing answered \(/);
});
