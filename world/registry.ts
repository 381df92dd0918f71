/**
 * The world's OCI registry: CNCF distribution on a loopback port, plain HTTP, no auth, blobs on
 * the filesystem under the world dir so images survive a restart.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream, existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { stopProcess } from '../scripts/process';
import { waitUntil } from './wait';

export interface RegistryOptions {
  /** From scripts/registry.ts ensureRegistry. */
  binary: string;
  /** Holds config.yml, the blobs (storage/) and registry.log. */
  dir: string;
  port: number;
  /** Start in its own process group, so a terminal's Ctrl-C reaches only whoever started it. */
  detached?: boolean;
}

export interface RunningRegistry {
  /** host:port, the prefix of every image reference pushed here. */
  address: string;
  url: string;
  process: ChildProcess;
  stop(): Promise<void>;
}

export async function startRegistry(options: RegistryOptions): Promise<RunningRegistry> {
  const { dir, port } = options;
  await mkdir(join(dir, 'storage'), { recursive: true });
  // The HTTP secret only signs upload state; kept so an upload survives a restart, never an access credential.
  const secretFile = join(dir, 'http-secret');
  if (!existsSync(secretFile)) await writeFile(secretFile, randomBytes(24).toString('hex'), { mode: 0o600 });
  const config = {
    version: 0.1,
    log: { level: 'warn', accesslog: { disabled: true } },
    storage: { filesystem: { rootdirectory: join(dir, 'storage') }, delete: { enabled: true } },
    http: { addr: `127.0.0.1:${port}`, secret: (await readFile(secretFile, 'utf8')).trim() },
  };
  const configFile = join(dir, 'config.yml');
  await writeFile(configFile, stringify(config), { mode: 0o600 });

  const logFile = join(dir, 'registry.log');
  const log = createWriteStream(logFile, { flags: 'a' });
  // distribution v3 exports OpenTelemetry traces by default; there is no collector here.
  const child = spawn(options.binary, ['serve', configFile], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, OTEL_TRACES_EXPORTER: 'none' }, detached: options.detached ?? false });
  child.stdout?.pipe(log);
  child.stderr?.pipe(log);
  const address = `127.0.0.1:${port}`;
  const url = `http://${address}`;
  const stop = () => stopProcess(child, 'SIGTERM', 5_000);
  try {
    await waitUntil(async () => (await fetch(`${url}/v2/`)).ok, { what: `the registry on ${address}`, timeoutMs: 30_000, child, logFile });
  } catch (err) {
    await stop();
    throw err;
  }
  return { address, url, process: child, stop };
}
