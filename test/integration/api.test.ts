import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { stringify } from 'yaml';
import type { Worker } from '@temporalio/worker';
import type { FastifyInstance } from 'fastify';
import { TokenBook } from '../../api/auth';
import { buildServer } from '../../api/server';
import { loadConfig, parseConfig } from '../../config/load';
import type { SlipwayConfigInput } from '../../config/schema';
import { activityDoubles, type Call } from '../support/doubles';
import { connectTestTemporal, eventually, testWorker, uniqueTaskQueue, type TestTemporal } from '../support/temporal';

const TOKENS = {
  alice: 'alice-requester-token-0001',
  bob: 'bob-requester-token-00002',
  lead: 'lead-approver-token-000003',
  carol: 'carol-approver-token-00004',
};
const tokens = TokenBook.parse(
  `alice:requester:${TOKENS.alice},bob:requester:${TOKENS.bob},lead:approver:${TOKENS.lead},carol:approver:${TOKENS.carol}`,
);

let env: TestTemporal;
let worker: Worker;
let workerDone: Promise<void>;
let app: FastifyInstance;
let base: string;
let calls: Call[];
const taskQueue = uniqueTaskQueue('api');

function configFor(queue: string): SlipwayConfigInput {
  return {
    repository: { path: '.' },
    services: [
      { name: 'messages', path: 'services/messages', kubernetes: { deployment: 'messages' } },
      { name: 'notifications', path: 'services/notifications' },
    ],
    environments: [{ name: 'production', namespace: 'prod', gate: { required: true, approvers: ['lead'] } }],
    gates: { spec: { required: true, approvers: ['lead'] }, migrationReview: { required: false }, manifestReview: { required: false } },
    approvers: [{ id: 'lead' }, { id: 'carol' }],
    temporal: { address: 'unused', namespace: 'default', taskQueue: queue },
    // Agents mode, with the agents as doubles: no person's steps to wait for.
    llm: { model: 'claude-sonnet-5' },
  };
}

beforeAll(async () => {
  env = await connectTestTemporal();
  const doubles = activityDoubles();
  calls = doubles.calls;
  worker = await testWorker(env, taskQueue, doubles.activities);
  workerDone = worker.run();
  app = await buildServer({ client: env.client, config: parseConfig(configFor(taskQueue)), tokens, queryTimeoutMs: 5_000, temporalUiUrl: 'http://ui.test' });
  base = await app.listen({ host: '127.0.0.1', port: 0 });
});
afterAll(async () => {
  await app.close();
  worker.shutdown();
  await workerDone;
  await env.close();
});

type Who = keyof typeof TOKENS;

interface Reply {
  statusCode: number;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- test reads arbitrary JSON
  json(): any;
}

