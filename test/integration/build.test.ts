/**
 * What the container image runs, without a Docker engine: the compiled output of `npm run build`
 * (tsc + the pre-built workflow bundle) started with plain `node` through the image's entrypoint
 * script, against the test Temporal server; plus the Dockerfile's references checked on disk.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { stringify } from 'yaml';
import { stopProcess } from '../../scripts/process';
import { freePort } from '../../scripts/temporal';
import { fixtureRepo } from '../support/gitRepo';
import { connectTestTemporal, eventually, uniqueTaskQueue, type TestTemporal } from '../support/temporal';

const run = promisify(execFile);
const root = resolve(__dirname, '../..');
let env: TestTemporal;
let app: string;

beforeAll(async () => {
  env = await connectTestTemporal();
  // The image's layout: /app/{dist,node_modules,bin/slipway}.
  app = await mkdtemp(join(tmpdir(), 'slipway-image-'));
  await symlink(join(root, 'node_modules'), join(app, 'node_modules'));
  await run(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', join(root, 'tsconfig.build.json'), '--outDir', join(app, 'dist')], { cwd: root });
  await run(process.execPath, ['--import', 'tsx', join(root, 'scripts/bundle-workflows.ts'), join(app, 'dist/workflow-bundle.js')], { cwd: root });
  await mkdir(join(app, 'bin'));
  await copyFile(join(root, 'deploy/docker/slipway'), join(app, 'bin/slipway'));
}, 240_000);
afterAll(() => env.close());

function startImageCommand(command: 'worker' | 'api', vars: NodeJS.ProcessEnv): { child: ChildProcess; output: () => string } {
  let output = '';
  // Plain node with no loader: a stray .ts import would fail here.
  const child = spawn('sh', [join(app, 'bin/slipway'), command], { cwd: app, env: { PATH: process.env.PATH, HOME: app, ...vars }, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  return { child, output: () => output };
}

test('the compiled worker and API start with plain node from the entrypoint; the worker loads the pre-built bundle and a run started through the API reaches its first gate', async () => {
  const { repo, worktrees } = await fixtureRepo();
  const taskQueue = uniqueTaskQueue('image');
  const configFile = join(app, 'slipway.config.yaml');
  await writeFile(
    configFile,
    stringify({
      repository: { path: repo, worktreesDir: worktrees },
      services: [{ name: 'messages', path: 'services/messages' }],
      environments: [{ name: 'production', namespace: 'production' }],
      gates: { spec: { required: true } },
      approvers: [{ id: 'lead' }],
      temporal: { address: env.address, namespace: 'default', taskQueue },
      api: { host: '127.0.0.1', port: 0 },
    }),
  );
  const [apiPort, ownPort, sdkPort] = [await freePort(), await freePort(), await freePort()];
  const common = { SLIPWAY_CONFIG: configFile, LOG_LEVEL: 'info' };
  const worker = startImageCommand('worker', { ...common, SLIPWAY_WORKER_METRICS_ADDRESS: `127.0.0.1:${ownPort}`, SLIPWAY_SDK_METRICS_ADDRESS: `127.0.0.1:${sdkPort}` });
  const token = 'dev-requester-token-00000001';
  const api = startImageCommand('api', { ...common, SLIPWAY_API_TOKENS: `dev:requester:${token}`, SLIPWAY_API_PORT: String(apiPort), SLIPWAY_API_HOST: '127.0.0.1' });
  try {
    const base = `http://127.0.0.1:${apiPort}`;
    await eventually(async () => ((await fetch(`${base}/readyz`).catch(() => undefined))?.status === 200 ? true : undefined), `the compiled API's /readyz (output: ${api.output()})`, 60_000);
    await eventually(async () => ((await fetch(`http://127.0.0.1:${ownPort}/healthz`).catch(() => undefined))?.status === 200 ? true : undefined), 'the compiled worker\'s /healthz', 60_000);
    const started = worker.output().split('\n').find((line) => line.includes('"worker started"'));
    expect(JSON.parse(started ?? '{}')).toMatchObject({ prebuiltBundle: join(app, 'dist/workflow-bundle.js'), taskQueue, tls: false });

    const res = await fetch(`${base}/runs`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ feature: 'Add real-time notifications when users receive new messages', idempotencyKey: `image-${Date.now()}` }),
    });
    expect(res.status).toBe(201);
    const { runId } = (await res.json()) as { runId: string };
    const state = await eventually(async () => {
      const body = (await (await fetch(`${base}/runs/${runId}`, { headers: { authorization: `Bearer ${token}` } })).json()) as { gates?: Record<string, { status: string }> };
      return body.gates?.spec?.status === 'pending' ? body : undefined;
    }, 'the run to wait at its spec gate');
    expect(state.gates?.spec?.status).toBe('pending');
    expect(await (await fetch(`${base}/metrics`)).text()).toMatch(/^slipway_api_runs_started_total\{outcome="created"\} 1$/m);
    await env.client.workflow.getHandle(runId).terminate('test over');
  } finally {
    await stopProcess(api.child, 'SIGTERM', 10_000);
    await stopProcess(worker.child, 'SIGTERM', 20_000);
  }
  expect(worker.output()).toContain('worker stopped');
  expect(api.child.exitCode).toBe(0);
  expect(worker.child.exitCode).toBe(0);
}, 120_000);

test('a bad Temporal setting stops the compiled worker with one line naming the field', async () => {
  const configFile = join(app, 'bad-tls.yaml');
  await writeFile(configFile, stringify({ repository: { path: '.' }, services: [{ name: 'a', path: 'a' }], environments: [{ name: 'production' }], temporal: { address: env.address, tls: { caCertEnv: 'SLIPWAY_TEST_NO_SUCH_CA' } } }));
  const worker = startImageCommand('worker', { SLIPWAY_CONFIG: configFile, SLIPWAY_WORKER_METRICS_ADDRESS: 'off', SLIPWAY_SDK_METRICS_ADDRESS: 'off' });
  const code = await new Promise<number | null>((done) => worker.child.once('exit', done));
  expect(code).toBe(1);
  expect(worker.output().trim()).toBe('slipway: temporal.tls.caCertEnv: environment variable SLIPWAY_TEST_NO_SUCH_CA is not set');
});

test('the Dockerfile copies what exists, ignores nothing it needs, and runs the entrypoint as a numeric non-root user', () => {
  const dockerfile = readFileSync(join(root, 'Dockerfile'), 'utf8');
  const ignored = readFileSync(join(root, '.dockerignore'), 'utf8').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
  const copied = [...dockerfile.matchAll(/^COPY (?!--from)(.+)$/gm)].flatMap((m) => (m[1] as string).split(/\s+/).slice(0, -1));
  expect(copied.length).toBeGreaterThan(5);
  for (const path of copied) {
    expect([path, existsSync(join(root, path))]).toEqual([path, true]);
    expect(ignored.filter((pattern) => path === pattern || path.startsWith(`${pattern}/`))).toEqual([]);
  }
  expect(dockerfile).toMatch(/^USER 10001:10001$/m);
  expect(dockerfile).toMatch(/npm prune --omit=dev/);
  expect(dockerfile).toMatch(/^ENTRYPOINT \["\/usr\/bin\/tini", "--", "\/app\/bin\/slipway"\]$/m);
  // Every port the ENV binds is exposed.
  const exposed = (dockerfile.match(/^EXPOSE (.+)$/m)?.[1] ?? '').split(/\s+/);
  for (const port of [...dockerfile.matchAll(/0\.0\.0\.0:(\d+)/g)].map((m) => m[1])) expect(exposed).toContain(port);
  // Every production dependency is in package.json's dependencies (the image prunes the rest).
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
  for (const name of ['prom-client', '@temporalio/interceptors-opentelemetry', '@opentelemetry/exporter-trace-otlp-http']) expect(Object.keys(pkg.dependencies)).toContain(name);
});
