import type { Worker } from '@temporalio/worker';
import type { FastifyInstance } from 'fastify';
import pino from 'pino';
import { TokenBook } from '../../api/auth';
import { buildServer } from '../../api/server';
import { createSlackActivities } from '../../activities/slack';
import { ACTION_APPROVE, ACTION_REJECT, COMMENT_BLOCK, COMMENT_INPUT, REJECT_MODAL } from '../../activities/slack/messages';
import { parseConfig } from '../../config/load';
import { resolveRunSettings } from '../../config/settings';
import { featureDelivery } from '../../workflows/featureDelivery';
import { decideUpdate } from '../../workflows/messages';
import { activityDoubles, type Call } from '../support/doubles';
import { FakeSlack, signedInteraction } from '../support/fakeSlack';
import { connectTestTemporal, eventually, pendingGate, stateOf, testWorker, uniqueTaskQueue, type TestTemporal } from '../support/temporal';

const SECRET = 'slack-signing-secret-for-tests';
const slack = new FakeSlack();
const taskQueue = uniqueTaskQueue('slack');
let env: TestTemporal;
let worker: Worker;
let workerDone: Promise<void>;
let app: FastifyInstance;
let base: string;
let calls: Call[];

const config = () =>
  parseConfig({
    repository: { path: '.' },
    services: [{ name: 'messages', path: 'm' }],
    environments: [{ name: 'production', gate: { required: true, approvers: ['lead'] } }],
    gates: { spec: { required: true, approvers: ['lead'] }, migrationReview: { required: false }, manifestReview: { required: false } },
    approvers: [
      { id: 'lead', slackUserId: 'U0LEAD' },
      { id: 'carol', slackUserId: 'U0CAROL' },
    ],
    slack: { channel: '#deploys', apiUrl: slack.apiUrl, tokenEnv: 'SLIPWAY_TEST_SLACK_TOKEN', signingSecretEnv: 'SLIPWAY_TEST_SLACK_SECRET' },
    temporal: { taskQueue },
    llm: { model: 'claude-sonnet-5' },
  });

beforeAll(async () => {
  await slack.start();
  process.env.SLIPWAY_TEST_SLACK_TOKEN = 'xoxb-interactions-test';
  env = await connectTestTemporal();
  const doubles = activityDoubles(createSlackActivities({ logger: pino({ level: 'silent' }), slack: config().slack, namespace: 'default' }));
  calls = doubles.calls;
  worker = await testWorker(env, taskQueue, doubles.activities);
  workerDone = worker.run();
  app = await buildServer({
    client: env.client,
    config: config(),
    tokens: TokenBook.parse('lead:approver:lead-approver-token-000003'),
    slack: { signingSecret: SECRET, botToken: 'xoxb-interactions-test' },
  });
  base = await app.listen({ host: '127.0.0.1', port: 0 });
});
afterAll(async () => {
  await app.close();
  worker.shutdown();
  await workerDone;
  await env.close();
  await slack.stop();
});

let counter = 0;
async function startRun() {
  const workflowId = `test-slack-${Date.now()}-${++counter}`;
  const handle = await env.client.workflow.start(featureDelivery, {
    taskQueue,
    workflowId,
    args: [{ feature: 'Add real-time notifications when users receive new messages', requester: 'alice', services: ['messages'], settings: resolveRunSettings(config()) }],
  });
  await pendingGate(handle, 'spec');
  // The gate message, with its buttons, as Slack received it.
  const message = await eventually(async () => {
    const post = slack.callsTo('chat.postMessage').find((c) => JSON.stringify(c.args.blocks ?? '').includes(workflowId));
    return post;
  }, 'gate message posted');
  const actions = (message.args.blocks as { type: string; elements?: { action_id: string; value: string }[] }[]).find((b) => b.type === 'actions');
  const button = (id: string) => actions?.elements?.find((e) => e.action_id === id)?.value as string;
  return { handle, workflowId, approveValue: button(ACTION_APPROVE), rejectValue: button(ACTION_REJECT) };
}

