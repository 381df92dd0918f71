import { buildServer } from '../../api/server';
import { parseConfig } from '../../config/load';
import type { SlipwayConfigInput } from '../../config/schema';
import { activityDoubles, type Call } from '../support/doubles';
import { eventually, uniqueTaskQueue, type TestTemporal } from '../support/temporal';
import { startTestApi, testTokens, type TestApi, type TestIdentity } from '../support/testApi';

type Who = TestIdentity;

let api: TestApi;
let env: TestTemporal;
let calls: Call[];
const taskQueue = uniqueTaskQueue('freeze-api');

const config = (windows: unknown[] = []): SlipwayConfigInput => ({
  repository: { path: '.' },
  services: [{ name: 'messages', path: 'services/messages', kubernetes: { deployment: 'messages' } }],
  environments: [{ name: 'production', namespace: 'prod', gate: { required: true, approvers: ['lead'] } }],
  gates: { spec: { required: false }, migrationReview: { required: false }, manifestReview: { required: false } },
  approvers: [{ id: 'lead' }, { id: 'carol' }],
  temporal: { address: 'unused', namespace: 'default', taskQueue },
  llm: { model: 'claude-sonnet-5' },
  freeze: { windows: windows as never },
});

beforeAll(async () => {
  const doubles = activityDoubles();
  calls = doubles.calls;
  api = await startTestApi(config(), doubles.activities);
  env = api.env;
});
afterAll(() => api.stop());

const call = (method: 'GET' | 'POST', path: string, who?: Who, body?: unknown, at?: string) => api.call(method, path, who, body, at);

test('POST /freeze and /unfreeze: approvers only, a reason required, who/when/why kept; GET /freeze for anyone', async () => {
  expect((await call('GET', '/freeze')).statusCode).toBe(401);
  expect((await call('GET', '/freeze', 'alice')).body).toEqual({ frozen: false, windows: [], history: [], waitingRuns: [] });

  const byRequester = await call('POST', '/freeze', 'alice', { reason: 'incident' });
  expect(byRequester.statusCode).toBe(403);
  expect(byRequester.body.message).toMatch(/alice has the requester role and may not freeze production/);
  expect((await call('POST', '/freeze', 'lead', {})).statusCode).toBe(400);
  const blank = await call('POST', '/freeze', 'lead', { reason: ' \u0007 ' });
  expect(blank.statusCode).toBe(400);
  expect(blank.body.message).toMatch(/needs a reason/);
  expect((await call('POST', '/unfreeze', 'lead', {})).statusCode).toBe(409);

  const frozen = await call('POST', '/freeze', 'lead', { reason: 'incident 42: payments degraded' });
  expect(frozen.statusCode).toBe(200);
  expect(frozen.body).toMatchObject({ frozen: true, manual: { by: 'lead', reason: 'incident 42: payments degraded' } });
  const twice = await call('POST', '/freeze', 'carol', { reason: 'me too' });
  expect(twice.statusCode).toBe(409);
  expect(twice.body.message).toMatch(/already frozen by lead/);
  expect((await call('GET', '/freeze', 'alice')).body).toMatchObject({ frozen: true, manual: { by: 'lead' } });

  expect((await call('POST', '/unfreeze', 'alice', {})).statusCode).toBe(403);
  const lifted = await call('POST', '/unfreeze', 'carol', { comment: 'payments recovered' });
  expect(lifted.statusCode).toBe(200);
  expect(lifted.body.frozen).toBe(false);
  expect(lifted.body.history.map((e: { action: string; by: string }) => `${e.action} ${e.by}`)).toEqual(['freeze lead', 'unfreeze carol']);
  expect((await call('POST', '/unfreeze', 'carol', {})).statusCode).toBe(409);
});