/** A real HTTP request to the listening API. */
async function request(url: string, init: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<Reply> {
  const res = await fetch(url, init);
  const text = await res.text();
  return { statusCode: res.status, json: () => JSON.parse(text) };
}

const call = (method: 'GET' | 'POST', path: string, who?: Who, body?: unknown) =>
  request(`${base}${path}`, {
    method,
    headers: { ...(who ? { authorization: `Bearer ${TOKENS[who]}` } : {}), ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(body !== undefined ? { body: typeof body === 'string' ? body : JSON.stringify(body) } : {}),
  });

const feature = 'Add real-time notifications when users receive new messages';
let runCounter = 0;
const newRun = async (who: Who = 'alice', extra: Record<string, unknown> = {}) => {
  const res = await call('POST', '/runs', who, { feature, idempotencyKey: `api-${Date.now()}-${++runCounter}`, ...extra });
  expect(res.statusCode).toBe(201);
  return res.json() as { runId: string; created: boolean; temporalUiUrl: string };
};
const waitForGate = (runId: string, gate: string, round = 1) =>
  eventually(async () => {
    const res = await call('GET', `/runs/${runId}`, 'alice');
    const state = res.json();
    return res.statusCode === 200 && state.gates[gate]?.status === 'pending' && state.gates[gate].round === round ? state : undefined;
  }, `gate ${gate} round ${round}`);

describe('health and docs', () => {
  test('healthz and readyz answer without a token; readyz is 503 when Temporal is unreachable', async () => {
    expect((await call('GET', '/healthz')).json()).toEqual({ ok: true });
    expect((await call('GET', '/readyz')).statusCode).toBe(200);

    const deadClient = new Client({ connection: Connection.lazy({ address: '127.0.0.1:1' }) });
    const down = await buildServer({ client: deadClient, config: parseConfig(configFor(taskQueue)), tokens });
    const res = await request(`${await down.listen({ host: '127.0.0.1', port: 0 })}/readyz`);
    expect(res.statusCode).toBe(503);
    expect(res.json().ok).toBe(false);
    await down.close();
  });

  test('the OpenAPI document is generated from the route schemas', async () => {
    const doc = (await call('GET', '/openapi.json')).json();
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining(['/runs', '/runs/{id}', '/runs/{id}/gates/{gate}/approve', '/runs/{id}/gates/{gate}/reject', '/runs/{id}/cancel', '/healthz', '/readyz']),
    );
    expect(doc.paths['/runs'].post.requestBody.content['application/json'].schema.required).toContain('feature');
  });
});

describe('authentication', () => {
  test.each([
    ['no header', undefined],
    ['not a bearer', 'Basic abc'],
    ['unknown token', 'Bearer not-a-known-token-at-all'],
  ])('%s gets 401', async (_name, authorization) => {
    const res = await request(`${base}/runs`, { headers: authorization ? { authorization } : {} });
    expect(res.statusCode).toBe(401);
    expect(res.json().message).toMatch(/bearer token/);
  });
});

describe('starting runs', () => {
  test.each([
    ['malformed JSON', '{"feature": ', /JSON/i],
    ['no feature', {}, /feature/],
    ['a feature too short', { feature: 'short' }, /at least 10 characters/],
    ['an unknown service', { feature, services: ['billing'] }, /unknown service\(s\): billing/],
    ['a bad idempotency key', { feature, idempotencyKey: 'has spaces' }, /idempotencyKey/],
    ['a feature of control characters only', { feature: '\u0000'.repeat(11) }, /at least 10 characters \(control characters and spaces do not count\)/],
    ['a feature of spaces and newlines', { feature: ' \n\t '.repeat(5) }, /at least 10 characters/],
  ])('%s gets 400 with a message', async (_name, body, message) => {
    const res = await call('POST', '/runs', 'alice', body);
    expect(res.statusCode).toBe(400);
    expect(res.json().message).toMatch(message);
  });

  test('a repeated idempotency key returns the same run, never a second one', async () => {
    const key = `same-${Date.now()}`;
    const first = await call('POST', '/runs', 'alice', { feature, idempotencyKey: key });
    expect(first.statusCode).toBe(201);
    const { runId, temporalUiUrl } = first.json();
    expect(runId).toBe(`feature-add-real-time-notifications-when-users-${key}`);
    expect(temporalUiUrl).toBe(`http://ui.test/namespaces/default/workflows/${runId}`);

    const again = await call('POST', '/runs', 'alice', { feature, idempotencyKey: key });
    expect(again.statusCode).toBe(200);
    expect(again.json()).toMatchObject({ runId, created: false });

    const clash = await call('POST', '/runs', 'alice', { feature: `${feature} and emails`, idempotencyKey: key });
    expect(clash.statusCode).toBe(409);
    expect(clash.json().message).toMatch(/different feature/);
    await call('POST', `/runs/${runId}/cancel`, 'lead', {});
  });
});

describe('following and deciding a run', () => {
  test('GET /runs/:id shows the state; unknown runs are 404', async () => {
    const { runId } = await newRun();
    const state = await waitForGate(runId, 'spec');
    expect(state).toMatchObject({ runId, requester: 'alice', status: 'awaiting-approval', phase: 'specify' });
    expect((await call('GET', '/runs/feature-nope-0', 'alice')).statusCode).toBe(404);
    await call('POST', `/runs/${runId}/cancel`, 'alice', {});
  });

  test('GET /runs filters by status and phase through visibility', async () => {
    const { runId } = await newRun();
    await waitForGate(runId, 'spec');
    const listed = await eventually(async () => {
      const res = await call('GET', '/runs?status=awaiting-approval&phase=specify&limit=200', 'bob');
      const runs = res.json().runs as { runId: string; status: string; phase: string; feature: string }[];
      return runs.find((r) => r.runId === runId);
    }, 'run in visibility');
    expect(listed).toMatchObject({ status: 'awaiting-approval', phase: 'specify', feature });
    expect((await call('GET', '/runs?status=sleeping', 'bob')).statusCode).toBe(400);
    expect((await call('GET', "/runs?phase=x' OR 1=1", 'bob')).statusCode).toBe(400);
    await call('POST', `/runs/${runId}/cancel`, 'alice', {});
  });

  test('gate decisions: roles, allowed approvers, comments, unknown gates, reject-and-revise, approve, four-eyes', async () => {
    const { runId } = await newRun('lead');
    await waitForGate(runId, 'spec');
    const gate = (name: string, action: 'approve' | 'reject', who: Who, body: unknown = {}) => call('POST', `/runs/${runId}/gates/${name}/${action}`, who, body);

    expect((await gate('spec', 'approve', 'alice')).statusCode).toBe(403); // requester role
    const notAllowed = await gate('spec', 'approve', 'carol');
    expect(notAllowed.statusCode).toBe(403);
    expect(notAllowed.json().message).toMatch(/carol may not decide gate "spec"/);
    expect((await gate('spec', 'reject', 'lead', {})).statusCode).toBe(400);
    expect((await gate('architecture', 'approve', 'lead')).statusCode).toBe(404);
    expect((await call('POST', `/runs/feature-nope-0/gates/spec/approve`, 'lead', {})).statusCode).toBe(404);

    const rejected = await gate('spec', 'reject', 'lead', { comment: 'Say what happens offline.' });
    expect(rejected.statusCode).toBe(200);
    expect(rejected.json().gate).toMatchObject({ name: 'spec', status: 'rejected', decidedBy: 'lead', comment: 'Say what happens offline.' });
    await waitForGate(runId, 'spec', 2);

    const approved = await gate('spec', 'approve', 'lead', { comment: 'Looks right.' });
    expect(approved.statusCode).toBe(200);
    const twice = await gate('spec', 'approve', 'lead');
    expect(twice.statusCode).toBe(409);
    expect(twice.json().message).toMatch(/not pending: it was approved by lead/);

    // lead requested this run, so lead may not approve its production gate.
    await waitForGate(runId, 'production');
    const fourEyes = await gate('production', 'approve', 'lead');
    expect(fourEyes.statusCode).toBe(403);
    expect(fourEyes.json().message).toMatch(/four-eyes/);
    await call('POST', `/runs/${runId}/cancel`, 'lead', {});
  });

  test('cancel: only the requester or an approver; an ended run is 409', async () => {
    const { runId } = await newRun('alice');
    await waitForGate(runId, 'spec');
    expect((await call('POST', `/runs/${runId}/cancel`, 'bob', {})).statusCode).toBe(403);
    const cancelled = await call('POST', `/runs/${runId}/cancel`, 'alice', { reason: 'wrong feature' });
    expect(cancelled.statusCode).toBe(202);
    const state = await eventually(async () => {
      const s = (await call('GET', `/runs/${runId}`, 'alice')).json();
      return s.status === 'cancelled' ? s : undefined;
    }, 'cancelled state');
    expect(state.reason).toBe('cancelled by alice: wrong feature');
    await env.client.workflow.getHandle(runId).result().catch(() => undefined);
    expect((await call('POST', `/runs/${runId}/cancel`, 'alice', {})).statusCode).toBe(409);
    expect((await call('POST', `/runs/${runId}/gates/spec/approve`, 'lead', {})).statusCode).toBe(409);
    expect((await call('POST', `/runs/feature-nope-0/cancel`, 'alice', {})).statusCode).toBe(404);
  });

  test('unknown routes are 404 with a message', async () => {
    const res = await call('GET', '/nothing-here', 'alice');
    expect(res.statusCode).toBe(404);
    expect(res.json().message).toMatch(/no route GET \/nothing-here/);
  });
});

describe('settings frozen at start, and evidence page by page', () => {
  test('control characters never reach the run; the sentence is kept readable', async () => {
    const res = await call('POST', '/runs', 'alice', { feature: 'Add\u0000 real-time\nnotifications\u001b[31m for users', idempotencyKey: `ctl-${Date.now()}` });
    expect(res.statusCode).toBe(201);
    const state = await waitForGate(res.json().runId, 'spec');
    expect(state.feature).toBe('Add real-time notifications [31m for users');
    await call('POST', `/runs/${res.json().runId}/cancel`, 'alice', {});
  });

  test('editing the config mid-run changes nothing for a running run; a new run uses the new values', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'slipway-frozen-'));
    const file = join(dir, 'slipway.config.yaml');
    const configWith = (deployment: string, errorRatio: number) => {
      const config = configFor(taskQueue);
      config.services = [{ name: 'messages', path: 'services/messages', kubernetes: { deployment }, slo: { errorRatio } }];
      config.environments = [{ name: 'production', namespace: 'prod', soak: { duration: '1500ms', interval: '500ms' }, gate: { required: false } }];
      return stringify(config);
    };
    const serve = async () => {
      const server = await buildServer({ client: env.client, config: await loadConfig(file), tokens, queryTimeoutMs: 5_000 });
      return { server, url: await server.listen({ host: '127.0.0.1', port: 0 }) };
    };
    const start = async (url: string) => (await request(`${url}/runs`, { method: 'POST', headers: { authorization: `Bearer ${TOKENS.alice}`, 'content-type': 'application/json' }, body: JSON.stringify({ feature, idempotencyKey: `frozen-${Date.now()}` }) })).json().runId as string;

    await writeFile(file, configWith('messages', 0.05));
    const before = await serve();
    const first = await start(before.url);
    await waitForGate(first, 'spec');
    await before.server.close();
    // The config is edited and the API restarted while the first run waits at its spec gate.
    await writeFile(file, configWith('messages-v2', 0.01));
    const after = await serve();
    const second = await start(after.url);
    await waitForGate(second, 'spec');
    for (const runId of [first, second]) {
      await call('POST', `/runs/${runId}/gates/spec/approve`, 'lead', {});
      await env.client.workflow.getHandle(runId).result();
    }
    await after.server.close();

    const used = (runId: string) => ({
      deployments: calls.filter((c) => c.name === 'deployService' && (c.input as { runId: string }).runId === runId).map((c) => (c.input as { service: { kubernetes: { deployment: string } } }).service.kubernetes.deployment),
      thresholds: [...new Set(calls.filter((c) => c.name === 'analyzeSlo' && (c.input as { runId: string }).runId === runId).map((c) => (c.input as { service: { slo: { errorRatio: number } } }).service.slo.errorRatio))],
    });
    expect(used(first)).toEqual({ deployments: ['messages'], thresholds: [0.05] });
    expect(used(second)).toEqual({ deployments: ['messages-v2'], thresholds: [0.01] });

    // The soak's samples stay with its analysis child; the API pages through them.
    const page = (n: number, size: number) => call('GET', `/runs/${first}/evidence?service=messages&environment=production&page=${n}&pageSize=${size}`, 'alice');
    const one = (await page(1, 3)).json();
    expect(one).toMatchObject({ runId: first, service: 'messages', environment: 'production', kind: 'soak', total: 4, pages: 2, page: 1 });
    expect(one.samples.map((s: { sample: number }) => s.sample)).toEqual([1, 2, 3]);
    expect((await page(2, 3)).json().samples.map((s: { sample: number }) => s.sample)).toEqual([4]);
    expect((await call('GET', `/runs/${first}/evidence?service=billing`, 'alice')).statusCode).toBe(404);
    expect((await call('GET', `/runs/${first}/evidence?service=messages&pageSize=1000`, 'alice')).statusCode).toBe(400);
  });
});

