/**
 * Everything `npm start` runs, as one object: the local world (when the config has one), the
 * Temporal dev server (SQLite under .slipway/), the worker and the API. `npm start` and
 * `npm run demo` both use it; `stop()` takes it down in reverse order.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, openSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { NOBODY } from '../activities/sandbox';
import { unsearchableAncestor } from '../activities/sandbox/run';
import { loadConfig } from '../config/load';
import type { SlipwayConfig } from '../config/schema';
import { startConfiguredWorld, type ConfiguredWorld } from '../world/configured';
import { ensureBubblewrap } from './bubblewrap';
import { stopProcess } from './process';
import { ensureTemporalCli, startDevServer } from './temporal';

export const ROOT = resolve(__dirname, '..');
export const STATE_DIR = join(ROOT, '.slipway');

/** The config `npm start` uses: $SLIPWAY_CONFIG, else slipway.config.yaml, else the example (the local world). */
export function chooseConfig(say: (line: string) => void = () => undefined): string {
  if (process.env.SLIPWAY_CONFIG) return resolve(process.env.SLIPWAY_CONFIG);
  const own = join(ROOT, 'slipway.config.yaml');
  if (existsSync(own)) return own;
  say('slipway: no slipway.config.yaml; using slipway.config.example.yaml (the local world; copy it to make your own)');
  return join(ROOT, 'slipway.config.example.yaml');
}

export interface DevTokens {
  /** SLIPWAY_API_TOKENS for the API. */
  spec: string;
  requester?: string;
  approver?: string;
  file?: string;
}

/** Local tokens for a first run, kept in .slipway/dev-tokens (never printed) when SLIPWAY_API_TOKENS is unset. */
export async function devTokens(): Promise<DevTokens> {
  if (process.env.SLIPWAY_API_TOKENS) return { spec: process.env.SLIPWAY_API_TOKENS };
  const file = join(STATE_DIR, 'dev-tokens');
  await mkdir(STATE_DIR, { recursive: true });
  if (!existsSync(file)) {
    const token = () => randomBytes(24).toString('hex');
    await writeFile(file, `requester=${token()}\napprover=${token()}\n`, { mode: 0o600 });
  }
  const lines = Object.fromEntries((await readFile(file, 'utf8')).trim().split('\n').map((l) => l.split('=') as [string, string]));
  return { spec: `dev:requester:${lines.requester},lead:approver:${lines.approver}`, ...(lines.requester ? { requester: lines.requester } : {}), ...(lines.approver ? { approver: lines.approver } : {}), file };
}

export function apiUrlOf(config: SlipwayConfig): string {
  return `http://${config.api.host}:${process.env.SLIPWAY_API_PORT ?? config.api.port}`;
}

export interface Stack {
  config: SlipwayConfig;
  configFile: string;
  api: string;
  temporal: string;
  uiUrl?: string;
  tokens: DevTokens;
  world?: ConfiguredWorld;
  stop(): Promise<void>;
}

export interface StackOptions {
  configFile: string;
  /** One line per component, for a person. */
  progress: (line: string) => void;
  /** A component exited on its own (the caller usually stops everything). */
  onExit: (what: string) => void;
  /** Print the worker's and API's logs for people (else JSON lines). */
  pretty: boolean;
  /** Where the worker's and API's logs go: this terminal, or .slipway/logs/<name>.log. */
  logs?: 'terminal' | 'files';
}

const row = (name: string, address: string, state: string) => `${name.padEnd(14)}${address.padEnd(17)}${state}`;

/**
 * As root, sandboxed commands run as nobody, who must traverse every folder above a run's worktree
 * (a checkout under a 0700 home or a `mktemp -d` folder is not): say so at start, not at a run's first test.
 */
async function assertSandboxCanReachWorktrees(config: SlipwayConfig): Promise<void> {
  if (config.sandbox.mode !== 'bubblewrap' || process.getuid?.() !== 0) return;
  const worktrees = resolve(config.repository.worktreesDir);
  await mkdir(worktrees, { recursive: true });
  const blocked = await unsearchableAncestor(join(worktrees, 'run'), NOBODY.uid, NOBODY.gid);
  if (blocked !== undefined) {
    throw new Error(`the sandbox user (nobody) cannot reach the worktrees in ${worktrees}: ${blocked} is not searchable by it. Run \`chmod o+x ${blocked}\`, or keep Slipway (and repository.worktreesDir) under a folder everyone can traverse`);
  }
}

