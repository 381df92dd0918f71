import { ApplicationFailure } from '@temporalio/common';
import pino from 'pino';
import { createSlackActivities } from '../../activities/slack';
import { ACTION_APPROVE, ACTION_REJECT } from '../../activities/slack/messages';
import { parseConfig } from '../../config/load';
import type { GateRecord } from '../../workflows/state';
import { FakeSlack } from '../support/fakeSlack';

const slack = new FakeSlack();
let activities: ReturnType<typeof createSlackActivities>;

beforeAll(async () => {
  await slack.start();
  process.env.SLIPWAY_TEST_SLACK_BOT_TOKEN = 'xoxb-activity-test';
  const config = parseConfig({
    repository: { path: '.' },
    services: [{ name: 'messages', path: 'm' }],
    environments: [{ name: 'production' }],
    slack: { channel: '#deploys', apiUrl: slack.apiUrl, tokenEnv: 'SLIPWAY_TEST_SLACK_BOT_TOKEN' },
  });
  activities = createSlackActivities({ logger: pino({ level: 'silent' }), ...(config.slack ? { slack: config.slack } : {}), temporalUiUrl: 'http://ui.test', namespace: 'default' });
});
afterAll(() => slack.stop());

const gate = (extra: Partial<GateRecord> = {}): GateRecord => ({
  name: 'spec',
  status: 'pending',
  round: 1,
  openedAt: '2026-11-23T10:00:00.000Z',
  deadlineAt: '2026-11-26T10:00:00.000Z',
  summary: 'Spec for real-time notifications.\nOpen clarifications:\n- retention',
  approvers: ['lead'],
  fourEyes: false,
  ...extra,
});

test('an open gate is posted with what to review and Approve / Reject buttons; its decision replaces the same message', async () => {
  const posted = await activities.notifyGate({ runId: 'feature-x-1', feature: 'Add notifications', gate: gate() });
  expect(posted).toEqual({ delivered: true, message: { channel: 'C0DEPLOYS', ts: expect.stringMatching(/^1790000000\./) } });
  const call = slack.callsTo('chat.postMessage').at(-1);
  expect(call?.authorization).toBe('Bearer xoxb-activity-test');
  expect(call?.args.channel).toBe('#deploys');
  const blocks = call?.args.blocks as { type: string; elements?: { action_id?: string; value?: string; text?: string }[]; text?: { text: string } }[];
  expect(JSON.stringify(blocks)).toContain('Open clarifications');
  expect(JSON.stringify(blocks)).toContain('<http://ui.test/namespaces/default/workflows/feature-x-1|open in Temporal>');
  const buttons = blocks.find((b) => b.type === 'actions')?.elements ?? [];
  expect(buttons.map((b) => b.action_id)).toEqual([ACTION_APPROVE, ACTION_REJECT]);
  expect(JSON.parse(buttons[0]?.value ?? '')).toEqual({ runId: 'feature-x-1', gate: 'spec', round: 1 });

  const decided = gate({ status: 'approved', decidedBy: 'lead', decidedAt: '2026-11-23T11:00:00.000Z', message: posted.message });
  expect(await activities.notifyGate({ runId: 'feature-x-1', feature: 'Add notifications', gate: decided })).toEqual({ delivered: true, message: posted.message });
  const update = slack.callsTo('chat.update').at(-1);
  expect(update?.args).toMatchObject({ channel: 'C0DEPLOYS', ts: posted.message?.ts });
  const updatedBlocks = JSON.stringify(update?.args.blocks);
  expect(updatedBlocks).not.toContain(ACTION_APPROVE);
  expect(updatedBlocks).toContain('Approved by *lead*');
});

test('milestones go into the run thread, or start it', async () => {
  const root = await activities.notifyMilestone({ runId: 'feature-x-2', feature: 'Add notifications', text: 'Production deploy started.' });
  expect(slack.callsTo('chat.postMessage').at(-1)?.args.thread_ts).toBeUndefined();
  const reply = await activities.notifyMilestone({ runId: 'feature-x-2', feature: 'Add notifications', text: 'Soak passed.', thread: root.message! });
  expect(reply.message).toEqual(root.message);
  expect(slack.callsTo('chat.postMessage').at(-1)?.args).toMatchObject({ thread_ts: root.message?.ts, channel: 'C0DEPLOYS', text: 'Soak passed.' });
});

test.each([
  ['a permanent Slack error', { status: 200, error: 'channel_not_found' }, 'SlackPermanentError', true],
  ['a server error', { status: 500 }, 'SlackUnavailable', false],
  ['rate limiting', { status: 429, retryAfter: 1 }, 'SlackUnavailable', false],
])('%s fails the activity with type %s (non-retryable: %s)', async (_name, failure, type, nonRetryable) => {
  slack.failNext(failure);
  const err = await activities.notifyGate({ runId: 'feature-x-3', feature: 'f', gate: gate() }).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(ApplicationFailure);
  expect(err).toMatchObject({ type, nonRetryable });
});

test('a missing bot token is a clear non-retryable failure', async () => {
  const saved = process.env.SLIPWAY_TEST_SLACK_BOT_TOKEN;
  delete process.env.SLIPWAY_TEST_SLACK_BOT_TOKEN;
  try {
    await expect(activities.notifyMilestone({ runId: 'r', feature: 'f', text: 't' })).rejects.toMatchObject({
      type: 'SlackNotConfigured',
      message: 'Slack is configured but SLIPWAY_TEST_SLACK_BOT_TOKEN is not set',
    });
  } finally {
    process.env.SLIPWAY_TEST_SLACK_BOT_TOKEN = saved;
  }
});
