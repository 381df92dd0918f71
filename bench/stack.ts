/**
 * The real stack for benchmarks and the chaos run, on free ports in a temp folder: a Temporal dev
 * server (optionally with a SQLite file, so it survives a restart), the worker process
 * (worker/main.ts) and the API process (api/main.ts) started with a generated config, each of them
 * restartable or killable on its own.
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { openSync, readFileSync, existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { Client, Connection } from '@temporalio/client';
import { bundleWorkflowCode, DefaultLogger } from '@temporalio/worker';
import { stringify } from 'yaml';
import type { SlipwayConfigInput } from '../config/schema';
import { stopProcess } from '../scripts/process';
import { ensureTemporalCli, freePort, startDevServer, type DevServer } from '../scripts/temporal';
import { WORKFLOWS_PATH } from '../worker/build';

const run = promisify(execFile);
export const ROOT = resolve(__dirname, '..');

/**
 * One of Slipway's own processes, started as production starts it (compiled, `node dist/<x>/main.js`)
 * when `npm run build` has made dist/, else with `node --import tsx`; it can be killed and started again.
 */
export class SlipwayProcess {
  child?: ChildProcess;
  private exits = 0;

  constructor(
    readonly name: string,
    private readonly script: string,
    private readonly env: () => NodeJS.ProcessEnv,
    private readonly logFile: string,
  ) {}

  get pid(): number | undefined {
    return this.child?.pid;
  }

  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  start(): void {
    const log = openSync(this.logFile, 'a');
    const compiled = join(ROOT, 'dist', this.script.replace(/\.ts$/, '.js'));
    const args = process.env.BENCH_TSX !== '1' && existsSync(compiled) ? [compiled] : ['--import', 'tsx', this.script];
    this.child = spawn(process.execPath, args, { cwd: ROOT, env: this.env(), stdio: ['ignore', log, log] });
    this.child.once('exit', () => (this.exits += 1));
  }

  /** kill -9: no clean-up, no graceful shutdown. */
  async kill(): Promise<void> {
    if (!this.running || this.child === undefined) return;
    const gone = new Promise((r) => this.child?.once('exit', r));
    this.child.kill('SIGKILL');
    await gone;
  }

  async stop(graceMs = 15_000): Promise<void> {
    if (this.child !== undefined) await stopProcess(this.child, 'SIGINT', graceMs);
  }

  /** Resident memory of the process, from /proc (Linux). */
  rssMb(): number {
    const status = readFileSync(`/proc/${this.pid}/status`, 'utf8');
    const kb = Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1]);
    return kb / 1024;
  }

  async waitForLog(pattern: RegExp, what: string, timeoutMs = 180_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    const startExits = this.exits;
    while (Date.now() < deadline) {
      if (existsSync(this.logFile) && pattern.test(await readFile(this.logFile, 'utf8'))) return;
      if (this.exits > startExits || !this.running) throw new Error(`the ${this.name} exited before ${what}; see ${this.logFile}`);
      await new Promise((r) => setTimeout(r, 200));
    }
    throw new Error(`the ${this.name} did not report ${what} within ${timeoutMs / 1000} s; see ${this.logFile}`);
  }
}

export interface StackOptions {
  /** Temp folder for the config, logs, the Temporal db and the workflow bundle. */
  dir: string;
  /** The config without `temporal` and `api` (the stack fills those in with free ports). */
  config: Omit<SlipwayConfigInput, 'temporal' | 'api'>;
  /** Extra environment for the worker and API (the local world's variables). */
  env?: Record<string, string>;
  /** Keep Temporal's state in a SQLite file, so a restart of the dev server loses nothing. */
  persistent?: boolean;
  taskQueue?: string;
  log?: (line: string) => void;
}

export interface Tokens {
  requester: string;
  approver: string;
}

