import type { Worker } from '@temporalio/worker';
import type { FastifyInstance } from 'fastify';
import { TokenBook } from '../../api/auth';
import { createApiMetrics } from '../../api/metrics';
import { buildServer } from '../../api/server';
import { parseConfig } from '../../config/load';
import { activityDoubles } from '../support/doubles';
import { connectTestTemporal, eventually, testWorker, uniqueTaskQueue, type TestTemporal } from '../support/temporal';

const TOKENS = { alice: 'alice-requester-token-0001', lead: 'lead-approver-token-000003', carol: 'carol-approver-token-00004' };
const tokens = TokenBook.parse(`alice:requester:${TOKENS.alice},lead:approver:${TOKENS.lead},carol:approver:${TOKENS.carol}`);
const taskQueue = uniqueTaskQueue('api-metrics');

let env: TestTemporal;
let worker: Worker;
let workerDone: Promise<void>;
let app: FastifyInstance;
let base: string;

beforeAll(async () => {
  env = await connectTestTemporal();
  worker = await testWorker(env, taskQueue, activityDoubles().activities);
  workerDone = worker.run();
  const config = parseConfig({
    repository: { path: '.' },
    services: [{ name: 'messages', path: 'services/messages' }],
    environments: [{ name: 'production', namespace: 'prod', gate: { required: true, approvers: ['lead'] } }],
    gates: { spec: { required: true, approvers: ['lead'] }, migrationReview: { required: false }, manifestReview: { required: false } },
    approvers: [{ id: 'lead' }, { id: 'carol' }],
    temporal: { address: 'unused', namespace: 'default', taskQueue },
  });
  app = await buildServer({ client: env.client, config, tokens, metrics: createApiMetrics({ client: env.client, openRunsCacheMs: 0 }) });
  base = await app.listen({ host: '127.0.0.1', port: 0 });
});
afterAll(async () => {
  await app.close();
  worker.shutdown();
  await workerDone;
  await env.close();
});

const call = async (method: string, path: string, who?: keyof typeof TOKENS, body?: unknown) => {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: { ...(who ? { authorization: `Bearer ${TOKENS[who]}` } : {}), ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  return { status: res.status, text: await res.text() };
};

/** Values of the exposition's sample lines that carry every given label. */
function lines(text: string, name: string, labels: Record<string, string>): number[] {
  return text
    .split('\n')
    .filter((line) => line.startsWith(`${name}{`) && Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`)))
    .map((line) => Number(line.split(' ').pop()));
}
const value = (text: string, name: string, labels: Record<string, string>) => lines(text, name, labels).reduce((a, b) => a + b, 0);

test('GET /metrics counts requests by route template, runs started and gate decisions by outcome, and open runs from visibility', async () => {
  const body = { feature: 'Add real-time notifications when users receive new messages', idempotencyKey: `metrics-${Date.now()}` };
  const started = await call('POST', '/runs', 'alice', body);
  expect(started.status).toBe(201);
  const { runId } = JSON.parse(started.text) as { runId: string };
  const again = await call('POST', '/runs', 'alice', body);
  expect(again.status).toBe(200);
  await eventually(async () => (JSON.parse((await call('GET', `/runs/${runId}`, 'alice')).text).gates?.spec?.status === 'pending' ? true : undefined), 'the spec gate');

  // Visibility sees the run waiting at its gate (it is eventually consistent: poll).
  await eventually(async () => {
    const text = (await call('GET', '/metrics')).text;
    return value(text, 'slipway_runs_open', { phase: 'specify', status: 'awaiting-approval' }) >= 1 ? true : undefined;
  }, 'slipway_runs_open{phase="specify",status="awaiting-approval"}');

  expect((await call('POST', `/runs/${runId}/gates/spec/approve`, 'carol', {})).status).toBe(403);
  expect((await call('POST', `/runs/${runId}/gates/spec/approve`, 'lead', {})).status).toBe(200);
  expect((await call('POST', `/runs/${runId}/gates/spec/approve`, 'lead', {})).status).toBe(409);
  expect([404, 409]).toContain((await call('POST', `/runs/${runId}/gates/no-such-gate/approve`, 'lead', {})).status);
  expect((await call('GET', '/runs/feature-that-does-not-exist-1', 'alice')).status).toBe(404);
  expect((await call('GET', '/nowhere', 'alice')).status).toBe(404);

  const metrics = await call('GET', '/metrics');
  expect(metrics.status).toBe(200);
  const text = metrics.text;
  expect(value(text, 'slipway_api_runs_started_total', { outcome: 'created' })).toBe(1);
  expect(value(text, 'slipway_api_runs_started_total', { outcome: 'existing' })).toBe(1);
  expect(value(text, 'slipway_api_gate_decisions_total', { gate: 'spec', decision: 'approve', outcome: 'forbidden' })).toBe(1);
  expect(value(text, 'slipway_api_gate_decisions_total', { gate: 'spec', decision: 'approve', outcome: 'accepted' })).toBe(1);
  expect(value(text, 'slipway_api_gate_decisions_total', { gate: 'spec', decision: 'approve', outcome: 'not-pending' })).toBe(1);
  // A gate that does not exist never becomes a label value.
  expect(value(text, 'slipway_api_gate_decisions_total', { gate: 'other' })).toBe(1);
  expect(text).not.toContain('no-such-gate');
  // Route templates, never raw URLs with run ids.
  expect(value(text, 'slipway_api_requests_total', { method: 'GET', route: '/runs/:id', status_code: '200' })).toBeGreaterThanOrEqual(1);
  expect(value(text, 'slipway_api_requests_total', { method: 'GET', route: '/metrics', status_code: '200' })).toBeGreaterThanOrEqual(1);
  expect(value(text, 'slipway_api_requests_total', { method: 'GET', route: '/runs/:id', status_code: '404' })).toBe(1);
  expect(value(text, 'slipway_api_requests_total', { route: 'unmatched', status_code: '404' })).toBe(1);
  expect(text).not.toContain(runId);
  expect(value(text, 'slipway_api_request_duration_seconds_count', { method: 'POST', route: '/runs', status_code: '201' })).toBe(1);
  expect(text).toMatch(/^slipway_api_process_cpu_seconds_total /m);
});

test('/metrics needs no token (Prometheus scrapes it) but every run route still does', async () => {
  expect((await call('GET', '/metrics')).status).toBe(200);
  expect((await call('GET', '/runs')).status).toBe(401);
});
