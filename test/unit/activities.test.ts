import { ApplicationFailure } from '@temporalio/common';
import { testActivities } from '../support/activities';
import { environmentIn, serviceIn, settingsFrom } from '../support/doubles';

const settings = settingsFrom({ repository: { path: '.' }, services: [{ name: 'messages', path: 'm' }], environments: [{ name: 'production' }] });
const messages = serviceIn(settings, 'messages');
const production = environmentIn(settings, 'production');

test('activities without their config section fail non-retryably, saying what is missing', async () => {
  const activities = testActivities();
  const workspace = { branch: 'b', path: '/tmp', specDir: 's' };
  const err = await activities.deployService({ runId: 'r', service: messages, environment: production, workspace }).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(ApplicationFailure);
  expect(err).toMatchObject({ type: 'NoDeployment', nonRetryable: true, message: 'service messages has no kubernetes section in config' });
  await expect(activities.writePlan({ runId: 'r', feature: 'f', workspace, repository: settings.repository, services: [] })).rejects.toMatchObject({
    type: 'LlmNotConfigured',
    nonRetryable: true,
    message: 'writePlan needs an llm section in config: the architect is an LLM agent',
  });
  // Without Prometheus a soak cannot pass: a clear non-retryable failure, not a silent pass.
  await expect(activities.analyzeSlo({ runId: 'r', service: messages, environment: production, sample: 1, analysis: settings.analysis })).rejects.toMatchObject({
    type: 'PrometheusNotConfigured',
    nonRetryable: true,
  });
});

test('notifications without a slack section are not delivered, and say why; with one they need the bot token', async () => {
  const gate = { name: 'spec', status: 'pending' as const, round: 1, openedAt: '', deadlineAt: '', summary: '', approvers: [], fourEyes: false };
  const without = testActivities();
  await expect(without.notifyGate({ runId: 'r', feature: 'f', gate })).resolves.toEqual({ delivered: false, reason: 'slack is not configured' });
  const withSlack = testActivities({ slack: { channel: '#deploys', tokenEnv: 'SLIPWAY_UNSET_TOKEN_FOR_TEST', signingSecretEnv: 'SLACK_SIGNING_SECRET', apiUrl: 'https://slack.com/api/' } });
  await expect(withSlack.notifyMilestone({ runId: 'r', feature: 'f', text: 't' })).rejects.toMatchObject({ type: 'SlackNotConfigured', nonRetryable: true });
});
