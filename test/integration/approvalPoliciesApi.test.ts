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
  // The spec needs two of the reviewers group; the API token names are the approver ids.
  gates: { spec: { required: true, approvers: ['reviewers'], approvals: 2 }, migrationReview: { required: false }, manifestReview: { required: false } },
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