describe('answers under load', () => {
  test('GET /runs lists from visibility alone: the waiting gate, requester and branch from the memo, one page at a time', async () => {
    const first = await newRun('alice');
    const second = await newRun('bob');
    await waitForGate(first.runId, 'spec');
    await waitForGate(second.runId, 'spec');
    const row = await eventually(async () => {
      const runs = (await call('GET', '/runs?status=awaiting-approval&limit=200', 'alice')).json().runs as { runId: string; requester?: string; waitingFor?: { gate: string } }[];
      return runs.find((r) => r.runId === second.runId && r.waitingFor !== undefined);
    }, 'the run with its waiting gate in visibility');
    expect(row).toMatchObject({ requester: 'bob', waitingFor: { gate: 'spec', round: 1 } });
    // Pages: one row each, the second page continues where the first stopped.
    const one = (await call('GET', '/runs?status=awaiting-approval&limit=1', 'alice')).json();
    expect(one.runs).toHaveLength(1);
    expect(typeof one.nextPageToken).toBe('string');
    const two = (await call('GET', `/runs?status=awaiting-approval&limit=1&pageToken=${one.nextPageToken}`, 'alice')).json();
    expect(two.runs).toHaveLength(1);
    expect(two.runs[0].runId).not.toBe(one.runs[0].runId);
    expect((await call('GET', '/runs?pageToken=not%20a%20token', 'alice')).statusCode).toBe(400);
    for (const { runId } of [first, second]) await call('POST', `/runs/${runId}/cancel`, 'lead', {});
  });

  test('with no worker to answer, GET /runs/:id still answers from the copy the run keeps, marked stale', async () => {
    const queue = uniqueTaskQueue('stale');
    const lonely = await testWorker(env, queue, activityDoubles().activities);
    const app = await buildServer({ client: env.client, config: parseConfig(configFor(queue)), tokens, queryTimeoutMs: 1_000 });
    const url = await app.listen({ host: '127.0.0.1', port: 0 });
    const ask = (path: string) => request(`${url}${path}`, { headers: { authorization: `Bearer ${TOKENS.alice}` } });
    let runId = '';
    await lonely.runUntil(async () => {
      const res = await request(`${url}/runs`, { method: 'POST', headers: { authorization: `Bearer ${TOKENS.alice}`, 'content-type': 'application/json' }, body: JSON.stringify({ feature, idempotencyKey: `stale-${Date.now()}` }) });
      runId = res.json().runId;
      await eventually(async () => ((await ask(`/runs/${runId}`)).json().gates?.spec?.status === 'pending' ? true : undefined), 'spec gate');
    });
    // The worker is gone: the query cannot be answered, the memo can.
    const res = await ask(`/runs/${runId}`);
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ runId, stale: true, status: 'awaiting-approval', gates: { spec: { status: 'pending' } } });
    expect(Date.parse(res.json().asOf)).toBeGreaterThan(Date.now() - 60_000);
    await app.close();
    await env.client.workflow.getHandle(runId).terminate('test over');
  });

  test('a run no worker has taken up yet answers with its state as of the start, marked stale', async () => {
    const app = await buildServer({ client: env.client, config: parseConfig(configFor(uniqueTaskQueue('nobody'))), tokens, queryTimeoutMs: 500 });
    const url = await app.listen({ host: '127.0.0.1', port: 0 });
    const headers = { authorization: `Bearer ${TOKENS.alice}`, 'content-type': 'application/json' };
    const started = await request(`${url}/runs`, { method: 'POST', headers, body: JSON.stringify({ feature, idempotencyKey: `queued-${Date.now()}` }) });
    expect(started.statusCode).toBe(201);
    const { runId } = started.json();
    const res = await request(`${url}/runs/${runId}`, { headers });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ runId, feature, requester: 'alice', status: 'running', phase: 'specify', stale: true, timeline: [] });
    await app.close();
    await env.client.workflow.getHandle(runId).terminate('test over');
  });

  test('GET /runs/:id/report: from the run while it goes on, from its memo once it ended (no worker needed), stale from the memo state otherwise', async () => {
    const queue = uniqueTaskQueue('report');
    const lonely = await testWorker(env, queue, activityDoubles().activities);
    const app = await buildServer({ client: env.client, config: parseConfig(configFor(queue)), tokens, queryTimeoutMs: 1_000 });
    const url = await app.listen({ host: '127.0.0.1', port: 0 });
    const ask = (path: string, who: Who = 'alice', method = 'GET') => request(`${url}${path}`, { method, headers: { authorization: `Bearer ${TOKENS[who]}`, ...(method === 'POST' ? { 'content-type': 'application/json' } : {}) }, ...(method === 'POST' ? { body: '{}' } : {}) });
    const start = async (key: string) => (await request(`${url}/runs`, { method: 'POST', headers: { authorization: `Bearer ${TOKENS.alice}`, 'content-type': 'application/json' }, body: JSON.stringify({ feature, idempotencyKey: `${key}-${Date.now()}` }) })).json().runId as string;
    let ended = '';
    let waiting = '';
    await lonely.runUntil(async () => {
      ended = await start('report-ended');
      waiting = await start('report-waiting');
      for (const runId of [ended, waiting]) await eventually(async () => ((await ask(`/runs/${runId}`)).json().gates?.spec?.status === 'pending' ? true : undefined), 'spec gate');
      const live = (await ask(`/runs/${ended}/report`)).json();
      expect(live).toMatchObject({ runId: ended, final: false, report: { status: 'awaiting-approval', factsGathered: false, rollback: { steps: [] } } });
      expect(live.markdown).toContain('- **Not final**');
      expect((await ask(`/runs/${ended}/cancel`, 'lead', 'POST')).statusCode).toBe(202);
      // Cancelled is published before the report is written: wait for the run to close.
      await env.client.workflow.getHandle(ended).result().catch(() => undefined);
    });
    // No worker any more: the ended run's final report is in its memo; the waiting one is made from its memo state.
    const final = await ask(`/runs/${ended}/report`);
    expect(final.statusCode).toBe(200);
    expect(final.json()).toMatchObject({ runId: ended, status: 'cancelled', final: true, report: { factsGathered: true, headCommit: 'h'.repeat(40), status: 'cancelled' } });
    expect(final.json().stale).toBeUndefined();
    expect(final.json().markdown).toMatch(/^# Run report: /);
    const stale = (await ask(`/runs/${waiting}/report`)).json();
    expect(stale).toMatchObject({ runId: waiting, stale: true, final: false, report: { factsGathered: false } });
    expect((await ask('/runs/feature-nothing-here/report')).statusCode).toBe(404);
    await app.close();
    await env.client.workflow.getHandle(waiting).terminate('test over');
  });
});
