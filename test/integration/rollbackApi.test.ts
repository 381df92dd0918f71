import type { SlipwayConfigInput } from '../../config/schema';
import { activityDoubles, type Call } from '../support/doubles';
import { eventually, uniqueTaskQueue } from '../support/temporal';
import { startTestApi, type TestApi, type TestIdentity } from '../support/testApi';

/** POST/GET /runs/:id/rollback over HTTP, with a real Temporal server and worker; the world is the activity doubles'. */

let api: TestApi;
let calls: Call[];
/** The revision the cluster shows for every Deployment; the doubles' deploys leave revision 2. */
let revisionNow = 2;
const taskQueue = uniqueTaskQueue('rollback-api');

const config: SlipwayConfigInput = {
  repository: { path: '.' },
  services: [{ name: 'messages', path: 'services/messages', kubernetes: { deployment: 'messages' } }],
  environments: [{ name: 'production', namespace: 'prod', gate: { required: true, approvers: ['lead', 'carol'] } }],
  gates: { spec: { required: false }, migrationReview: { required: false }, manifestReview: { required: false } },
  approvers: [{ id: 'lead' }, { id: 'carol' }],
  temporal: { address: 'unused', namespace: 'default', taskQueue },
  llm: { model: 'claude-sonnet-5' },
};

beforeAll(async () => {
  const doubles = activityDoubles({ inspectDeployment: async () => ({ exists: true, revision: revisionNow, image: `r/messages:${revisionNow}`, run: 'someone' }) });
  calls = doubles.calls;
  api = await startTestApi(config, doubles.activities);
});
afterAll(() => api.stop());

const call = (method: 'GET' | 'POST', path: string, who?: TestIdentity, body?: unknown) => api.call(method, path, who, body);

/** A run started over HTTP, waiting at its production gate. */
async function atProductionGate(feature: string): Promise<string> {
  const started = await call('POST', '/runs', 'alice', { feature });
  expect(started.statusCode).toBe(201);
  const runId = started.body.runId as string;
  await eventually(async () => ((await call('GET', `/runs/${runId}`, 'alice')).body.gates?.production?.status === 'pending' ? true : undefined), 'the production gate', 60_000);
  return runId;
}

async function delivered(feature: string): Promise<string> {
  const runId = await atProductionGate(feature);
  expect((await call('POST', `/runs/${runId}/gates/production/approve`, 'lead', {})).statusCode).toBe(200);
  await eventually(async () => ((await call('GET', `/runs/${runId}`, 'alice')).body.status === 'succeeded' ? true : undefined), 'the run to deliver', 60_000);
  return runId;
}

test('bad requests get a clear 4xx; a run still running or not delivered cannot be rolled back later', async () => {
  expect((await call('POST', '/runs/feature-nope-1/rollback', undefined, { reason: 'x' })).statusCode).toBe(401);
  const unknown = await call('POST', '/runs/feature-nope-1/rollback', 'alice', { reason: 'x' });
  expect(unknown.statusCode).toBe(404);
  expect((await call('GET', '/runs/feature-nope-1/rollback', 'alice')).statusCode).toBe(404);

  const runId = await atProductionGate('Add message reactions to threads');
  expect((await call('POST', `/runs/${runId}/rollback`, 'alice', {})).statusCode).toBe(400);
  const forcedBare = await call('POST', `/runs/${runId}/rollback`, 'alice', { reason: 'broken', force: true });
  expect(forcedBare.statusCode).toBe(400);
  expect(forcedBare.body.message).toMatch(/forcing a rollback needs a comment/);
  const running = await call('POST', `/runs/${runId}/rollback`, 'alice', { reason: 'broken' });
  expect(running.statusCode).toBe(409);
  expect(running.body.message).toMatch(/is still running: cancel it instead/);

  expect((await call('POST', `/runs/${runId}/cancel`, 'alice', { reason: 'not needed' })).statusCode).toBe(202);
  await eventually(async () => ((await call('GET', `/runs/${runId}`, 'alice')).body.status === 'cancelled' ? true : undefined), 'the cancel');
  const cancelled = await call('POST', `/runs/${runId}/rollback`, 'alice', { reason: 'broken' });
  expect(cancelled.statusCode).toBe(409);
  expect(cancelled.body.message).toMatch(/ended cancelled: only a delivered run can be rolled back later/);
});

