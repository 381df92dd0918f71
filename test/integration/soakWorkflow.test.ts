import { WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import pino from 'pino';
import { createPrometheusActivities } from '../../activities/prometheus';
import { evidenceQuery } from '../../workflows/analysis';
import { startPrometheus, type RunningPrometheus } from '../../scripts/prometheus';
import { featureDelivery } from '../../workflows/featureDelivery';
import { activityDoubles, settingsFrom } from '../support/doubles';
import { FixtureService } from '../support/fixtureService';
import { connectTestTemporal, eventually, stateOf, testWorker, uniqueTaskQueue, type TestTemporal } from '../support/temporal';

const service = new FixtureService();
let prometheus: RunningPrometheus;
let env: TestTemporal;

beforeAll(async () => {
  await service.start();
  prometheus = await startPrometheus(process.env.SLIPWAY_TEST_PROMETHEUS as string, [{ job: 'messages', address: service.address }]);
  env = await connectTestTemporal();
});
afterAll(async () => {
  await env.close();
  await prometheus.stop();
  await service.stop();
});

test('an error spike during the production soak rolls the run back, with the samples as evidence', async () => {
  const settings = settingsFrom({
    repository: { path: '.' },
    services: [{ name: 'messages', path: 'm', slo: { errorRatio: 0.05 }, kubernetes: { deployment: 'messages' } }],
    environments: [{ name: 'production', soak: { duration: '60s', interval: '1s' } }],
    gates: { spec: { required: false }, migrationReview: { required: false }, manifestReview: { required: false } },
    prometheus: { url: prometheus.url },
    analysis: { window: '5s', minRequests: 10 },
    llm: { model: 'claude-sonnet-5' },
  });
  const [messages, production] = [settings.services[0]!, settings.environments[0]!];
  const { activities, calls } = activityDoubles(createPrometheusActivities({ logger: pino({ level: 'silent' }) }));
  const taskQueue = uniqueTaskQueue('soak');
  const worker = await testWorker(env, taskQueue, activities);
  await worker.runUntil(async () => {
    // Let Prometheus see healthy traffic first.
    const sample = { runId: 'warmup', service: messages, environment: production, sample: 0, analysis: settings.analysis, prometheus: settings.prometheus! };
    await eventually(async () => ((await activities.analyzeSlo(sample)).verdict === 'pass' ? true : undefined), 'healthy data', 30_000);
    const handle = await env.client.workflow.start(featureDelivery, {
      taskQueue,
      workflowId: `test-soak-${taskQueue}`,
      args: [{ feature: 'Soak against a real Prometheus', requester: 'alice', services: ['messages'], settings }],
    });
    // Break the service once the production soak has started.
    await eventually(async () => ((await stateOf(handle)).rollouts.some((r) => r.environment === 'production' && r.status === 'running') ? true : undefined), 'production rollout');
    service.errorRatio = 0.5;
    const err = await handle.result().then(() => undefined, (e: unknown) => e);
    service.errorRatio = 0;
    expect(err).toBeInstanceOf(WorkflowFailedError);
    expect(((err as WorkflowFailedError).cause as ApplicationFailure).type).toBe('RolledBack');

    const state = await stateOf(handle);
    expect(state.status).toBe('rolled-back');
    expect(state.reason).toMatch(/^messages in production: soak failed at sample \d+: 2 failing samples in a row: error-ratio 0\.\d+ > 0\.0500/);
    const rollout = state.rollouts.find((r) => r.environment === 'production');
    expect(rollout?.soak).toMatchObject({ decision: 'failed', last: { verdict: 'fail' } });
    const { samples } = await env.client.workflow.getHandle(`${rollout?.workflowId}/analysis-1`).query(evidenceQuery, { offset: 0, limit: 100 });
    expect(samples.at(-1)).toMatchObject({ decision: 'fail', verdict: 'fail' });
    const evidence = samples.at(-1)?.checks?.find((c) => c.name === 'error-ratio');
    expect(evidence?.query).toContain('grpc_server_handled_total{job="messages",grpc_code!="OK"}[5s]');
    expect(evidence?.value).toBeGreaterThan(0.05);
    expect(samples.slice(0, -2).every((s) => s.verdict === 'pass')).toBe(true);
  });
  expect(calls.filter((c) => c.name === 'rollbackService')).toHaveLength(1);
});
