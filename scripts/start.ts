/**
 * `npm start`: the Temporal dev server (SQLite under .slipway/), the worker and the API,
 * stopped together on Ctrl-C.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { loadConfig } from '../config/load';
import { ensureBubblewrap } from './bubblewrap';
import { stopProcess } from './process';
import { ensureTemporalCli, startDevServer } from './temporal';

const root = resolve(__dirname, '..');
const stateDir = join(root, '.slipway');

function chooseConfig(): string {
  if (process.env.SLIPWAY_CONFIG) return resolve(process.env.SLIPWAY_CONFIG);
  const own = join(root, 'slipway.config.yaml');
  if (existsSync(own)) return own;
  console.log('slipway: no slipway.config.yaml; using slipway.config.example.yaml (copy it to make your own)');
  return join(root, 'slipway.config.example.yaml');
}

/** Local tokens for a first run, kept in .slipway/ (never printed) when SLIPWAY_API_TOKENS is unset. */
async function devTokens(): Promise<{ spec: string; file?: string }> {
  if (process.env.SLIPWAY_API_TOKENS) return { spec: process.env.SLIPWAY_API_TOKENS };
  const file = join(stateDir, 'dev-tokens');
  if (!existsSync(file)) {
    const token = () => randomBytes(24).toString('hex');
    await writeFile(file, `requester=${token()}\napprover=${token()}\n`, { mode: 0o600 });
  }
  const lines = Object.fromEntries((await readFile(file, 'utf8')).trim().split('\n').map((l) => l.split('=') as [string, string]));
  return { spec: `dev:requester:${lines.requester},lead:approver:${lines.approver}`, file };
}

function startNode(name: string, script: string, env: NodeJS.ProcessEnv): ChildProcess {
  // Own process group: Ctrl-C reaches only this orchestrator, which stops the three in order.
  const child = spawn(process.execPath, ['--import', 'tsx', script], { cwd: root, env, stdio: 'inherit', detached: true });
  child.on('exit', (code, signal) => {
    if (!stopping) {
      console.error(`slipway: the ${name} exited (${signal ?? `code ${code}`}); stopping everything`);
      void stopAll(1);
    }
  });
  return child;
}

let stopping = false;
const stoppers: (() => Promise<void>)[] = [];

async function stopAll(code: number): Promise<void> {
  if (stopping) return;
  stopping = true;
  console.log('\nslipway: stopping the API, the worker, then the Temporal server ...');
  for (const stop of stoppers.reverse()) await stop().catch((err: Error) => console.error(`slipway: ${err.message}`));
  process.exit(code);
}

function stopChild(child: ChildProcess, graceMs: number): () => Promise<void> {
  return () => stopProcess(child, 'SIGINT', graceMs);
}

async function waitForApi(api: string): Promise<void> {
  const deadline = Date.now() + 120_000;
  while (Date.now() < deadline && !stopping) {
    const ok = await fetch(`${api}/healthz`).then((r) => r.ok, () => false);
    if (ok) return;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`the API did not answer on ${api}/healthz within 2 minutes`);
}

async function main(): Promise<void> {
  process.once('SIGINT', () => void stopAll(0));
  process.once('SIGTERM', () => void stopAll(0));
  await mkdir(stateDir, { recursive: true });
  const configFile = chooseConfig();
  const config = await loadConfig(configFile); // fails here, naming the bad field
  const binary = await ensureTemporalCli();
  // Commands from run branches run under bubblewrap; without it the worker refuses them (SandboxUnavailable) rather than run them bare.
  await ensureBubblewrap().catch((err: Error) => console.error(`slipway: ${err.message}; agent and command activities will refuse to run`));
  const port = Number(config.temporal.address.split(':').pop());
  const uiPort = Number(process.env.SLIPWAY_TEMPORAL_UI_PORT ?? port + 1000);
  console.log(`slipway: starting the Temporal dev server (runs kept in ${join(stateDir, 'temporal.db')}) ...`);
  const server = await startDevServer({ binary, port, uiPort, dbFile: join(stateDir, 'temporal.db'), logFile: join(stateDir, 'temporal.log'), detached: true });
  stoppers.push(server.stop);
  server.process.on('exit', (code) => {
    if (!stopping) {
      console.error(`slipway: the Temporal server exited (code ${code}); see .slipway/temporal.log`);
      void stopAll(1);
    }
  });

  const tokens = await devTokens();
  const env = {
    ...process.env,
    SLIPWAY_CONFIG: configFile,
    SLIPWAY_API_TOKENS: tokens.spec,
    SLIPWAY_TEMPORAL_UI_URL: server.uiUrl,
  };
  stoppers.push(stopChild(startNode('worker', 'worker/main.ts', env), 30_000));
  stoppers.push(stopChild(startNode('API', 'api/main.ts', env), 10_000));

  const api = `http://${config.api.host}:${process.env.SLIPWAY_API_PORT ?? config.api.port}`;
  await waitForApi(api);
  console.log(`
slipway is up
  API          ${api}   (OpenAPI: ${api}/openapi.json)
  Temporal UI  ${server.uiUrl}
  Temporal     ${server.address}
${tokens.file ? `  API tokens   ${tokens.file} (identities "dev" = requester, "lead" = approver)\n` : ''}
Start a run:
  curl -s -X POST ${api}/runs -H "authorization: Bearer $(sed -n 's/^requester=//p' .slipway/dev-tokens)" \\
       -H 'content-type: application/json' -d '{"feature":"Add real-time notifications when users receive new messages"}'
Ctrl-C stops all three.
`);
}

main().catch(async (err: Error) => {
  console.error(`slipway: ${err.message}`);
  await stopAll(1);
});
