import { execFileSync } from 'node:child_process';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultSandboxSettings } from '../../config/sandbox';
import type { RunSettings } from '../../config/settings';
import type { Workspace } from '../../workflows/state';
import { ensureSampleRepo, SAMPLE_SERVICE_COMMANDS, sampleCommandEnv, type SampleRepo } from '../../world/sampleRepo';
import { testActivities } from '../support/activities';
import { environmentIn, serviceIn, settingsFrom } from '../support/doubles';
import { freshDatabase, type TestDatabase } from '../support/postgres';
import { applyUpMigrations, runCommand, startSampleServer, type SampleServer } from '../support/sampleServices';

/**
 * The verification and production-check activities against the real things: bubblewrap, the
 * sample's own smoke test and integration suite calling the sample services (running as
 * processes, as the local kubelet runs them), PostgreSQL, and the npm registry for the audit.
 */

const DATABASE_VARIABLE = 'SLIPWAY_VERIFY_TEST_MESSAGES_DATABASE_URL';

let dir: string;
let sample: SampleRepo;
let workspace: Workspace;
let database: TestDatabase;
let settings: RunSettings;
let activities: ReturnType<typeof testActivities>;
const servers: Record<string, SampleServer> = {};

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'slipway-verify-'));
  // The sandbox user must reach the worktree (mkdtemp makes the folder 0700).
  await chmod(dir, 0o755);
  sample = await ensureSampleRepo({ dir: join(dir, 'world') });
  const git = (...args: string[]) => execFileSync('git', ['-C', sample.path, ...args], { encoding: 'utf8' });
  // The run's worktree, where verification runs its commands; the services run from a checkout of their own.
  workspace = { branch: '001-verify', path: join(dir, 'worktree'), specDir: 'specs/001-verify' };
  git('worktree', 'add', '--quiet', '-b', workspace.branch, workspace.path, 'main');
  const release = join(dir, 'release');
  git('worktree', 'add', '--quiet', '--detach', release, 'main');
  for (const service of ['messages', 'notifications'] as const) {
    const commands = SAMPLE_SERVICE_COMMANDS[service];
    const built = await runCommand(`(${commands.setup}) && (${commands.build})`, release, sampleCommandEnv(sample.npmCache));
    if (built.code !== 0) throw new Error(`building ${service} failed:\n${built.output}`);
  }
  database = await freshDatabase();
  await applyUpMigrations(database.url, join(release, 'services/messages/migrations'));
  servers.notifications = await startSampleServer(join(release, 'services/notifications'));
  servers.messages = await startSampleServer(join(release, 'services/messages'), { DATABASE_URL: database.url, NOTIFICATIONS_ADDR: servers.notifications.grpc });

  // What the local world's proxy publishes, for both namespaces the test verifies.
  const servicesFile = join(dir, 'services.json');
  const published = ['dev', 'staging'].flatMap((namespace) =>
    Object.entries(servers).map(([service, server]) => ({ namespace, service, ports: { grpc: server.grpc, http: server.http.replace('http://', '') } })),
  );
  await writeFile(servicesFile, JSON.stringify(published));
  process.env[DATABASE_VARIABLE] = database.url;
  const service = (name: 'messages' | 'notifications') => ({
    name,
    path: `services/${name}`,
    commands: { setup: SAMPLE_SERVICE_COMMANDS[name].setup, test: SAMPLE_SERVICE_COMMANDS[name].test },
    kubernetes: { deployment: name, grpcPort: 50051 },
    verify: { dev: SAMPLE_SERVICE_COMMANDS[name].smoke, staging: SAMPLE_SERVICE_COMMANDS[name].integration },
    checks: { audit: SAMPLE_SERVICE_COMMANDS[name].audit, outdated: SAMPLE_SERVICE_COMMANDS[name].outdated },
    ...(name === 'messages' ? { database: { urlEnv: DATABASE_VARIABLE } } : {}),
  });
  const network = { commands: ['verify', 'audit', 'outdated'] };
  const cacheMounts = [{ path: sample.npmCache, env: 'NPM_CONFIG_CACHE' }];
  settings = settingsFrom({
    repository: { path: sample.path },
    services: [service('messages'), service('notifications')],
    environments: ['dev', 'staging'].map((name) => ({ name, namespace: name, verification: { timeout: '3m', endpoints: { servicesFile } } })),
    sandbox: { network, cacheMounts },
  });
  activities = testActivities({ sandbox: { ...defaultSandboxSettings(), network, cacheMounts } });
}, 300_000);

