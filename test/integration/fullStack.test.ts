/**
 * The whole promise, with every real part: Temporal, a worker, the API over HTTP, the local world
 * (OCI registry, Kubernetes control plane, local kubelet, Prometheus, PostgreSQL, the sample
 * monorepo with its bare remote, load), and the internet services through their real SDKs against
 * local fakes (Anthropic for the agents, Slack for approvals by button). Two runs of the README's
 * feature: one in person mode whose second service breaks in production and is rolled back
 * everywhere, migrations included; one written by the agents, delivered and soaked.
 */
import { execFileSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { chmod, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Worker } from '@temporalio/worker';
import type { FastifyInstance } from 'fastify';
import pino from 'pino';
import { createActivities } from '../../activities';
import { ACTION_APPROVE } from '../../activities/slack/messages';
import { TokenBook } from '../../api/auth';
import { buildServer } from '../../api/server';
import { parseConfig } from '../../config/load';
import type { SlipwayConfig, SlipwayConfigInput } from '../../config/schema';
import { freePort } from '../../scripts/temporal';
import type { GateRecord } from '../../workflows/state';
import { startConfiguredWorld, type ConfiguredWorld } from '../../world/configured';
import { applyChanges, BREACH_MIGRATION_VERSION, demoChanges, FEATURE, MIGRATION_VERSION } from '../../world/demo/changes';
import { Api, deliveredProblems, driveRun } from '../../world/demo/driver';
import { snapshotWorld, worldDifferences } from '../../world/demo/snapshot';
import { FakeAnthropic, type Block } from '../support/fakeAnthropic';
import { FakeSlack, signedInteraction } from '../support/fakeSlack';
import { connectTestTemporal, testWorker, uniqueTaskQueue, type TestTemporal } from '../support/temporal';

const TOKENS = { requester: 'dev-requester-token-0000001', approver: 'lead-approver-token-000002' };
const SECRET = 'full-stack-slack-signing-secret';
const slack = new FakeSlack();
const anthropic = new FakeAnthropic();
let env: TestTemporal;
let world: ConfiguredWorld;
let worker: Worker;
let workerDone: Promise<void>;
const servers: FastifyInstance[] = [];
let dir: string;

async function testConfig(withLlm: boolean): Promise<SlipwayConfig> {
  const example = (await import('yaml')).parse(await readFile(join(__dirname, '../../slipway.config.example.yaml'), 'utf8')) as SlipwayConfigInput;
  const worldDir = join(dir, 'world');
  const config: SlipwayConfigInput = {
    ...example,
    world: { dir: worldDir, registryPort: ports.registry, prometheusPort: ports.prometheus, scrapeInterval: '2s', loadPerSecond: 8 },
    repository: { path: join(worldDir, 'sample', 'repo'), remote: 'origin', worktreesDir: join(dir, 'worktrees') },
    images: { registry: `127.0.0.1:${ports.registry}`, insecure: true },
    environments: (example.environments ?? []).map((e) => (e.name === 'production' ? { ...e, soak: { duration: '20s', interval: '5s' } } : e)),
    // Without the example's verification: each one builds and runs a suite in the sandbox, too slow for this test on two
    // cores (test/integration/verifyActivities.test.ts runs them against the sample services), and the --breach
    // run's dev smoke test (ids with digits) would stop it in dev, before the production soak this test is about.
    // The person run (about its rollback) checks only the tests before production; the agents run also audits and reports outdated packages.
    services: (example.services ?? []).map((service) => ({ ...service, verify: {}, ...(withLlm ? {} : { checks: { test: service.checks?.test } }) })),
    prometheus: { url: `http://127.0.0.1:${ports.prometheus}`, queryTimeout: '5s' },
    analysis: { window: '20s', minRequests: 5, consecutiveFailures: 2, noData: 'inconclusive', unreachableLimit: 3 },
    sandbox: { mode: 'bubblewrap', network: { commands: ['verify', 'audit', 'outdated'] }, cacheMounts: [{ path: join(worldDir, 'sample', 'npm-cache'), env: 'NPM_CONFIG_CACHE' }] },
    approvers: [{ id: 'lead', slackUserId: 'U0LEAD' }],
    slack: { channel: '#deploys', apiUrl: slack.apiUrl, tokenEnv: 'SLIPWAY_FULLSTACK_SLACK_TOKEN', signingSecretEnv: 'SLIPWAY_FULLSTACK_SLACK_SECRET' },
    temporal: { address: 'unused', namespace: 'default', taskQueue },
  };
  if (withLlm) config.llm = { model: 'claude-sonnet-5', apiKeyEnv: 'SLIPWAY_FULLSTACK_ANTHROPIC_KEY', baseUrl: anthropic.url, maxTurns: 5 };
  return parseConfig(config);
}

const taskQueue = uniqueTaskQueue('fullstack');
const ports = { registry: 0, prometheus: 0 };
let person: { api: Api; config: SlipwayConfig; url: string };
let agents: { api: Api; config: SlipwayConfig; url: string };

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'slipway-fullstack-'));
  // Sandboxed commands run as nobody, who must be able to reach the worktrees below it.
  await chmod(dir, 0o755);
  [ports.registry, ports.prometheus] = [await freePort(), await freePort()];
  await slack.start();
  await anthropic.start();
  process.env.SLIPWAY_FULLSTACK_SLACK_TOKEN = 'xoxb-full-stack';
  process.env.SLIPWAY_FULLSTACK_ANTHROPIC_KEY = 'sk-ant-full-stack';
  const personConfig = await testConfig(false);
  world = await startConfiguredWorld(personConfig, {
    progress: () => undefined,
  });
  // The worker's activities reach the world as the worker npm start runs does: through these variables.
  Object.assign(process.env, world.env);
  env = await connectTestTemporal();
  const activities = createActivities({
    logger: pino({ level: 'silent' }),
    promtool: process.env.SLIPWAY_TEST_PROMTOOL as string,
    sandbox: personConfig.sandbox,
    crane: world.world.crane,
    namespace: 'default',
    ...(personConfig.slack ? { slack: personConfig.slack } : {}),
  });
  worker = await testWorker(env, taskQueue, activities);
  workerDone = worker.run();
  const serve = async (config: SlipwayConfig) => {
    const app = await buildServer({ client: env.client, config, tokens: TokenBook.parse(`dev:requester:${TOKENS.requester},lead:approver:${TOKENS.approver}`), slack: { signingSecret: SECRET, botToken: 'xoxb-full-stack' } });
    servers.push(app);
    const url = await app.listen({ host: '127.0.0.1', port: 0 });
    return { api: new Api(url, TOKENS), config, url };
  };
  // One worker, two APIs: what a run does is decided by the settings it started with.
  person = await serve(personConfig);
  agents = await serve(await testConfig(true));
}, 300_000);