const click = (user: string, actionId: string, value: string, extra: { timestamp?: number; secret?: string; responseName?: string } = {}) => {
  const { body, headers } = signedInteraction(
    extra.secret ?? SECRET,
    {
      type: 'block_actions',
      user: { id: user },
      trigger_id: `trigger-${user}`,
      response_url: `${slack.url}/respond/${extra.responseName ?? user}`,
      actions: [{ action_id: actionId, value }],
    },
    extra.timestamp,
  );
  return fetch(`${base}/slack/interactions`, { method: 'POST', headers, body });
};
const ephemeralTo = (name: string) =>
  eventually(async () => slack.responses.find((r) => r.path === `/respond/${name}`)?.body as { text: string; response_type: string } | undefined, `ephemeral reply to ${name}`);

test('approve by button: the run continues within Slack\'s three seconds and the message loses its buttons', async () => {
  const { handle, approveValue } = await startRun();
  const started = Date.now();
  const res = await click('U0LEAD', ACTION_APPROVE, approveValue, { responseName: 'approve-ok' });
  expect(res.status).toBe(200);
  expect(Date.now() - started).toBeLessThan(3_000);
  const state = await stateOf(handle);
  expect(state.gates.spec).toMatchObject({ status: 'approved', decidedBy: 'lead' });
  expect(state.approvals.find((a) => a.gate === 'spec')).toMatchObject({ decision: 'approve', by: 'lead', via: 'slack' });
  await pendingGate(handle, 'production');
  const update = await eventually(async () => slack.callsTo('chat.update').find((c) => c.args.ts === state.gates.spec?.message?.ts), 'gate message updated');
  expect(JSON.stringify(update.args.blocks)).not.toContain(ACTION_APPROVE);
  expect(JSON.stringify(update.args.blocks)).toContain('Approved by *lead*');

  // A second click on the stale button says who decided.
  expect((await click('U0LEAD', ACTION_APPROVE, approveValue, { responseName: 'double' })).status).toBe(200);
  expect((await ephemeralTo('double')).text).toMatch(/Already decided: .*approved by lead/);
  await handle.cancel();
});

test('reject by button opens a modal; its submission rejects with the comment and the spec is revised', async () => {
  const { handle, rejectValue } = await startRun();
  const before = slack.callsTo('views.open').length;
  expect((await click('U0LEAD', ACTION_REJECT, rejectValue)).status).toBe(200);
  const opened = slack.callsTo('views.open')[before];
  expect(opened?.args.trigger_id).toBe('trigger-U0LEAD');
  const view = opened?.args.view as { callback_id: string; private_metadata: string };
  expect(view.callback_id).toBe(REJECT_MODAL);

  const submit = (comment: string) => {
    const { body, headers } = signedInteraction(SECRET, {
      type: 'view_submission',
      user: { id: 'U0LEAD' },
      view: { callback_id: REJECT_MODAL, private_metadata: view.private_metadata, state: { values: { [COMMENT_BLOCK]: { [COMMENT_INPUT]: { value: comment } } } } },
    });
    return fetch(`${base}/slack/interactions`, { method: 'POST', headers, body });
  };
  const empty = await submit('   ');
  expect(empty.status).toBe(200);
  expect(await empty.json()).toEqual({ response_action: 'errors', errors: { [COMMENT_BLOCK]: expect.stringMatching(/needs a comment/) } });

  expect((await submit('Cover users who are offline.')).status).toBe(200);
  await eventually(async () => ((await stateOf(handle)).gates.spec?.round === 2 ? true : undefined), 'spec round 2');
  const specComments = calls.filter((c) => c.name === 'writeSpec' && (c.input as { runId: string }).runId === handle.workflowId).map((c) => (c.input as { comments: string[] }).comments);
  expect(specComments).toEqual([[], ['Cover users who are offline.']]);
  await handle.cancel();
});

test('a run cancelled while its gate waits closes the gate and takes the buttons off its message', async () => {
  const { handle } = await startRun();
  // Slack may have the message before the run has recorded its ts (the activity's result is the next workflow task).
  const ts = await eventually(async () => (await stateOf(handle)).gates.spec?.message?.ts, 'gate message ts recorded');
  await handle.cancel();
  const update = await eventually(async () => slack.callsTo('chat.update').find((c) => c.args.ts === ts), 'closed gate message');
  expect(JSON.stringify(update.args.blocks)).not.toContain(ACTION_APPROVE);
  expect(JSON.stringify(update.args.blocks)).toMatch(/Closed at .*: the run ended \(cancelled by a Temporal cancel request\)/);
  const state = await stateOf(handle);
  expect(state.gates.spec?.status).toBe('closed');
  expect(state.approvals.at(-1)).toMatchObject({ gate: 'spec', decision: 'close', by: 'run' });
});