afterAll(async () => {
  await Promise.all(Object.values(servers).map((s) => s.stop()));
  delete process.env[DATABASE_VARIABLE];
  await database?.drop();
  await rm(dir, { recursive: true, force: true });
});

function verify(service: 'messages' | 'notifications', environment: 'dev' | 'staging', command?: string) {
  const s = serviceIn(settings, service);
  const env = environmentIn(settings, environment);
  return activities.verifyDeployment({
    runId: 'feature-verify-1',
    service: s,
    environment: env,
    endpoints: settings.services,
    workspace,
    command: command ?? s.verify[environment] ?? '',
    ...(command === undefined ? { setup: s.commands.setup } : {}),
  });
}

test("dev: each service's smoke test passes against the running services, in the sandbox with the network", async () => {
  for (const service of ['messages', 'notifications'] as const) {
    const result = await verify(service, 'dev');
    expect({ service, status: result.status, reason: result.reason }).toEqual({ service, status: 'passed', reason: undefined });
    expect(result.exitCode).toBe(0);
    expect(result.output).toMatch(/# pass [23]\n# fail 0/);
  }
}, 240_000);

test("staging: messages' integration suite follows a message through PostgreSQL and the outbox to notifications", async () => {
  const result = await verify('messages', 'staging');
  expect(result.reason).toBeUndefined();
  expect(result.output).toContain('ok 1 - delivers a new message to the recipient as a notification, through the outbox');
  expect(result.output).toMatch(/# pass 5\n# fail 0/);
}, 240_000);

test('the command learns where it runs; the database URL it gets never shows in its output', async () => {
  const result = await verify('messages', 'dev', 'echo "db $DATABASE_URL"; echo "ns $SLIPWAY_NAMESPACE service $SLIPWAY_SERVICE at $MESSAGES_SERVICE_HOST:$MESSAGES_SERVICE_PORT_GRPC"; exit 3');
  expect(result).toMatchObject({ status: 'failed', exitCode: 3, reason: expect.stringMatching(/exited 3$/) });
  expect(result.output).toContain('db [DATABASE_URL]');
  expect(result.output).not.toContain(database.url);
  expect(result.output).toContain(`ns dev service messages at ${servers.messages?.grpc}`);
});

test('before production: tests pass, the audit passes or is recorded unavailable (blocking by default), the outdated report is kept', async () => {
  const messages = serviceIn(settings, 'messages');
  const result = await activities.runPreDeployChecks({ runId: 'feature-verify-1', environment: 'production', services: [messages], workspace, production: true });
  expect(result.checks.map((c) => [c.check, c.blocking])).toEqual([
    ['test', true],
    ['audit', true],
    ['outdated', false],
  ]);
  const [test, audit, outdated] = result.checks;
  expect(test).toMatchObject({ status: 'pass', exitCode: 0 });
  // This machine's registry may refuse npm's bulk advisory request: then the audit is unavailable, never a pass.
  expect(['pass', 'unavailable']).toContain(audit?.status);
  if (audit?.status === 'unavailable') {
    expect(audit.reason).toMatch(/^audit unavailable: /);
    expect(result.ok).toBe(false);
    expect(result.summary).toContain('messages: audit `cd services/messages && npm audit --audit-level=high` audit unavailable: ');
  } else {
    expect(result.ok).toBe(true);
  }
  expect(['pass', 'report']).toContain(outdated?.status);
  expect(outdated?.output).not.toMatch(/ENOTFOUND|EAI_AGAIN/);
}, 240_000);

test('a service that is down fails its smoke test, with the failing test in the output', async () => {
  await servers.notifications?.stop();
  const result = await verify('notifications', 'dev');
  expect(result.status).toBe('failed');
  expect(result.reason).toBe('`cd services/notifications && npm run smoke` exited 1');
  expect(result.output).toMatch(/not ok \d+ - /);
}, 240_000);
