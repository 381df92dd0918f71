import type { SlipwayConfigInput } from '../../config/schema';
import { activityDoubles } from '../support/doubles';
import { eventually, uniqueTaskQueue } from '../support/temporal';
import { startTestApi, type TestApi, type TestIdentity } from '../support/testApi';

let api: TestApi;
const taskQueue = uniqueTaskQueue('policies-api');

const config: SlipwayConfigInput = {
  repository: { path: '.' },
  services: [{ name: 'messages', path: 'services/messages', kubernetes: { deployment: 'messages' } }],
  environments: [{ name: 'production', namespace: 'prod', gate: { required: true, approvers: ['reviewers'] } }],
  // The spec needs two of the reviewers group, or dana alone as an override; the API token names are the approver ids.
  gates: { spec: { required: true, approvers: ['reviewers'], approvals: 2, overrideBy: ['dana'] }, migrationReview: { required: false }, manifestReview: { required: false } },
  approvers: [{ id: 'lead' }, { id: 'carol' }, { id: 'dana' }],
  approverGroups: { reviewers: ['lead', 'carol', 'dana'] },
  temporal: { address: 'unused', namespace: 'default', taskQueue },
  llm: { model: 'claude-sonnet-5' },
};

beforeAll(async () => {
  api = await startTestApi(config, activityDoubles().activities);
});
afterAll(() => api.stop());

const call = (method: 'GET' | 'POST', path: string, who: TestIdentity, body?: unknown) => api.call(method, path, who, body);

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

test('an override through the API: only the gate\'s overrideBy, only with a comment; it opens the gate alone and the audit says so', async () => {
  const created = await call('POST', '/runs', 'alice', { feature: 'Add message pinning to channels', idempotencyKey: `override-${Date.now()}` });
  const runId = created.body.runId as string;
  await eventually(async () => {
    const res = await call('GET', `/runs/${runId}`, 'alice');
    return (res.body.gates as Record<string, { status: string }> | undefined)?.spec?.status === 'pending' ? res : undefined;
  }, 'spec gate pending');

  const notNamed = await call('POST', `/runs/${runId}/gates/spec/approve`, 'lead', { comment: 'urgent', override: true });
  expect(notNamed.statusCode).toBe(403);
  expect(notNamed.body.message).toMatch(/lead may not override gate "spec" \(overrideBy: dana\)/);
  const bare = await call('POST', `/runs/${runId}/gates/spec/approve`, 'dana', { override: true });
  expect(bare.statusCode).toBe(400);
  expect(bare.body.message).toMatch(/overriding gate "spec" needs a comment saying why it cannot wait for 0 of 2 approvals/);
  expect((await call('POST', `/runs/${runId}/gates/spec/approve`, 'dana', { comment: 'x', override: 'yes' })).statusCode).toBe(400);

  const overridden = await call('POST', `/runs/${runId}/gates/spec/approve`, 'dana', { comment: 'incident 7: the spec was reviewed on the call', override: true });
  expect(overridden.statusCode).toBe(200);
  expect(overridden.body.gate).toMatchObject({ status: 'approved', decidedBy: 'dana', comment: 'override: incident 7: the spec was reviewed on the call' });
  const shown = await call('GET', `/runs/${runId}`, 'alice');
  expect((shown.body.approvals as { decision: string; by: string }[]).map((a) => `${a.decision}:${a.by}`)).toEqual(['override:dana']);
  await call('POST', `/runs/${runId}/cancel`, 'alice', {});
});