test('GET /freeze shows the scheduled windows open now from config', async () => {
  const windows = [{ name: 'weekend', timeZone: 'Europe/Berlin', reason: 'weekend', weekly: { from: 'fri 16:00', to: 'mon 08:00' } }];
  const server = await buildServer({ client: env.client, config: parseConfig(config(windows)), tokens: testTokens, queryTimeoutMs: 5_000, now: () => Date.parse('2026-11-28T12:00:00Z') });
  try {
    const reply = await call('GET', '/freeze', 'alice', undefined, await server.listen({ host: '127.0.0.1', port: 0 }));
    expect(reply.body).toMatchObject({ frozen: true, windows: [{ name: 'weekend', timeZone: 'Europe/Berlin', reason: 'weekend' }], windowsUntil: '2026-11-30T07:00:00.000Z' });
    expect(reply.body.manual).toBeUndefined();
  } finally {
    await server.close();
  }
});

test('POST /runs/:id/freeze-override: a held run goes on when an allowed approver other than its requester says why', async () => {
  expect((await call('POST', '/freeze', 'lead', { reason: 'release freeze for the audit' })).statusCode).toBe(200);
  const started = await call('POST', '/runs', 'alice', { feature: 'Add real-time notifications when users receive new messages', idempotencyKey: `freeze-${Date.now()}` });
  expect(started.statusCode).toBe(201);
  const runId: string = started.body.runId;
  const override = (who: Who, body: unknown) => call('POST', `/runs/${runId}/freeze-override`, who, body);

  await eventually(async () => ((await call('GET', `/runs/${runId}`, 'alice')).body.gates?.production?.status === 'pending' ? true : undefined), 'the production gate');
  // Not held yet: nothing to override.
  const early = await override('lead', { comment: 'hotfix' });
  expect(early.statusCode).toBe(409);
  expect(early.body.message).toMatch(/not waiting for a production freeze/);
  expect((await call('POST', `/runs/${runId}/gates/production/approve`, 'lead', {})).statusCode).toBe(200);

  const held = await eventually(async () => {
    const state = (await call('GET', `/runs/${runId}`, 'alice')).body;
    return state.frozen !== undefined ? state : undefined;
  }, 'the run to be held');
  expect(held.frozen.detail).toBe('waiting: production frozen by lead — release freeze for the audit');
  expect((await call('GET', '/freeze', 'alice')).body.waitingRuns).toEqual([runId]);
  // The list says so too, from visibility and the run's memo alone.
  const listed = await eventually(async () => {
    const runs: { runId: string; held?: string }[] = (await call('GET', '/runs?limit=200', 'alice')).body.runs;
    return runs.find((r) => r.runId === runId && r.held !== undefined);
  }, 'the held run in GET /runs');
  expect(listed.held).toBe('waiting: production frozen by lead — release freeze for the audit');

  expect((await override('alice', { comment: 'hotfix' })).statusCode).toBe(403);
  expect((await override('lead', { comment: '' })).statusCode).toBe(400);
  const notAllowed = await override('carol', { comment: 'hotfix' });
  expect(notAllowed.statusCode).toBe(403);
  expect(notAllowed.body.message).toMatch(/carol may not override a freeze for production \(allowed: lead\)/);
  expect((await call('POST', '/runs/feature-nope-0/freeze-override', 'lead', { comment: 'hotfix' })).statusCode).toBe(404);
  expect(calls.some((c) => c.name === 'deployService')).toBe(false);

  const ok = await override('lead', { comment: 'fixes the outage; cannot wait' });
  expect(ok.statusCode).toBe(200);
  expect(ok.body.override).toMatchObject({ by: 'lead', comment: 'fixes the outage; cannot wait' });
  const state = await env.client.workflow.getHandle(runId).result();
  expect(state.status).toBe('succeeded');
  expect(state.approvals.map((a: { gate: string; decision: string; by: string }) => `${a.gate} ${a.decision} ${a.by}`)).toContain('freeze-override override lead');
  expect(calls.filter((c) => c.name === 'deployService')).toHaveLength(1);
  expect((await call('POST', '/unfreeze', 'lead', {})).statusCode).toBe(200);
});