afterAll(async () => {
  for (const app of servers) await app.close();
  worker?.shutdown();
  await workerDone;
  await env?.close();
  await world?.stop();
  await anthropic.stop();
  await slack.stop();
});

/** Approves a gate by its Slack button, as the approver's Slack user, with a request signed like Slack's. */
async function approveInSlack(url: string, runId: string, gate: GateRecord): Promise<void> {
  const button = await waitFor(() => {
    for (const post of slack.callsTo('chat.postMessage').reverse()) {
      const actions = (post.args.blocks as { type: string; elements?: { action_id: string; value: string }[] }[] | undefined)?.find((b) => b.type === 'actions');
      const value = actions?.elements?.find((e) => e.action_id === ACTION_APPROVE)?.value;
      const parsed = value === undefined ? undefined : (JSON.parse(value) as { runId: string; gate: string; round: number });
      if (parsed?.runId === runId && parsed.gate === gate.name && parsed.round === gate.round) return value;
    }
    return undefined;
  }, `the Slack message of gate ${gate.name}`);
  const { body, headers } = signedInteraction(SECRET, { type: 'block_actions', user: { id: 'U0LEAD' }, trigger_id: 't', response_url: `${slack.url}/respond/${gate.name}`, actions: [{ action_id: ACTION_APPROVE, value: button }] });
  const res = await fetch(`${url}/slack/interactions`, { method: 'POST', headers, body });
  if (res.status !== 200) throw new Error(`Slack approval of ${gate.name}: ${res.status} ${await res.text()}`);
}