export class Stack {
  temporal?: DevServer;
  connection?: Connection;
  client!: Client;
  readonly worker: SlipwayProcess;
  readonly api: SlipwayProcess;
  readonly tokens: Tokens = { requester: randomBytes(16).toString('hex'), approver: randomBytes(16).toString('hex') };
  apiUrl = '';
  configFile = '';
  private temporalPort = 0;
  private apiPort = 0;
  private readonly env: NodeJS.ProcessEnv = {};

  constructor(readonly options: StackOptions) {
    const logs = join(options.dir, 'logs');
    this.worker = new SlipwayProcess('worker', 'worker/main.ts', () => ({ ...this.env, SLIPWAY_PROCESS_NAME: 'worker' }), join(logs, 'worker.log'));
    this.api = new SlipwayProcess('API', 'api/main.ts', () => ({ ...this.env, SLIPWAY_PROCESS_NAME: 'API' }), join(logs, 'api.log'));
  }

  get taskQueue(): string {
    return this.options.taskQueue ?? 'slipway-bench';
  }

  async start(): Promise<this> {
    const { dir } = this.options;
    await mkdir(join(dir, 'logs'), { recursive: true });
    const [temporalPort, apiPort, metricsPort, sdkMetricsPort] = await Promise.all([freePort(), freePort(), freePort(), freePort()]);
    this.temporalPort = temporalPort;
    this.apiPort = apiPort;
    await this.startTemporal();
    // The worker loads a pre-built bundle, as in production: no webpack in its memory or its start-up.
    const bundle = (await workflowBundle(dir)).codePath;
    this.configFile = join(dir, 'slipway.config.yaml');
    await writeFile(
      this.configFile,
      stringify({ ...this.options.config, temporal: { address: `127.0.0.1:${temporalPort}`, namespace: 'default', taskQueue: this.taskQueue }, api: { host: '127.0.0.1', port: apiPort } }),
    );
    Object.assign(this.env, process.env, this.options.env ?? {}, {
      SLIPWAY_CONFIG: this.configFile,
      SLIPWAY_API_TOKENS: `dev:requester:${this.tokens.requester},lead:approver:${this.tokens.approver}`,
      SLIPWAY_WORKFLOW_BUNDLE: bundle,
      SLIPWAY_WORKER_METRICS_ADDRESS: `127.0.0.1:${metricsPort}`,
      SLIPWAY_SDK_METRICS_ADDRESS: `127.0.0.1:${sdkMetricsPort}`,
      SLIPWAY_SDK_LOG_LEVEL: 'WARN',
      LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn',
    });
    this.apiUrl = `http://127.0.0.1:${apiPort}`;
    this.worker.start();
    this.api.start();
    await Promise.all([this.waitForWorker(), this.waitForApi()]);
    return this;
  }

  async startTemporal(): Promise<void> {
    const { dir, persistent } = this.options;
    this.temporal = await startDevServer({
      binary: await ensureTemporalCli(this.options.log),
      port: this.temporalPort,
      logFile: join(dir, 'logs', 'temporal.log'),
      ...(persistent ? { dbFile: join(dir, 'temporal.db') } : {}),
    });
    await this.connection?.close().catch(() => undefined);
    this.connection = await Connection.connect({ address: this.temporal.address });
    this.client = new Client({ connection: this.connection });
  }

  async restartTemporal(downMs = 0): Promise<void> {
    await this.temporal?.stop();
    if (downMs > 0) await new Promise((r) => setTimeout(r, downMs));
    await this.startTemporal();
  }

  async waitForWorker(): Promise<void> {
    // LOG_LEVEL may hide info lines: the worker's metrics endpoint answers once it runs.
    const address = this.env.SLIPWAY_WORKER_METRICS_ADDRESS;
    const deadline = Date.now() + 180_000;
    while (Date.now() < deadline) {
      if (await fetch(`http://${address}/healthz`).then((r) => r.ok, () => false)) return;
      if (!this.worker.running) throw new Error(`the worker exited at start; see ${join(this.options.dir, 'logs', 'worker.log')}`);
      await new Promise((r) => setTimeout(r, 250));
    }
    throw new Error('the worker did not start within 3 minutes');
  }