export async function startStack(options: StackOptions): Promise<Stack> {
  const { progress } = options;
  const stoppers: { name: string; stop: () => Promise<void> }[] = [];
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    for (const piece of [...stoppers].reverse()) {
      await piece.stop().catch((err: Error) => progress(`slipway: stopping the ${piece.name} failed: ${err.message}`));
      progress(row(piece.name, '', 'stopped'));
    }
  };
  try {
    await mkdir(STATE_DIR, { recursive: true });
    const config = await loadConfig(options.configFile); // fails here, naming the bad field
    const binary = await ensureTemporalCli(progress);
    // Commands from run branches run under bubblewrap; without it the worker refuses them (SandboxUnavailable) rather than run them bare.
    if (config.sandbox.mode === 'bubblewrap') await ensureBubblewrap(progress).catch((err: Error) => progress(`slipway: ${err.message}; agent and command activities will refuse to run`));

    await assertSandboxCanReachWorktrees(config);

    let world: ConfiguredWorld | undefined;
    if (config.world !== undefined) {
      progress(`slipway: starting the local world in ${config.world.dir} (first start builds its tools: a few minutes)`);
      world = await startConfiguredWorld(config, { progress });
      stoppers.push({ name: 'local world', stop: world.stop });
    }

    const port = Number(config.temporal.address.split(':').pop());
    const uiPort = Number(process.env.SLIPWAY_TEMPORAL_UI_PORT ?? port + 1000);
    const server = await startDevServer({ binary, port, uiPort, dbFile: join(STATE_DIR, 'temporal.db'), logFile: join(STATE_DIR, 'temporal.log'), detached: true });
    stoppers.push({ name: 'Temporal', stop: server.stop });
    server.process.on('exit', (code) => !stopping && options.onExit(`the Temporal server exited (code ${code}); see .slipway/temporal.log`));
    progress(row('Temporal', server.address, `ready (UI ${server.uiUrl}; runs kept in .slipway/temporal.db)`));

    const tokens = await devTokens();
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      ...world?.env,
      ...(world ? { SLIPWAY_CRANE: world.world.crane } : {}),
      SLIPWAY_CONFIG: options.configFile,
      SLIPWAY_API_TOKENS: tokens.spec,
      // The SDK's own chatter (worker states, the workflow bundle's build) only when asked for.
      SLIPWAY_SDK_LOG_LEVEL: process.env.SLIPWAY_SDK_LOG_LEVEL ?? 'WARN',
      ...(server.uiUrl ? { SLIPWAY_TEMPORAL_UI_URL: server.uiUrl } : {}),
      ...(options.pretty ? { SLIPWAY_LOG_FORMAT: 'pretty' } : {}),
    };
    await mkdir(join(STATE_DIR, 'logs'), { recursive: true });
    const start = (name: string, script: string, graceMs: number) => {
      const log = options.logs === 'files' ? openSync(join(STATE_DIR, 'logs', `${name.toLowerCase()}.log`), 'a') : 'inherit';
      // Own process group: a terminal's Ctrl-C reaches only this orchestrator, which stops everything in order.
      const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', script], { cwd: ROOT, env: { ...env, SLIPWAY_PROCESS_NAME: name }, stdio: ['ignore', log, log], detached: true });
      child.on('exit', (code, signal) => !stopping && options.onExit(`the ${name} exited (${signal ?? `code ${code}`})`));
      stoppers.push({ name, stop: () => stopProcess(child, 'SIGINT', graceMs) });
    };
    start('worker', 'worker/main.ts', 30_000);
    start('API', 'api/main.ts', 10_000);
    const api = apiUrlOf(config);
    await waitForApi(api, () => stopping);
    progress(row('API', api.replace('http://', ''), 'ready'));
    return { config, configFile: options.configFile, api, temporal: server.address, ...(server.uiUrl ? { uiUrl: server.uiUrl } : {}), tokens, ...(world ? { world } : {}), stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

async function waitForApi(api: string, stopped: () => boolean): Promise<void> {
  const deadline = Date.now() + 180_000;
  while (Date.now() < deadline && !stopped()) {
    if (await fetch(`${api}/readyz`).then((r) => r.ok, () => false)) return;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`the API did not answer on ${api}/readyz within 3 minutes`);
}
