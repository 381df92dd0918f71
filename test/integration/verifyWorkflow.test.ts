import type { WorkflowHandle } from '@temporalio/client';
import { WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import type { Activities } from '../../activities';
import type { RunSettings } from '../../config/settings';
import { featureDelivery, type FeatureDeliveryInputV1 } from '../../workflows/featureDelivery';
import { decideUpdate } from '../../workflows/messages';
import type { PreDeployCheck } from '../../workflows/state';
import { activityDoubles, testSettings, type Call } from '../support/doubles';
import { connectTestTemporal, eventually, pendingGate, replayFailures, stateOf, testWorker, uniqueTaskQueue, type TestTemporal } from '../support/temporal';

let env: TestTemporal;
const started: string[] = [];

beforeAll(async () => {
  env = await connectTestTemporal();
});
afterAll(async () => {
  // Every history this file produced replays without nondeterminism.
  expect((await replayFailures(env, started)).failures).toEqual([]);
  await env.close();
});

const SMOKE = (service: string) => `cd services/${service} && npm run smoke`;
const INTEGRATION = (service: string) => `cd services/${service} && npm run test:integration`;

/** The test settings with each service verified after each deploy, as the example config does. */
function verifiedSettings(options: Parameters<typeof testSettings>[0] = {}): RunSettings {
  const settings = testSettings(options);
  for (const service of settings.services) {
    service.commands = { setup: `cd services/${service.name} && npm ci --offline` };
    service.verify = { dev: SMOKE(service.name), staging: INTEGRATION(service.name), production: SMOKE(service.name) };
  }
  return settings;
}

async function start(taskQueue: string, settings: RunSettings): Promise<WorkflowHandle<typeof featureDelivery>> {
  const workflowId = `test-verify-${Math.random().toString(36).slice(2, 10)}`;
  started.push(workflowId);
  const input: FeatureDeliveryInputV1 = { feature: 'Add real-time notifications when users receive new messages', requester: 'alice', services: [], settings };
  return env.client.workflow.start(featureDelivery, { taskQueue, workflowId, args: [input] });
}

async function failureOf(handle: WorkflowHandle): Promise<ApplicationFailure> {
  const err = await handle.result().then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(WorkflowFailedError);
  return (err as WorkflowFailedError).cause as ApplicationFailure;
}

const label = (c: Call) => {
  const input = c.input as { service?: { name: string }; environment?: string | { name: string } };
  const environment = typeof input.environment === 'string' ? input.environment : input.environment?.name;
  return `${c.name} ${input.service?.name ?? ''}@${environment ?? ''}`;
};
const deployAndVerify = (calls: Call[]) => calls.filter((c) => ['deployService', 'verifyDeployment', 'analyzeSlo', 'rollbackService', 'revertMigrations'].includes(c.name)).map(label);

test("each service is verified after its rollout (and production soak); a failing staging suite rolls back everything in reverse, with its output in the timeline", async () => {
  const { activities, calls } = activityDoubles({
    verifyDeployment: async (input) =>
      input.service.name === 'notifications' && input.environment.name === 'staging'
        ? { command: input.command, status: 'failed', exitCode: 1, ms: 3100, output: '# Subtest: records one notification\nnot ok 1 - records one notification for concurrent retries\n# fail 1', reason: `\`${input.command}\` exited 1` }
        : { command: input.command, status: 'passed', exitCode: 0, ms: 900, output: '# pass 3' },
  });
  const taskQueue = uniqueTaskQueue('verify');
  const worker = await testWorker(env, taskQueue, activities);
  await worker.runUntil(async () => {
    const handle = await start(taskQueue, verifiedSettings());
    const failure = await failureOf(handle);
    expect(failure.type).toBe('RolledBack');
    expect(failure.message).toMatch(/notifications in staging: verification failed: `cd services\/notifications && npm run test:integration` exited 1/);
    const state = await stateOf(handle);
    expect(state.status).toBe('rolled-back');
    expect(state.rollouts.find((r) => r.service === 'notifications' && r.environment === 'staging')).toMatchObject({
      status: 'failed',
      verification: { status: 'failed', exitCode: 1, output: expect.stringContaining('not ok 1') },
    });
    expect(state.rollouts.find((r) => r.service === 'messages' && r.environment === 'dev')?.verification).toMatchObject({ status: 'passed', command: SMOKE('messages') });
    const failedLine = state.timeline.find((e) => e.event === 'verification of notifications in staging failed');
    expect(failedLine?.detail).toMatch(/^`cd services\/notifications && npm run test:integration` exited 1 after 3.1 s\n# Subtest: records one notification\nnot ok 1/);
    expect(state.timeline.map((e) => e.event)).toContain('verification of messages in dev passed');
    expect(state.compensations.every((c) => c.status === 'done')).toBe(true);
  });
  expect(deployAndVerify(calls)).toEqual([
    'deployService messages@dev',
    'verifyDeployment messages@dev',
    'deployService notifications@dev',
    'verifyDeployment notifications@dev',
    'deployService messages@staging',
    'verifyDeployment messages@staging',
    'deployService notifications@staging',
    'verifyDeployment notifications@staging',
    // The failed rollout undoes itself, then the saga the rest, newest first.
    'rollbackService notifications@staging',
    'rollbackService messages@staging',
    'revertMigrations messages@staging',
    'rollbackService notifications@dev',
    'rollbackService messages@dev',
    'revertMigrations messages@dev',
  ]);
  const verify = calls.find((c) => c.name === 'verifyDeployment')?.input as Parameters<Activities['verifyDeployment']>[0];
  expect(verify).toMatchObject({ command: SMOKE('messages'), setup: 'cd services/messages && npm ci --offline', environment: { name: 'dev', namespace: 'dev' } });
  // Every configured service's address is passed in, changed or not.
  expect(verify.endpoints).toEqual([
    { name: 'messages', kubernetes: { deployment: 'messages', port: 8080 } },
    { name: 'notifications', kubernetes: { deployment: 'notifications', port: 8080 } },
  ]);
});

test('in production each service is verified after its soak, before the next one rolls out', async () => {
  const { activities, calls } = activityDoubles();
  const taskQueue = uniqueTaskQueue('verify');
  const worker = await testWorker(env, taskQueue, activities);
  const state = await worker.runUntil(async () => (await start(taskQueue, verifiedSettings())).result());
  expect(state.status).toBe('succeeded');
  expect(deployAndVerify(calls).filter((c) => c.endsWith('@production'))).toEqual([
    'deployService messages@production',
    ...Array(4).fill('analyzeSlo messages@production'),
    'verifyDeployment messages@production',
    'deployService notifications@production',
    ...Array(4).fill('analyzeSlo notifications@production'),
    'verifyDeployment notifications@production',
  ]);
  expect(state.rollouts.every((r) => r.verification?.status === 'passed' && r.startedAt !== undefined)).toBe(true);
});

const check = (service: string, name: PreDeployCheck['check'], status: PreDeployCheck['status'], extra: Partial<PreDeployCheck> = {}): PreDeployCheck => ({
  service,
  environment: 'production',
  check: name,
  command: `cd services/${service} && npm ${name === 'test' ? 'test' : name}`,
  status,
  blocking: name !== 'outdated',
  exitCode: status === 'pass' ? 0 : 1,
  ms: 2_000,
  output: '',
  ...extra,
});

test('the production checks run before the production gate, which shows them with the outdated report', async () => {
  const production: PreDeployCheck[] = [
    check('messages', 'test', 'pass'),
    check('messages', 'audit', 'unavailable', { blocking: false, reason: 'audit unavailable: npm warn audit 405 Method Not Allowed' }),
    check('messages', 'outdated', 'report', { output: 'Package  Current  Wanted  Latest\npg        8.23.1  8.23.1  8.24.0' }),
    check('notifications', 'test', 'pass'),
  ];
  const { activities, calls } = activityDoubles({
    runPreDeployChecks: async (input) => (input.production ? { ok: true, summary: 'checks ran', checks: production } : { ok: true, summary: 'no predeploy command', checks: [] }),
  });
  const taskQueue = uniqueTaskQueue('checks');
  const worker = await testWorker(env, taskQueue, activities);
  await worker.runUntil(async () => {
    const handle = await start(taskQueue, testSettings({ gates: { production: true }, productionApprovers: ['lead'] }));
    const waiting = await pendingGate(handle, 'production');
    const summary = waiting.gates.production?.summary ?? '';
    expect(summary).toMatch(/^Deploy messages, notifications to production with a soak of [0-9.]+ (milli)?seconds? per service\.\n\nChecks before production:\n/);
    expect(summary).toContain('- messages: tests passed; audit audit unavailable: npm warn audit 405 Method Not Allowed (optional: not blocking); outdated see below');
    expect(summary).toContain('Outdated dependencies of messages (`cd services/messages && npm outdated`):\n```\nPackage  Current  Wanted  Latest\npg        8.23.1  8.23.1  8.24.0\n```');
    expect(waiting.preDeployChecks).toEqual(production);
    await handle.executeUpdate(decideUpdate, { args: [{ gate: 'production', decision: 'approve', approver: 'lead' }] });
    expect((await handle.result()).status).toBe('succeeded');
  });
  const checks = calls.filter((c) => c.name === 'runPreDeployChecks').map((c) => c.input as { environment: string; production?: boolean });
  expect(checks.map((c) => [c.environment, c.production ?? false])).toEqual([
    ['dev', false],
    ['staging', false],
    ['production', true],
  ]);
});

test('a blocking production check stops the run before the production gate and rolls back dev and staging', async () => {
  const { activities, calls } = activityDoubles({
    runPreDeployChecks: async (input) =>
      input.production
        ? { ok: false, summary: 'messages: audit `npm audit --audit-level=high` audit exited 1 (blocks production)', checks: [check('messages', 'audit', 'fail', { reason: 'audit exited 1', output: '1 high severity vulnerability' })] }
        : { ok: true, summary: '', checks: [] },
  });
  const taskQueue = uniqueTaskQueue('checks');
  const worker = await testWorker(env, taskQueue, activities);
  await worker.runUntil(async () => {
    const handle = await start(taskQueue, testSettings({ gates: { production: true }, productionApprovers: ['lead'] }));
    const failure = await failureOf(handle);
    expect(failure.type).toBe('RolledBack');
    expect(failure.message).toMatch(/pre-deploy checks for production failed: messages: audit/);
    const state = await stateOf(handle);
    expect(state.gates.production).toBeUndefined();
    expect(state.preDeployChecks?.map((c) => [c.service, c.check, c.status])).toEqual([['messages', 'audit', 'fail']]);
  });
  expect(deployAndVerify(calls).filter((c) => c.startsWith('deployService')).every((c) => !c.endsWith('@production'))).toBe(true);
  expect(deployAndVerify(calls).filter((c) => c.startsWith('rollbackService') || c.startsWith('revertMigrations'))).toHaveLength(6);
});

test("the watch samples its own thresholds, survives a worker restart, and shows its progress", async () => {
  const watchSamples: { service: string; sample: number; slo: RunSettings['services'][number]['slo'] }[] = [];
  let docsWritten = false;
  const { activities } = activityDoubles({
    writeDocs: async (input) => {
      docsWritten = true;
      return { paths: [`${input.workspace.specDir}/runbook.md`], usage: { inputTokens: 0, outputTokens: 0, cacheReadTokens: 0, cacheWriteTokens: 0, costUsd: 0 } };
    },
    analyzeSlo: async (i) => {
      if (docsWritten) watchSamples.push({ service: i.service.name, sample: i.sample, slo: i.service.slo });
      const memoryGrowthPerHour = 0.004;
      return {
        service: i.service.name,
        environment: i.environment.name,
        at: new Date().toISOString(),
        sample: i.sample,
        verdict: 'pass',
        detail: 'all checks pass',
        checks: [{ name: 'memory-growth', query: 'q', value: memoryGrowthPerHour, threshold: 0.1, failWhen: 'above', status: 'pass', noData: 'inconclusive', detail: 'memory-growth 0.004 <= 0.1' }],
      };
    },
  });
  const taskQueue = uniqueTaskQueue('watch');
  const settings = testSettings({ watch: { durationMs: 8_000, intervalMs: 1_000 } });
  const first = await testWorker(env, taskQueue, activities);
  const handle = await first.runUntil(async () => {
    const h = await start(taskQueue, settings);
    await eventually(async () => (watchSamples.filter((s) => s.service === 'messages').length >= 2 ? true : undefined), 'two watch samples', 60_000);
    return h;
  });
  // The worker is gone for a while: the watch's timers wait in the server, not in a process.
  await new Promise((r) => setTimeout(r, 2_500));
  const watchId = `${handle.workflowId}/watch/messages`;
  const second = await testWorker(env, taskQueue, activities);
  const state = await second.runUntil(async () => {
    const details = await eventually(async () => {
      const metadata = (await env.client.workflow.getHandle(watchId).query('__temporal_workflow_metadata')) as { currentDetails?: string };
      return metadata.currentDetails?.includes('samples') ? metadata.currentDetails : undefined;
    }, 'the watch to publish its details');
    expect(details).toMatch(/^\*\*Post-deploy watch of messages in production\*\*: running\n\n\d+ of 9 samples, ends /);
    return handle.result();
  });
  expect(state.status).toBe('succeeded');
  expect(state.watches.map((w) => [w.service, w.status, w.analysis.samples, w.analysis.planned])).toEqual([
    ['messages', 'succeeded', 9, 9],
    ['notifications', 'succeeded', 9, 9],
  ]);
  expect(state.watches[0]?.analysis.last?.memoryGrowthPerHour).toBe(0.004);
  // Every sample, before and after the restart, once: its own thresholds, memory, and database load against the rollout's start.
  expect(watchSamples.filter((s) => s.service === 'messages').map((s) => s.sample)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
  const messagesSlo = watchSamples.find((s) => s.service === 'messages')?.slo;
  expect(messagesSlo).toMatchObject({ errorRatio: 0.01, p99Seconds: 0.5 });
  const rolloutStart = Math.floor(Date.parse(state.rollouts.find((r) => r.service === 'messages' && r.environment === 'production')?.startedAt ?? '') / 1000);
  expect(messagesSlo?.checks.map((c) => c.name)).toEqual(['memory-growth', 'db-connections', 'db-query-time']);
  expect(messagesSlo?.checks[1]?.query).toContain(`@ ${rolloutStart})`);
  expect(watchSamples.find((s) => s.service === 'notifications')?.slo.checks.map((c) => c.name)).toEqual(['memory-growth']);
});