  async waitForApi(): Promise<void> {
    const deadline = Date.now() + 180_000;
    while (Date.now() < deadline) {
      if (await fetch(`${this.apiUrl}/readyz`).then((r) => r.ok, () => false)) return;
      if (!this.api.running) throw new Error(`the API exited at start; see ${join(this.options.dir, 'logs', 'api.log')}`);
      await new Promise((r) => setTimeout(r, 250));
    }
    throw new Error('the API did not answer within 3 minutes');
  }

  /** An HTTP call to the API as the requester ("dev") or the approver ("lead"). */
  async call(method: 'GET' | 'POST', path: string, as: keyof Tokens = 'requester', body?: unknown): Promise<{ status: number; json: unknown; text: string }> {
    const res = await fetch(`${this.apiUrl}${path}`, {
      method,
      headers: { authorization: `Bearer ${this.tokens[as]}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    const text = await res.text();
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    return { status: res.status, json, text };
  }

  async stop(): Promise<void> {
    await this.api.stop(5_000).catch(() => undefined);
    await this.worker.stop(15_000).catch(() => undefined);
    await this.connection?.close().catch(() => undefined);
    await this.temporal?.stop().catch(() => undefined);
  }
}

/** A git repository with a main branch and the services' folders: what person-mode runs branch from. */
export async function tempRepository(dir: string, services: string[]): Promise<string> {
  const repo = join(dir, 'repo');
  await mkdir(repo, { recursive: true });
  const git = (...args: string[]) => run('git', ['-c', 'user.name=Bench', '-c', 'user.email=bench@localhost', ...args], { cwd: repo });
  await git('init', '--quiet', '--initial-branch=main');
  for (const service of services) {
    await mkdir(join(repo, 'services', service), { recursive: true });
    await writeFile(join(repo, 'services', service, 'README.md'), `# ${service}\n`);
  }
  await git('add', '--all');
  await git('commit', '--quiet', '-m', 'initial');
  return repo;
}

/** Person mode (no llm): each run waits at its spec gate for a person; nothing outside this machine is called. */
export function personModeConfig(repo: string, dir: string, services = ['messages', 'notifications', 'presence']): Omit<SlipwayConfigInput, 'temporal' | 'api'> {
  return {
    repository: { path: repo, worktreesDir: join(dir, 'worktrees') },
    services: services.map((name) => ({ name, path: `services/${name}`, kubernetes: { deployment: name } })),
    environments: [
      { name: 'dev', namespace: 'dev', gate: { required: false } },
      { name: 'production', namespace: 'production', gate: { required: true, approvers: ['lead'] } },
    ],
    gates: { spec: { required: true, approvers: ['lead'] } },
    approvers: [{ id: 'lead' }],
    prometheus: { url: 'http://127.0.0.1:9' },
  };
}

/** The workflow bundle in `dir`, built once per bench run (in-process workers and the worker process share it). */
export async function workflowBundle(dir: string): Promise<{ codePath: string }> {
  const codePath = join(dir, 'workflow-bundle.js');
  if (!existsSync(codePath)) await writeFile(codePath, (await bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH, logger: new DefaultLogger('WARN') })).code);
  return { codePath };
}

/** A dev server of its own, for figures that run an in-process worker. */
export async function devServer(dir: string, name: string): Promise<{ server: DevServer; client: Client; close(): Promise<void> }> {
  const server = await startDevServer({ binary: await ensureTemporalCli(), port: await freePort(), logFile: join(dir, 'logs', `temporal-${name}.log`) });
  const connection = await Connection.connect({ address: server.address });
  return {
    server,
    client: new Client({ connection }),
    async close() {
      await connection.close();
      await server.stop();
    },
  };
}
