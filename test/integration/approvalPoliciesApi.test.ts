import type { Worker } from '@temporalio/worker';
import type { FastifyInstance } from 'fastify';
import { TokenBook } from '../../api/auth';
import { buildServer } from '../../api/server';
import { parseConfig } from '../../config/load';
import type { SlipwayConfigInput } from '../../config/schema';
import { activityDoubles } from '../support/doubles';
import { connectTestTemporal, eventually, testWorker, uniqueTaskQueue, type TestTemporal } from '../support/temporal';

const TOKENS = {
  alice: 'alice-requester-token-0001',
  lead: 'lead-approver-token-000003',
  carol: 'carol-approver-token-00004',
  dana: 'dana-approver-token-000005',
};
const tokens = TokenBook.parse(Object.entries(TOKENS).map(([name, token]) => `${name}:${name === 'alice' ? 'requester' : 'approver'}:${token}`).join(','));

let env: TestTemporal;
let worker: Worker;
let workerDone: Promise<void>;
let app: FastifyInstance;
let base: string;
const taskQueue = uniqueTaskQueue('policies-api');

const config: SlipwayConfigInput = {
  repository: { path: '.' },
  services: [{ name: 'messages', path: 'services/messages', kubernetes: { deployment: 'messages' } }],
  environments: [{ name: 'production', namespace: 'prod', gate: { required: true, approvers: ['reviewers'] } }],
  // The spec needs two of the reviewers group; the API token names are the approver ids.
  gates: { spec: { required: true, approvers: ['reviewers'], approvals: 2 }, migrationReview: { required: false }, manifestReview: { required: false } },
  approvers: [{ id: 'lead' }, { id: 'carol' }, { id: 'dana' }],
  approverGroups: { reviewers: ['lead', 'carol', 'dana'] },
  temporal: { address: 'unused', namespace: 'default', taskQueue },
  llm: { model: 'claude-sonnet-5' },
};

beforeAll(async () => {
  env = await connectTestTemporal();
  worker = await testWorker(env, taskQueue, activityDoubles().activities);
  workerDone = worker.run();
  app = await buildServer({ client: env.client, config: parseConfig(config), tokens, queryTimeoutMs: 5_000 });
  base = await app.listen({ host: '127.0.0.1', port: 0 });
});
afterAll(async () => {
  await app.close();
  worker.shutdown();
  await workerDone;
  await env.close();
});

const call = async (method: 'GET' | 'POST', path: string, who: keyof typeof TOKENS, body?: unknown) => {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: { authorization: `Bearer ${TOKENS[who]}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  return { statusCode: res.status, body: (await res.json()) as Record<string, unknown> & { gate?: Record<string, unknown>; message?: string } };
};

test('a 2-of-3 gate through the API: the first approval keeps it pending and shows in GET /runs/:id, the same approver twice is 409, a second opens it', async () => {
  const created = await call('POST', '/runs', 'alice', { feature: 'Add real-time notifications when users receive new messages', idempotencyKey: `policies-${Date.now()}` });
  expect(created.statusCode).toBe(201);
  const runId = created.body.runId as string;
  await eventually(async () => {
    const res = await call('GET', `/runs/${runId}`, 'alice');
    return (res.body.gates as Record<string, { status: string }> | undefined)?.spec?.status === 'pending' ? res : undefined;
  }, 'spec gate pending');

  const first = await call('POST', `/runs/${runId}/gates/spec/approve`, 'lead', { comment: 'reads well' });
  expect(first.statusCode).toBe(200);
  expect(first.body.gate).toMatchObject({ status: 'pending', approvalsRequired: 2, approvedBy: [{ by: 'lead', comment: 'reads well', via: 'api' }] });

  const shown = await call('GET', `/runs/${runId}`, 'alice');
  expect(shown.body).toMatchObject({ gates: { spec: { status: 'pending', approvalsRequired: 2, approvers: ['lead', 'carol', 'dana'], approvedBy: [{ by: 'lead' }] } } });

  const twice = await call('POST', `/runs/${runId}/gates/spec/approve`, 'lead', {});
  expect(twice.statusCode).toBe(409);
  expect(twice.body.message).toMatch(/lead already approved gate "spec" .*\(1 of 2 approvals: lead\)/);

  const second = await call('POST', `/runs/${runId}/gates/spec/approve`, 'carol', {});
  expect(second.statusCode).toBe(200);
  expect(second.body.gate).toMatchObject({ status: 'approved', decidedBy: 'lead, carol' });
  await call('POST', `/runs/${runId}/cancel`, 'alice', {});
});