test('forged signatures and stale timestamps get 401 and change nothing', async () => {
  const { handle, approveValue } = await startRun();
  const forged = await click('U0LEAD', ACTION_APPROVE, approveValue, { secret: 'not-the-secret' });
  expect(forged.status).toBe(401);
  expect(((await forged.json()) as { message: string }).message).toMatch(/signature does not match/);
  const stale = await click('U0LEAD', ACTION_APPROVE, approveValue, { timestamp: Math.floor(Date.now() / 1000) - 6 * 60 });
  expect(stale.status).toBe(401);
  expect(((await stale.json()) as { message: string }).message).toMatch(/more than five minutes/);
  const unsigned = await fetch(`${base}/slack/interactions`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'payload=%7B%7D' });
  expect(unsigned.status).toBe(401);
  expect((await stateOf(handle)).gates.spec?.status).toBe('pending');
  await handle.cancel();
});

test('an unknown Slack user, or one not allowed at this gate, gets an ephemeral refusal', async () => {
  const { handle, approveValue } = await startRun();
  expect((await click('U0STRANGER', ACTION_APPROVE, approveValue)).status).toBe(200);
  expect((await ephemeralTo('U0STRANGER')).text).toMatch(/You may not approve this gate: your Slack user is not mapped/);
  expect((await click('U0CAROL', ACTION_APPROVE, approveValue)).status).toBe(200);
  const refusal = await ephemeralTo('U0CAROL');
  expect(refusal).toMatchObject({ response_type: 'ephemeral', replace_original: false });
  expect(refusal.text).toMatch(/You may not approve this gate: carol may not decide gate "spec"/);
  expect((await stateOf(handle)).gates.spec?.status).toBe('pending');
  await handle.cancel();
});

test('Slack being down never blocks a run: the gate is still decided through the API, and retries deliver later', async () => {
  const workflowId = `test-slack-down-${Date.now()}`;
  slack.failNext({ status: 200, error: 'channel_not_found' }, 1, FakeSlack.mentioning(workflowId));
  const handle = await env.client.workflow.start(featureDelivery, {
    taskQueue,
    workflowId,
    args: [{ feature: 'Keep going when Slack is down', requester: 'alice', services: ['messages'], settings: resolveRunSettings(config()) }],
  });
  const state = await pendingGate(handle, 'spec');
  const failed = await eventually(async () => (await stateOf(handle)).timeline.find((e) => e.event === 'notification failed'), 'notification failure recorded');
  expect(failed.detail).toMatch(/channel_not_found/);
  expect(state.gates.spec?.message).toBeUndefined();

  const res = await fetch(`${base}/runs/${workflowId}/gates/spec/approve`, {
    method: 'POST',
    headers: { authorization: 'Bearer lead-approver-token-000003', 'content-type': 'application/json' },
    body: '{}',
  });
  expect(res.status).toBe(200);
  await pendingGate(handle, 'production');

  // Transient errors are retried until Slack answers.
  const milestone = (c: { method: string; args: Record<string, unknown> }) => c.method === 'chat.postMessage' && String(c.args.text ?? '').includes('not today');
  slack.failNext({ status: 500 }, 2, milestone);
  await handle.executeUpdate(decideUpdate, { args: [{ gate: 'production', decision: 'reject', approver: 'lead', comment: 'not today' }] }).catch(() => undefined);
  // Two 500s, then the same milestone delivered by Temporal's retries.
  const delivered = await eventually(async () => {
    const attempts = slack.calls.filter(milestone);
    return attempts.length >= 3 ? attempts : undefined;
  }, 'milestone delivered after two failures', 30_000);
  expect(delivered).toHaveLength(3);
  expect(new Set(delivered.map((c) => c.args.text)).size).toBe(1);
  expect(String(delivered[0]?.args.text)).toMatch(/^Run failed: gate "production" rejected by lead: not today/);
});
