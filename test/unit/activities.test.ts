import { ApplicationFailure } from '@temporalio/common';
import pino from 'pino';
import { createActivities } from '../../activities';
import { parseConfig } from '../../config/load';

const config = (extra: object = {}) =>
  parseConfig({ repository: { path: '.' }, services: [{ name: 'messages', path: 'm' }], environments: [{ name: 'production' }], ...extra });

test('activities without their config section fail non-retryably, saying what is missing', async () => {
  const activities = createActivities({ config: config(), logger: pino({ level: 'silent' }) });
  const workspace = { branch: 'b', path: '/tmp', specDir: 's' };
  const err = await activities.deployService({ runId: 'r', service: 'messages', environment: 'production', namespace: 'p', workspace }).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(ApplicationFailure);
  expect(err).toMatchObject({ type: 'NoDeployment', nonRetryable: true, message: 'service messages has no kubernetes section in config' });
  await expect(activities.writePlan({ runId: 'r', feature: 'f', workspace, services: [] })).rejects.toMatchObject({
    type: 'LlmNotConfigured',
    nonRetryable: true,
    message: 'writePlan needs an llm section in config: the architect is an LLM agent',
  });
  // Without Prometheus a soak cannot pass: a clear non-retryable failure, not a silent pass.
  await expect(activities.analyzeSlo({ runId: 'r', service: 'messages', environment: 'production', sample: 1 })).rejects.toMatchObject({
    type: 'PrometheusNotConfigured',
    nonRetryable: true,
  });
});

test('notifications without a slack section are not delivered, and say why; with one they need the bot token', async () => {
  const gate = { name: 'spec', status: 'pending' as const, round: 1, openedAt: '', deadlineAt: '', summary: '', approvers: [], fourEyes: false };
  const without = createActivities({ config: config(), logger: pino({ level: 'silent' }) });
  await expect(without.notifyGate({ runId: 'r', feature: 'f', gate })).resolves.toEqual({ delivered: false, reason: 'slack is not configured' });
  const withSlack = createActivities({ config: config({ slack: { channel: '#deploys', tokenEnv: 'SLIPWAY_UNSET_TOKEN_FOR_TEST' } }), logger: pino({ level: 'silent' }) });
  await expect(withSlack.notifyMilestone({ runId: 'r', feature: 'f', text: 't' })).rejects.toMatchObject({ type: 'SlackNotConfigured', nonRetryable: true });
});
