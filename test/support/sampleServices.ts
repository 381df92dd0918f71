import { spawn, type ChildProcess } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { Client as GrpcClient, credentials, Metadata, type ServiceError } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { Client } from 'pg';
import { runShell, type ShellResult } from '../../activities/commands/shell';
import { stopProcess } from '../../scripts/process';

/** Runs a command line in `cwd` with only PATH, HOME and `env`: what a sandboxed service command gets. */
export function runCommand(command: string, cwd: string, env: Record<string, string>): Promise<ShellResult> {
  return runShell(command, { cwd, timeoutMs: 5 * 60_000, outputCapBytes: 64 * 1024, env });
}

/** Applies a service's sqlx-layout up migrations, in version order. */
export async function applyUpMigrations(databaseUrl: string, migrationsDir: string): Promise<void> {
  const client = new Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    for (const file of (await readdir(migrationsDir)).filter((f) => f.endsWith('.up.sql')).sort()) {
      await client.query(await readFile(join(migrationsDir, file), 'utf8'));
    }
  } finally {
    await client.end();
  }
}

export interface SampleServer {
  child: ChildProcess;
  grpc: string;
  http: string;
  /** Every line the process wrote. */
  output: string[];
  /** SIGTERM; resolves with the exit code. */
  stop(): Promise<number | null>;
}

/**
 * Starts a built sample service as the local kubelet does (`node dist/server.js`, cwd = the
 * service), on free loopback ports, and waits for its "serving" line.
 */
export async function startSampleServer(serviceDir: string, env: Record<string, string> = {}): Promise<SampleServer> {
  const child = spawn(process.execPath, ['dist/server.js'], {
    cwd: serviceDir,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', LISTEN_HOST: '127.0.0.1', SLIPWAY_PORT_GRPC: '0', SLIPWAY_PORT_HTTP: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output: string[] = [];
  child.stderr?.on('data', (chunk: Buffer) => output.push(chunk.toString()));
  const ports = await new Promise<{ grpcPort: number; httpPort: number }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${serviceDir} did not start within 20 s:\n${output.join('\n')}`)), 20_000);
    child.once('exit', (code) => reject(new Error(`${serviceDir} exited (${code}) before serving:\n${output.join('\n')}`)));
    createInterface({ input: child.stdout! }).on('line', (line) => {
      output.push(line);
      const entry = JSON.parse(line) as { msg?: string; grpcPort?: number; httpPort?: number };
      if (entry.msg === 'serving' && entry.grpcPort && entry.httpPort) {
        clearTimeout(timer);
        resolve({ grpcPort: entry.grpcPort, httpPort: entry.httpPort });
      }
    });
  });
  return {
    child,
    grpc: `127.0.0.1:${ports.grpcPort}`,
    http: `http://127.0.0.1:${ports.httpPort}`,
    output,
    async stop() {
      await stopProcess(child, 'SIGTERM', 10_000);
      return child.exitCode;
    },
  };
}

/** A unary call through a proto file, as any client of the service would make it; rejects with the ServiceError. */
export async function grpcCall<T = Record<string, unknown>>(protoFile: string, service: string, method: string, address: string, request: object): Promise<T> {
  const definition = loadSync(protoFile, { defaults: true, longs: String, enums: String })[service];
  const rpc = definition && !('format' in definition) ? definition[method] : undefined;
  if (rpc === undefined) throw new Error(`${protoFile} has no ${service}/${method}`);
  const client = new GrpcClient(address, credentials.createInsecure());
  try {
    return await new Promise<T>((resolve, reject) =>
      client.makeUnaryRequest(rpc.path, rpc.requestSerialize, rpc.responseDeserialize, request, new Metadata(), { deadline: Date.now() + 5_000 }, (err: ServiceError | null, res?: object) =>
        err ? reject(err) : resolve(res as T),
      ),
    );
  } finally {
    client.close();
  }
}

/** The sum of a metric's samples whose labels include all of `labels`, from Prometheus text format. */
export function metricSum(text: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    const body = line.includes('{') ? line.slice(line.indexOf('{') + 1, line.lastIndexOf('}')) : '';
    if (Object.entries(labels).every(([k, v]) => body.includes(`${k}="${v}"`))) sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}
