/**
 * The Temporal CLI (and its dev server), installed by the project itself:
 * reused from PATH when its version fits, else built once with `go install`
 * into a per-user cache folder keyed by version, outside any checkout.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { createServer } from 'node:net';
import { dirname } from 'node:path';
import { Connection } from '@temporalio/client';
import { cacheDir } from '../config/toolCache';
import { SEARCH_ATTRIBUTE_FLAGS } from '../workflows/search-attributes';
import { ensureGoTool, reportedVersion } from './goInstall';
import { stopProcess } from './process';

export const TEMPORAL_CLI_VERSION = '1.5.1';

export { cacheDir };

/** Path of a Temporal CLI of the pinned version, building it if none is found. */
export function ensureTemporalCli(log: (line: string) => void = console.log): Promise<string> {
  return ensureGoTool(
    {
      name: 'temporal',
      what: 'the Temporal CLI',
      module: 'github.com/temporalio/cli/cmd/temporal',
      version: `v${TEMPORAL_CLI_VERSION}`,
      // The release build stamps the version; `go install` alone would report "0.0.0-DEV".
      ldflags: `-X github.com/temporalio/cli/temporalcli.Version=${TEMPORAL_CLI_VERSION}`,
      versionOf: async (binary) => {
        const version = await reportedVersion(binary, ['--version'], /temporal version (\S+)/);
        return version === undefined ? undefined : `v${version}`;
      },
    },
    log,
  );
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

export interface DevServerOptions {
  binary: string;
  port: number;
  /** Omit for a headless server. */
  uiPort?: number;
  /** SQLite file; omit for an in-memory server. */
  dbFile?: string;
  logFile: string;
  /** Start in its own process group, so a terminal's Ctrl-C reaches only whoever started it. */
  detached?: boolean;
  /** Register Slipway's search attributes with flags (default true). */
  searchAttributes?: boolean;
}

export interface DevServer {
  address: string;
  uiUrl?: string;
  process: ChildProcess;
  stop(): Promise<void>;
}

/** Starts `temporal server start-dev` with Slipway's search attributes and waits until it answers. */
export async function startDevServer(options: DevServerOptions): Promise<DevServer> {
  const args = ['server', 'start-dev', '--ip', '127.0.0.1', '--port', String(options.port), '--log-level', 'warn'];
  args.push(...(options.uiPort !== undefined ? ['--ui-port', String(options.uiPort)] : ['--headless']));
  if (options.dbFile !== undefined) args.push('--db-filename', options.dbFile);
  if (options.searchAttributes ?? true) {
    for (const [name, type] of Object.entries(SEARCH_ATTRIBUTE_FLAGS)) args.push('--search-attribute', `${name}=${type}`);
  }

  await mkdir(dirname(options.logFile), { recursive: true });
  const logStream = createWriteStream(options.logFile, { flags: 'a' });
  const child = spawn(options.binary, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: options.detached ?? false });
  child.stdout?.pipe(logStream);
  child.stderr?.pipe(logStream);
  const address = `127.0.0.1:${options.port}`;
  let exited: number | null | undefined;
  child.once('exit', (code) => (exited = code));

  const stop = () => stopProcess(child);

  const deadline = Date.now() + 60_000;
  for (;;) {
    if (exited !== undefined) throw new Error(`temporal server start-dev exited with code ${exited}; see ${options.logFile}`);
    try {
      const connection = await Connection.connect({ address, connectTimeout: 1_000 });
      await connection.workflowService.getSystemInfo({});
      await connection.close();
      break;
    } catch (err) {
      if (Date.now() > deadline) {
        await stop();
        throw new Error(`temporal dev server on ${address} did not answer within 60 s (${(err as Error).message}); see ${options.logFile}`);
      }
      await new Promise((r) => setTimeout(r, 250));
    }
  }
  return {
    address,
    ...(options.uiPort !== undefined ? { uiUrl: `http://127.0.0.1:${options.uiPort}` } : {}),
    process: child,
    stop,
  };
}

if (require.main === module) {
  ensureTemporalCli()
    .then((binary) => console.log(binary))
    .catch((err: Error) => {
      console.error(`slipway: ${err.message}`);
      process.exit(1);
    });
}
