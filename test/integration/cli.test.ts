/**
 * `slipway` run as a process, the way people and scripts run it, against the real API over HTTP
 * on a real Temporal dev server, with a worker running the activity doubles.
 */
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Worker } from '@temporalio/worker';
import type { FastifyInstance } from 'fastify';
import { TokenBook } from '../../api/auth';
import { buildServer } from '../../api/server';
import { parseConfig } from '../../config/load';
import type { SlipwayConfigInput } from '../../config/schema';
import { freePort } from '../../scripts/temporal';
import type { RunState } from '../../workflows/state';
import { activityDoubles } from '../support/doubles';
import { connectTestTemporal, eventually, testWorker, uniqueTaskQueue, type TestTemporal } from '../support/temporal';

const ROOT = join(__dirname, '../..');
const BIN = join(ROOT, 'cli/slipway.mjs');
const TOKENS = { alice: 'alice-requester-token-0001', lead: 'lead-approver-token-000003' };
const FEATURE = 'Add real-time notifications when users receive new messages';

let env: TestTemporal;
let worker: Worker;
let workerDone: Promise<void>;
let app: FastifyInstance;
let base: string;
/** A checkout as `npm start` leaves it: .slipway/dev-tokens with the requester's and the approver's token. */
let checkout: string;
/** An empty HOME and working directory: no config file, no dev tokens. */
let nowhere: string;
const taskQueue = uniqueTaskQueue('cli');
const everything: string[] = [];

/** testSettings()'s shape as a config: dev, staging, production with a 6 s soak (long enough for a watch started under load to see it); spec and production gates lead decides; agents, so no person's steps. */
function config(): SlipwayConfigInput {
  return {
    repository: { path: '.' },
    services: [
      { name: 'messages', path: 'services/messages', kubernetes: { deployment: 'messages' } },
      { name: 'notifications', path: 'services/notifications', kubernetes: { deployment: 'notifications' } },
    ],
    environments: [
      { name: 'dev', namespace: 'dev' },
      { name: 'staging', namespace: 'staging' },
      { name: 'production', namespace: 'production', soak: { duration: '6s', interval: '2s' }, gate: { required: true, approvers: ['lead'] } },
    ],
    gates: { spec: { required: true, approvers: ['lead'] }, migrationReview: { required: false }, manifestReview: { required: false } },
    approvers: [{ id: 'lead' }],
    prometheus: { url: 'http://127.0.0.1:9' },
    temporal: { address: 'unused', namespace: 'default', taskQueue },
    llm: { model: 'claude-sonnet-5' },
  };
}

beforeAll(async () => {
  env = await connectTestTemporal();
  const doubles = activityDoubles({
    // Samples with the SLO checks a real analysis takes, so the soak has an error ratio and a p99 to show.
    analyzeSlo: async (input) => ({
      service: input.service.name,
      environment: input.environment.name,
      at: new Date().toISOString(),
      sample: input.sample,
      verdict: 'pass',
      detail: 'error ratio 0.1% <= 5%, p99 120ms <= 1s',
      requests: 240,
      checks: [
        { name: 'error-ratio', query: 'errors / requests', value: 0.001, threshold: 0.05, failWhen: 'above', status: 'pass', noData: 'fail', detail: '0.1% <= 5%' },
        { name: 'p99-latency', query: 'histogram_quantile(0.99, …)', value: 0.12, threshold: 1, failWhen: 'above', status: 'pass', noData: 'fail', detail: '120ms <= 1s' },
      ],
    }),
  });
  worker = await testWorker(env, taskQueue, doubles.activities);
  workerDone = worker.run();
  const tokens = TokenBook.parse(`alice:requester:${TOKENS.alice},lead:approver:${TOKENS.lead}`);
  app = await buildServer({ client: env.client, config: parseConfig(config()), tokens, queryTimeoutMs: 5_000 });
  base = await app.listen({ host: '127.0.0.1', port: 0 });
  checkout = await mkdtemp(join(tmpdir(), 'slipway-cli-checkout-'));
  await mkdir(join(checkout, '.slipway'));
  await writeFile(join(checkout, '.slipway', 'dev-tokens'), `requester=${TOKENS.alice}\napprover=${TOKENS.lead}\n`, { mode: 0o600 });
  nowhere = await mkdtemp(join(tmpdir(), 'slipway-cli-nowhere-'));
});