async function waitFor<T>(check: () => T | undefined, what: string, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

const remoteFiles = (branch: string) =>
  execFileSync('git', ['--git-dir', world.sample.remoteUrl, 'ls-tree', '-r', '--name-only', branch], { encoding: 'utf8' }).trim().split('\n');
/** Which of `paths` the remote's branch lacks (a short list to read when it fails). */
const missingOnRemote = (branch: string, paths: string[]) => {
  const files = new Set(remoteFiles(branch));
  return paths.filter((path) => !files.has(path));
};

test('person mode: the second service breaks in production; everything is rolled back in reverse, migrations included', async () => {
  const before = await snapshotWorld(person.config, person.config.world as NonNullable<SlipwayConfig['world']>);
  const { runId } = await person.api.call<{ runId: string }>('POST', '/runs', 'requester', { feature: FEATURE, idempotencyKey: `fullstack-breach-${Date.now()}` });
  const state = await driveRun({
    api: person.api,
    runId,
    remoteUrl: world.sample.remoteUrl,
    workDir: join(dir, 'people'),
    breach: true,
    // Production checks run before its production gate; the whole suite shares two cores with this run.
    timeoutMs: 420_000,
    approve: async (gate, comment) => {
      if (gate.name === 'production') return approveInSlack(person.url, runId, gate);
      await person.api.call('POST', `/runs/${runId}/gates/${gate.name}/approve`, 'approver', comment ? { comment } : {});
    },
  });
  expect(state.status).toBe('rolled-back');
  expect(state.reason).toMatch(/^notifications in production: soak failed at sample \d+: 2 failing samples in a row: error-ratio 0\.\d+ > 0\.0500/);
  expect(state.approvals.find((a) => a.gate === 'production')).toMatchObject({ decision: 'approve', by: 'lead', via: 'slack' });
  // Every compensation ran once, newest first: notifications' own undo in production, then what
  // finished before it, in reverse: messages and its two migrations, environment by environment.
  expect(state.compensations.every((c) => c.status === 'done')).toBe(true);
  const ran = [...state.compensations].sort((a, b) => (a.at ?? '').localeCompare(b.at ?? '')).map((c) => c.name);
  const migrations = (environment: string) => `revert migrations ${MIGRATION_VERSION}, ${BREACH_MIGRATION_VERSION} of messages in ${environment}`;
  expect(ran).toEqual([
    'roll back notifications in production',
    'roll back messages in production',
    migrations('production'),
    'roll back notifications in staging',
    'roll back messages in staging',
    migrations('staging'),
    'roll back notifications in dev',
    'roll back messages in dev',
    migrations('dev'),
  ]);

  // The world, read from the world: every Deployment's pod template and every database's schema and migrations as before.
  const after = await snapshotWorld(person.config, person.config.world as NonNullable<SlipwayConfig['world']>);
  expect(worldDifferences(before, after)).toEqual([]);

  // The evidence that made the verdict: the failing samples with their query, value and threshold.
  const evidence = await person.api.call<{ samples: { verdict: string; decision?: string; checks?: { name: string; query: string; value?: number; threshold: number }[] }[] }>(
    'GET',
    `/runs/${runId}/evidence?service=notifications&environment=production`,
    'requester',
  );
  const last = evidence.samples.at(-1);
  expect(last).toMatchObject({ verdict: 'fail', decision: 'fail' });
  const ratio = last?.checks?.find((c) => c.name === 'error-ratio');
  expect(ratio?.query).toContain('grpc_server_handled_total{namespace="production",service="notifications",grpc_code!="OK"}');
  expect(ratio?.value).toBeGreaterThan(0.05);

  // The people's work is on the branch, pushed to the remote; the report says what happened.
  const branch = state.workspace?.branch ?? '';
  expect(missingOnRemote(branch, [`specs/${branch}/spec.md`, `specs/${branch}/plan.md`, `specs/${branch}/tasks.md`, `services/messages/migrations/${MIGRATION_VERSION}_add_notified_at.up.sql`])).toEqual([]);
  const report = await person.api.call<{ final: boolean; markdown: string }>('GET', `/runs/${runId}/report`, 'requester');
  expect(report.final).toBe(true);
  for (const section of ['## Approvals', '## Deployments', '## Compensations', '## Timeline']) expect(report.markdown).toContain(section);
  expect(report.markdown).toContain('**rolled-back**');
}, 480_000);

test('agents mode: the agents write spec, plan, tasks and code through the real SDK; the run is built, deployed by digest and soaked', async () => {
  // What the agents write is the same prepared change the people wrote, as tool calls.
  const base = world.sample.path;
  const content = async (specDir: string, step: 'spec' | 'plan' | 'tasks' | 'implement'): Promise<Block[]> => {
    const scratch = await mkdtemp(join(dir, 'agent-'));
    execFileSync('git', ['clone', '--quiet', base, scratch]);
    const change = demoChanges(step, specDir, { breach: false });
    await applyChanges(scratch, change.files);
    return Promise.all(change.files.map(async (f) => ({ type: 'tool_use' as const, name: 'create_file', input: { path: f.path, content: await readFile(join(scratch, f.path), 'utf8') } })));
  };
  const specDirOf = (body: { system?: { text: string }[]; messages: { content: unknown }[] }) => /specs\/\d{3,}-[a-z0-9-]+/.exec(JSON.stringify(body))?.[0] ?? 'specs/unknown';
  const submit = (input: unknown): Block => ({ type: 'tool_use', name: 'submit_result', input });
  const answers: Parameters<FakeAnthropic['answer']> = [];
  // The spec writer, the architect, the task planner: one turn each.
  const turns: { step: 'spec' | 'plan' | 'tasks'; result: unknown }[] = [
    { step: 'spec', result: { summary: 'Real-time notifications: poll for what is new; messages record delivery.', clarifications: [] } },
    { step: 'plan', result: { summary: 'messages records notified_at; notifications serves since.', services: [{ name: 'messages', integrations: ['schema', 'events'] }, { name: 'notifications', integrations: ['grpc'] }] } },
    { step: 'tasks', result: { taskCount: 5 } },
  ];
  for (const turn of turns) answers.push(async (body) => ({ blocks: [...(await content(specDirOf(body), turn.step)), submit(turn.result)], usage: { input: 1200, output: 600 } }));
  // messages: the event integrator writes the whole change (code, migration, tests); the implementer runs the tests.
  answers.push(async (body) => ({ blocks: [...(await content(specDirOf(body), 'implement')), { type: 'tool_use', name: 'commit', input: { message: 'T001-T005: notified_at, since' } }, submit({ summary: 'notified_at recorded by the relay', testsPassed: true })] }));
  answers.push({ blocks: [{ type: 'tool_use', name: 'run_command', input: { command: 'cd services/messages && npm ci --offline --ignore-scripts --no-audit --no-fund' } }, { type: 'tool_use', name: 'run_command', input: { command: 'cd services/messages && npm test' } }, submit({ summary: 'messages tests pass', testsPassed: true })] });
  answers.push({ blocks: [submit({ summary: 'since added to ListNotifications (already in the change)', testsPassed: true })] });
  answers.push({ blocks: [submit({ summary: 'notifications done', testsPassed: true })] });
  // The manifest writer keeps Slipway's template; the docs writer writes the runbook.
  answers.push((body) => {
    const dir = specDirOf(body);
    return { blocks: [submit({ paths: ['dev', 'staging', 'production'].flatMap((e) => ['messages', 'notifications'].map((s) => `${dir}/deploy/${e}/${s}.yaml`)) })] };
  });
  answers.push((body) => ({ blocks: [{ type: 'tool_use', name: 'create_file', input: { path: `${specDirOf(body)}/runbook.md`, content: '# Runbook\n\nWatch the notifications error ratio.\n' } }, submit({ paths: [`${specDirOf(body)}/runbook.md`] })] }));
  anthropic.answer(...answers);

  const { runId } = await agents.api.call<{ runId: string }>('POST', '/runs', 'requester', { feature: FEATURE, idempotencyKey: `fullstack-agents-${Date.now()}` });
  const state = await driveRun({
    api: agents.api,
    runId,
    remoteUrl: world.sample.remoteUrl,
    workDir: join(dir, 'people'),
    breach: false,
    // Production checks (tests, audit, outdated report) run before its production gate, while the suite shares two cores.
    timeoutMs: 420_000,
    approve: async (gate, comment) => {
      if (gate.name === 'spec') return approveInSlack(agents.url, runId, gate);
      await agents.api.call('POST', `/runs/${runId}/gates/${gate.name}/approve`, 'approver', comment ? { comment } : {});
    },
  });
  expect({ status: state.status, reason: state.reason }).toEqual({ status: 'succeeded', reason: undefined });
  expect(state.mode).toBe('agents');
  expect(state.cost.total.inputTokens).toBeGreaterThan(0);
  expect(anthropic.remaining).toBe(0);

  // Each namespace runs the run's digests; each database has the migration (and not the --breach one).
  const after = await snapshotWorld(agents.config, agents.config.world as NonNullable<SlipwayConfig['world']>);
  expect(deliveredProblems(state, after)).toEqual([]);
  expect(state.images.map((i) => i.service).sort()).toEqual(['messages', 'notifications']);
  expect(state.rollouts.filter((r) => r.environment === 'production').map((r) => [r.service, r.status, r.soak?.decision])).toEqual([
    ['messages', 'succeeded', 'passed'],
    ['notifications', 'succeeded', 'passed'],
  ]);
  expect(state.preDeployChecks?.filter((c) => c.check === 'test').map((c) => [c.service, c.status])).toEqual([
    ['messages', 'pass'],
    ['notifications', 'pass'],
  ]);
  const branch = state.workspace?.branch ?? '';
  expect(missingOnRemote(branch, [`specs/${branch}/spec.md`, `specs/${branch}/observability/alerts.yaml`, `specs/${branch}/runbook.md`, `specs/${branch}/report.md`])).toEqual([]);
  const report = await agents.api.call<{ markdown: string }>('GET', `/runs/${runId}/report`, 'requester');
  expect(report.markdown).toContain('**succeeded**');
  expect(report.markdown).toMatch(/\| notifications \| production \| succeeded \| \d+ \| 127\.0\.0\.1:\d+\/notifications@sha256:[0-9a-f]{64} \|/);
}, 480_000);