test('a delivered run: asked, approved by someone else, rolled back once; both the run and the rollback say so', async () => {
  revisionNow = 2;
  const runId = await delivered('Add read receipts to direct messages');
  const asked = await call('POST', `/runs/${runId}/rollback`, 'lead', { reason: 'receipts double-count' });
  expect(asked.statusCode).toBe(202);
  expect(asked.body).toMatchObject({ rollbackId: `${runId}.rollback`, runId, requester: 'lead', reason: 'receipts double-count', status: 'awaiting-approval', conflicts: [] });
  expect(asked.body.steps.map((s: { environment: string; service: string; kind: string }) => `${s.environment}/${s.service}:${s.kind}`)).toEqual(['production/messages:deployment']);
  expect((await call('GET', `/runs/${runId}`, 'alice')).body.rollback).toEqual({ rollbackId: `${runId}.rollback`, status: 'awaiting-approval', requester: 'lead' });
  const twice = await call('POST', `/runs/${runId}/rollback`, 'carol', { reason: 'me too' });
  expect(twice.statusCode).toBe(409);
  expect(twice.body.message).toMatch(/already under way/);

  // Four-eyes: the one who asked never approves; the requester role never decides.
  const own = await call('POST', `/runs/${runId}.rollback/gates/rollback/approve`, 'lead', {});
  expect(own.statusCode).toBe(403);
  expect(own.body.message).toMatch(/four-eyes/);
  expect((await call('POST', `/runs/${runId}.rollback/gates/rollback/approve`, 'alice', {})).statusCode).toBe(403);
  expect((await call('POST', `/runs/${runId}.rollback/gates/rollback/approve`, 'carol', { comment: 'confirmed on the dashboard' })).statusCode).toBe(200);

  const done = await eventually(async () => {
    const r = await call('GET', `/runs/${runId}/rollback`, 'alice');
    return r.body.status === 'rolled-back' ? r.body : undefined;
  }, 'the rollback');
  expect(done.steps[0]).toMatchObject({ status: 'done' });
  expect(done.recordPath).toBe('specs/001-feature/rollback.md');
  expect(calls.filter((c) => c.name === 'rollbackService' && (c.input as { runId: string }).runId === runId)).toHaveLength(1);
  expect((await call('GET', `/runs/${runId}`, 'alice')).body.rollback).toMatchObject({ status: 'rolled-back' });
  const again = await call('POST', `/runs/${runId}/rollback`, 'lead', { reason: 'again' });
  expect(again.statusCode).toBe(409);
  expect(again.body.message).toMatch(/was already rolled back/);
});

test('when a later change is found the request is refused with what it found; forced, it waits with the losses shown, and a rejection ends it', async () => {
  revisionNow = 2;
  const runId = await delivered('Add typing indicators to chats');
  revisionNow = 7;
  const refused = await call('POST', `/runs/${runId}/rollback`, 'alice', { reason: 'typing is laggy' });
  expect(refused.statusCode).toBe(409);
  expect(refused.body.message).toMatch(/refused: the world has moved on since run [\s\S]*production\/messages: Deployment prod\/messages is at revision 7 \(r\/messages:7\) by run someone/);
  expect(calls.filter((c) => c.name === 'rollbackService' && (c.input as { runId: string }).runId === runId)).toEqual([]);

  const forced = await call('POST', `/runs/${runId}/rollback`, 'alice', { reason: 'typing is laggy', force: true, comment: 'revision 7 is broken too' });
  expect(forced.statusCode).toBe(202);
  expect(forced.body).toMatchObject({ status: 'awaiting-approval', forced: { by: 'alice', comment: 'revision 7 is broken too' } });
  expect(forced.body.gates.rollback.summary).toMatch(/loses: revision 7 \(r\/messages:7\) by run someone is replaced by revision 1/);
  const rejected = await call('POST', `/runs/${runId}.rollback/gates/rollback/reject`, 'lead', { comment: 'fix forward instead' });
  expect(rejected.statusCode).toBe(200);
  const ended = await eventually(async () => {
    const r = await call('GET', `/runs/${runId}/rollback`, 'alice');
    return r.body.status === 'rejected' ? r.body : undefined;
  }, 'the rejection');
  expect(ended.outcome).toBe('rejected by lead: fix forward instead');
  expect(calls.filter((c) => c.name === 'rollbackService' && (c.input as { runId: string }).runId === runId)).toEqual([]);
});