afterAll(async () => {
  await app?.close();
  worker?.shutdown();
  await workerDone;
  await env?.close();
});

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `slipway <args>` as its own process with only the environment given (never this process's). */
function slipway(args: string[], options: { token?: keyof typeof TOKENS; env?: NodeJS.ProcessEnv; cwd?: string } = {}): Promise<Result> {
  const environment: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: nowhere,
    SLIPWAY_API: base,
    ...(options.token ? { SLIPWAY_TOKEN: TOKENS[options.token] } : {}),
    ...options.env,
  };
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd: options.cwd ?? nowhere, env: environment, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      everything.push(stdout, stderr);
      resolve({ code, stdout, stderr });
    });
  });
}

async function get(path: string): Promise<{ status: number; text: string }> {
  const res = await fetch(`${base}${path}`, { headers: { authorization: `Bearer ${TOKENS.alice}` } });
  return { status: res.status, text: await res.text() };
}

const stateOf = async (runId: string) => JSON.parse((await get(`/runs/${runId}`)).text) as RunState;
const pendingGate = (runId: string, gate: string) => eventually(async () => ((await stateOf(runId)).gates[gate]?.status === 'pending' ? true : undefined), `gate ${gate} of ${runId}`);

describe('a run from start to report, through the CLI', () => {
  let runId: string;

  test('start; status at the spec gate says what it asks and how to approve it; the approver approves', async () => {
    const started = await slipway(['start', FEATURE, '--service', 'messages', '--service', 'notifications', '--key', `cli-${Date.now()}`], { token: 'alice' });
    expect(started).toMatchObject({ code: 0, stderr: '' });
    runId = /^started run (feature-\S+)$/m.exec(started.stdout)?.[1] ?? '';
    expect(runId).toMatch(/^feature-add-real-time-notifications-when-users-cli-/);
    expect(started.stdout).toContain(`slipway watch ${runId}`);

    await pendingGate(runId, 'spec');
    const status = await slipway(['status', runId], { token: 'alice' });
    expect(status).toMatchObject({ code: 0, stderr: '' });
    const lines = status.stdout.split('\n');
    expect(lines[0]).toBe(`${runId}  … awaiting approval`);
    expect(lines[2]).toMatch(/^ {2}phase specify · requested by alice · started \d\d:\d\d:\d\d, for \d+s/);
    expect(status.stdout).toMatch(/gate spec is waiting — approvers: lead; expires \d{4}-\d\d-\d\d \d\d:\d\d \(in 2d23h\)/);
    expect(status.stdout).toContain('      spec round 1');
    expect(status.stdout).toContain(`approve: slipway approve ${runId} spec [-m "comment"]`);
    expect(status.stdout).toContain(`reject:  slipway reject ${runId} spec -m "what to change"`);

    const approved = await slipway(['approve', runId, 'spec', '--as', 'approver'], { cwd: checkout });
    expect(approved).toMatchObject({ code: 0, stderr: '' });
  });

  test('status at the production gate shows the rollouts per environment so far', async () => {
    await pendingGate(runId, 'production');
    const status = await slipway(['status', runId], { token: 'alice' });
    expect(status.stdout).toContain('gate production is waiting — approvers: lead, not alice (four-eyes)');
    expect(status.stdout).toContain('      Deploy messages, notifications to production');
    expect(status.stdout).toMatch(/gates {2}spec ✓ lead · .*production … pending/);
    const lines = status.stdout.split('\n');
    expect(lines).toContain('    dev      messages       ✓ done           rev 2');
    expect(lines).toContain('    staging  notifications  ✓ done           rev 2');
    expect(status.stdout).toMatch(/timeline[\s\S]*rollout of notifications to staging finished/);
  });

  test('refusals: a requester approving (4), an unknown gate (3), a rejection without -m (2)', async () => {
    const requester = await slipway(['approve', runId, 'production'], { token: 'alice' });
    expect(requester.code).toBe(4);
    expect(requester.stderr).toBe('slipway: alice has the requester role and may not decide gates\n');

    const unknownGate = await slipway(['approve', runId, 'architecture', '--as', 'approver'], { cwd: checkout });
    expect(unknownGate.code).toBe(3);
    expect(unknownGate.stderr).toMatch(/^slipway: .*architecture/);

    const noComment = await slipway(['reject', runId, 'production'], { token: 'lead' });
    expect(noComment.code).toBe(2);
    expect(noComment.stderr).toMatch(/required option '-m, --message <comment>' not specified/);
    expect((await stateOf(runId)).gates.production?.status).toBe('pending');
  });

  test('the approver (from .slipway/dev-tokens) approves; approving twice is a conflict (5)', async () => {
    // In the checkout without --as, the dev tokens' requester is used: refused.
    expect((await slipway(['approve', runId, 'production'], { cwd: join(checkout, '.slipway') })).code).toBe(4);
    const approved = await slipway(['approve', runId, 'production', '-m', 'Ship it.', '--as', 'approver'], { cwd: checkout });
    expect(approved).toMatchObject({ code: 0, stderr: '' });
    expect(approved.stdout).toContain(`approved gate production (round 1) of ${runId} as lead`);

    const twice = await slipway(['approve', runId, 'production', '--as', 'approver'], { cwd: checkout });
    expect(twice.code).toBe(5);
    expect(twice.stderr).toMatch(/^slipway: .*(not pending: it was approved by lead|has ended)/);
  });

  test('watch follows the soak to the end and exits 0', async () => {
    const watched = await slipway(['watch', runId, '--interval', '0.3'], { token: 'alice' });
    expect(watched).toMatchObject({ code: 0, stderr: '' });
    // Not a terminal: plain lines, each once, the soak's progress among them.
    expect(watched.stdout).toContain(`${runId}  + succeeded`);
    expect(watched.stdout).toMatch(/^ {4}production +messages +\* soak +rev 2$/m);
    // The soak's progress, sample by sample (a poll may fall between two samples).
    const progress = watched.stdout.match(/^ {6}soak {2}\[#*-*\] \d\/4 .*\(messages, production\)$/gm) ?? [];
    expect(progress.length).toBeGreaterThanOrEqual(2);
    expect(watched.stdout).toMatch(/^ {4}production +messages +\+ done +rev 2\n {6}soak {2}\[#{20}\] 4\/4 {2}passed {2}err 0\.10% {2}p99 120ms {2}\(messages, production\)$/m);
    expect(watched.stdout).not.toContain('\u001b');
    const headers = watched.stdout.split('\n').filter((l) => l.startsWith(`${runId} `));
    expect(new Set(headers).size).toBe(headers.length);

    const json = await slipway(['watch', runId, '--json'], { token: 'alice' });
    expect(json.code).toBe(0);
    const states = json.stdout.trim().split('\n').map((line) => JSON.parse(line) as RunState);
    expect(states.at(-1)?.status).toBe('succeeded');
  });

  test('status --json, report and the production soak evidence', async () => {
    const status = await slipway(['status', runId, '--json'], { token: 'alice' });
    expect(status.stdout).toBe(`${(await get(`/runs/${runId}`)).text}\n`);

    const report = await slipway(['report', runId], { token: 'alice' });
    expect(report).toMatchObject({ code: 0, stderr: '' });
    expect(report.stdout).toMatch(/^Run report: Add real-time notifications/);
    expect(report.stdout).toMatch(new RegExp(`^  run +${runId}$`, 'm'));
    expect(report.stdout).toMatch(/^ {2}status +succeeded$/m);
    for (const section of ['SERVICES MODIFIED', 'MIGRATIONS APPLIED', 'DEPLOYMENTS', 'OBSERVABILITY', 'DOCUMENTATION', 'QUALITY METRICS', 'ROLLBACK PLAN']) expect(report.stdout).toContain(`\n${section}\n`);
    // A delivered run: the command that rolls it back, and the same steps by hand.
    expect(report.stdout).toContain(`\nROLLBACK PLAN\n  slipway rollback ${runId} -m "why" runs these steps, newest change first`);
    const markdown = await slipway(['report', runId, '--markdown'], { token: 'alice' });
    expect(markdown.stdout).toMatch(/^# Run report: Add real-time notifications/);
    expect(markdown.stdout).toContain('- Status: **succeeded**');
    const json = await slipway(['report', runId, '--json'], { token: 'alice' });
    expect(JSON.parse(json.stdout)).toMatchObject({ runId, final: true, report: { runId, status: 'succeeded', rollback: { steps: expect.any(Array) } } });

    const evidence = await slipway(['evidence', runId, '--service', 'messages', '--env', 'production'], { token: 'alice' });
    expect(evidence).toMatchObject({ code: 0, stderr: '' });
    const rows = evidence.stdout.trimEnd().split('\n');
    expect(rows[0]).toBe('soak of messages in production: 4 sample(s), page 1 of 1');
    expect(rows[2]).toMatch(/^# +TIME +VERDICT +DECISION +REQUESTS +ERROR-RATIO +P99-LATENCY$/);
    expect(rows.slice(3).map((r) => r.replace(/\d\d:\d\d:\d\d/, 'HH:MM:SS'))).toEqual(
      [1, 2, 3, 4].map((n) => `${n}  HH:MM:SS  pass     continue  240       0.001 ≤ 0.05  0.12 ≤ 1`),
    );
    const page = await slipway(['evidence', runId, '--service', 'messages', '--env', 'production', '--page-size', '3', '--page', '2', '--json'], { token: 'alice' });
    expect(page.stdout).toBe(`${(await get(`/runs/${runId}/evidence?service=messages&environment=production&page=2&pageSize=3`)).text}\n`);
    expect(JSON.parse(page.stdout).samples).toHaveLength(1);

    const missing = await slipway(['evidence', runId, '--service', 'billing'], { token: 'alice' });
    expect(missing.code).toBe(3);
    expect(missing.stderr).toContain(`run ${runId} has no soak of billing`);
  });

  test('list shows it; the config file is a token source too', async () => {
    await eventually(async () => {
      const listed = JSON.parse((await get('/runs?status=succeeded&limit=200')).text) as { runs: { runId: string }[] };
      return listed.runs.some((r) => r.runId === runId) ? true : undefined;
    }, 'the run in visibility');
    const file = join(nowhere, 'cli.json');
    await writeFile(file, JSON.stringify({ api: base, token: TOKENS.alice }), { mode: 0o600 });
    const listed = await slipway(['list', '--status', 'succeeded', '--limit', '200'], { env: { SLIPWAY_API: undefined, SLIPWAY_CLI_CONFIG: file } });
    expect(listed).toMatchObject({ code: 0, stderr: '' });
    expect(listed.stdout.split('\n')[0]).toMatch(/^RUN +STATUS +PHASE +SERVICES +STARTED +FEATURE$/);
    expect(listed.stdout).toMatch(new RegExp(`^${runId} +succeeded +report +messages,notifications +\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d +Add real-time`, 'm'));

    const json = await slipway(['list', '--json', '--limit', '1'], { token: 'alice' });
    expect(JSON.parse(json.stdout).runs).toHaveLength(1);
  });
});

describe('cancelling', () => {
  const start = async (sentence: string) => {
    const started = await slipway(['--json', 'start', sentence, '--service', 'messages'], { token: 'alice' });
    return (JSON.parse(started.stdout) as { runId: string }).runId;
  };

  test('before anything was deployed: watch exits 12', async () => {
    const runId = await start(`${FEATURE} and emails`);
    await pendingGate(runId, 'spec');
    const cancelled = await slipway(['cancel', runId, '-m', 'wrong feature'], { token: 'alice' });
    expect(cancelled).toMatchObject({ code: 0, stderr: '' });
    expect(cancelled.stdout).toContain(`cancel requested for ${runId}`);
    const watched = await slipway(['watch', runId, '--interval', '0.3'], { token: 'alice' });
    expect(watched.code).toBe(12);
    expect(watched.stdout).toContain(`${runId}  x cancelled`);
    expect(watched.stdout).toContain('reason: cancelled by alice: wrong feature');
  });

  test('after dev and staging: what they changed is rolled back, and watch exits 11', async () => {
    const runId = await start(`${FEATURE} and texts`);
    await pendingGate(runId, 'spec');
    await slipway(['approve', runId, 'spec', '--as', 'approver'], { cwd: checkout });
    await pendingGate(runId, 'production');
    expect((await slipway(['cancel', runId], { token: 'alice' })).code).toBe(0);
    const watched = await slipway(['watch', runId, '--interval', '0.3'], { token: 'alice' });
    expect(watched.code).toBe(11);
    expect(watched.stdout).toContain(`${runId}  x rolled back`);
    expect(watched.stdout).toMatch(/compensations\n {4}\+ done {4}.*messages in dev\n {4}\+ done {4}.*messages in staging\n/);
  });
});

describe('failures a person can act on', () => {
  test('an unknown run is 3 with the API message', async () => {
    expect(await slipway(['status', 'feature-nope-0'], { token: 'alice' })).toEqual({ code: 3, stdout: '', stderr: 'slipway: run feature-nope-0 not found\n' });
  });

  test('the API down is 6, naming the address and npm start', async () => {
    const address = `http://127.0.0.1:${await freePort()}`;
    const down = await slipway(['list'], { token: 'alice', env: { SLIPWAY_API: address } });
    expect(down.code).toBe(6);
    expect(down.stderr).toBe(`slipway: cannot reach the Slipway API at ${address} (ECONNREFUSED): is it running? \`npm start\` starts one locally; --api or SLIPWAY_API points elsewhere\n`);
  });

  test('no token says where tokens come from; an unknown one says which source it came from', async () => {
    const none = await slipway(['list']);
    expect(none.code).toBe(4);
    expect(none.stderr).toMatch(/^slipway: no API token: set SLIPWAY_TOKEN, .*~\/\.config\/slipway\/cli\.json.*\.slipway\/dev-tokens/);
    const unknown = await slipway(['list'], { env: { SLIPWAY_TOKEN: 'not-a-known-token-at-all' } });
    expect(unknown).toMatchObject({ code: 4, stderr: 'slipway: unknown bearer token (the token from SLIPWAY_TOKEN)\n' });
  });

  test('no output ever holds a token', () => {
    expect(everything.length).toBeGreaterThan(20);
    for (const output of everything) {
      for (const token of Object.values(TOKENS)) expect(output).not.toContain(token);
    }
  });
});

test('npx slipway works in the checkout, and the bin from any directory', async () => {
  const npx = await new Promise<Result>((resolve) => {
    const child = spawn('npx', ['--no-install', 'slipway', '--version'], { cwd: ROOT, env: process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
  expect(npx).toMatchObject({ code: 0, stdout: '0.1.0\n' });
  expect(await slipway(['--version'], { cwd: '/' })).toMatchObject({ code: 0, stdout: '0.1.0\n' });
});
