import { WorkflowFailedError, WorkflowUpdateFailedError, type WorkflowHandle } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { Worker } from '@temporalio/worker';
import type { Activities } from '../../activities';
import { featureDelivery, type FeatureDeliveryInputV1 } from '../../workflows/featureDelivery';
import { decideSignal, decideUpdate } from '../../workflows/messages';
import { SlipwayPhase, SlipwayServices, SlipwayStatus } from '../../workflows/search-attributes';
import { evidenceQuery } from '../../workflows/analysis';
import { activityDoubles, failingVerdict, testSettings, type Call } from '../support/doubles';
import { connectTestTemporal, eventually, pendingGate, replayFailures, stateOf, testWorker, uniqueTaskQueue, type TestTemporal } from '../support/temporal';

let env: TestTemporal;
const finished: { workflowId: string }[] = [];

beforeAll(async () => {
  env = await connectTestTemporal();
});
afterAll(async () => {
  // Every history this file produced must replay without nondeterminism.
  const { replayed, failures } = await replayFailures(env, finished.map((f) => f.workflowId));
  expect(replayed).toBe(finished.length);
  expect(failures).toEqual([]);
  await env.close();
});

function input(settings = testSettings(), extra: Partial<FeatureDeliveryInputV1> = {}): FeatureDeliveryInputV1 {
  return { feature: 'Add real-time notifications when users receive new messages', requester: 'alice', services: [], settings, ...extra };
}

async function runWith<T>(activities: Activities, body: (taskQueue: string, worker: Worker) => Promise<T>): Promise<T> {
  const taskQueue = uniqueTaskQueue('delivery');
  const worker = await testWorker(env, taskQueue, activities);
  return worker.runUntil(body(taskQueue, worker));
}

async function start(taskQueue: string, args: FeatureDeliveryInputV1): Promise<WorkflowHandle<typeof featureDelivery>> {
  const workflowId = `test-run-${Math.random().toString(36).slice(2, 10)}`;
  finished.push({ workflowId });
  return env.client.workflow.start(featureDelivery, { taskQueue, workflowId, args: [args] });
}

const names = (calls: Call[]) => calls.map((c) => c.name);
const envName = (environment: string | { name: string }) => (typeof environment === 'string' ? environment : environment.name);

async function failureOf(handle: WorkflowHandle): Promise<ApplicationFailure> {
  const err = await handle.result().then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(WorkflowFailedError);
  const cause = (err as WorkflowFailedError).cause;
  expect(cause).toBeInstanceOf(ApplicationFailure);
  return cause as ApplicationFailure;
}

test('a full run with auto-approved gates walks every phase in order and succeeds', async () => {
  const { activities, calls } = activityDoubles();
  const state = await runWith(activities, async (taskQueue) => {
    const handle = await start(taskQueue, input());
    const result = await handle.result();
    const description = await handle.describe();
    expect(description.typedSearchAttributes.get(SlipwayStatus)).toBe('succeeded');
    expect(description.typedSearchAttributes.get(SlipwayPhase)).toBe('report');
    expect(description.typedSearchAttributes.get(SlipwayServices)).toEqual(['messages', 'notifications']);
    return result;
  });

  expect(state.status).toBe('succeeded');
  const phaseStarts = state.timeline.filter((e) => e.event.startsWith('started') && e.phase !== 'run').map((e) => e.phase);
  // No post-deploy watch configured: no watch phase.
  expect(phaseStarts).toEqual(['specify', 'architect', 'tasks', 'implement', 'prepare-deploy', 'deploy', 'deploy', 'deploy', 'observability', 'docs', 'report']);
  expect(names(calls).filter((n) => !n.startsWith('notify'))).toEqual([
    'prepareWorkspace',
    'writeSpec',
    'writePlan',
    'writeTasks',
    'buildGrpc',
    'implementService',
    'integrateEvents',
    'implementService',
    'draftMigrations',
    'reviewMigrations',
    'writeManifests',
    'validateManifests',
    'auditPerformance',
    ...['dev', 'staging'].flatMap(() => ['runPreDeployChecks', 'applyMigrations', 'deployService', 'deployService']),
    'runPreDeployChecks',
    'applyMigrations',
    'deployService',
    ...Array(4).fill('analyzeSlo'),
    'deployService',
    ...Array(4).fill('analyzeSlo'),
    'writeObservability',
    'writeDocs',
    'writeReport',
    'removeWorkspace',
  ]);
  // Every gate was decided by policy, and the audit trail says so.
  expect(Object.keys(state.gates)).toEqual(['spec', 'migration-review', 'manifest-review', 'dev', 'staging', 'production']);
  expect(state.approvals.every((a) => a.decision === 'auto-approve' && a.by === 'policy')).toBe(true);
  // Each production soak took its samples in an analysis child; the run keeps the summary.
  const soaks = state.rollouts.filter((r) => r.environment === 'production').map((r) => [r.service, r.soak?.decision, r.soak?.samples]);
  expect(soaks).toEqual([
    ['messages', 'passed', 4],
    ['notifications', 'passed', 4],
  ]);
  expect(state.rollouts.map((r) => `${r.service}@${r.environment}:${r.status}`)).toEqual(
    ['dev', 'staging', 'production'].flatMap((e) => [`messages@${e}:succeeded`, `notifications@${e}:succeeded`]),
  );
  // Armed, never run: one per migration and per deployment in each environment.
  expect(state.compensations).toHaveLength(9);
  expect(state.compensations.every((c) => c.status === 'armed')).toBe(true);
  expect(state.cost.total.inputTokens).toBe(1000 + 2000 + 500 + 5000 * 2 + 800);
  expect(state.cost.byPhase.implement?.inputTokens).toBe(10_000);
  expect(state.artifacts.map((a) => a.kind)).toEqual(
    expect.arrayContaining(['spec', 'checklist', 'plan', 'data-model', 'tasks', 'migration', 'manifest', 'observability', 'doc', 'report']),
  );
});

test('a run waits at the spec gate; a rejection sends the comments back to the spec writer; an approval continues', async () => {
  const { activities, calls } = activityDoubles();
  await runWith(activities, async (taskQueue) => {
    const handle = await start(taskQueue, input(testSettings({ gates: { spec: true } })));
    let state = await pendingGate(handle, 'spec');
    expect(state.status).toBe('awaiting-approval');
    expect((await handle.describe()).typedSearchAttributes.get(SlipwayStatus)).toBe('awaiting-approval');

    await handle.executeUpdate(decideUpdate, { args: [{ gate: 'spec', decision: 'reject', approver: 'lead', comment: 'Cover offline users.' }] });
    state = await eventually(async () => {
      const s = await stateOf(handle);
      return s.gates.spec?.round === 2 && s.gates.spec.status === 'pending' ? s : undefined;
    }, 'second spec round');
    expect(state.gates.spec?.summary).toBe('spec round 2');

    const approved = await handle.executeUpdate(decideUpdate, { args: [{ gate: 'spec', decision: 'approve', approver: 'lead' }] });
    expect(approved.status).toBe('approved');
    const result = await handle.result();
    expect(result.status).toBe('succeeded');
    expect(result.approvals.filter((a) => a.gate === 'spec').map((a) => [a.decision, a.by, a.round, a.comment])).toEqual([
      ['reject', 'lead', 1, 'Cover offline users.'],
      ['approve', 'lead', 2, undefined],
    ]);
  });
  const specCalls = calls.filter((c) => c.name === 'writeSpec').map((c) => (c.input as { comments: string[] }).comments);
  expect(specCalls).toEqual([[], ['Cover offline users.']]);
});

test('the decide validator refuses bad decisions with typed reasons, and the signal path decides too', async () => {
  const { activities } = activityDoubles();
  await runWith(activities, async (taskQueue) => {
    const handle = await start(taskQueue, input(testSettings({ gates: { production: true }, productionApprovers: ['alice', 'lead'] })));
    await pendingGate(handle, 'production');
    const refusal = async (decision: Record<string, unknown>) => {
      const err = await handle.executeUpdate(decideUpdate, { args: [decision as never] }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(WorkflowUpdateFailedError);
      return ((err as WorkflowUpdateFailedError).cause as ApplicationFailure).type;
    };
    expect(await refusal({ gate: 'nope', decision: 'approve', approver: 'lead' })).toBe('UnknownGate');
    expect(await refusal({ gate: 'spec', decision: 'approve', approver: 'lead' })).toBe('GateNotPending');
    expect(await refusal({ gate: 'production', decision: 'approve', approver: 'mallory' })).toBe('ApproverNotAllowed');
    expect(await refusal({ gate: 'production', decision: 'approve', approver: 'alice' })).toBe('FourEyes');
    expect(await refusal({ gate: 'production', decision: 'reject', approver: 'lead', comment: '  ' })).toBe('CommentRequired');
    expect(await refusal({ gate: 'production', decision: 'maybe', approver: 'lead' })).toBe('InvalidDecision');

    // An invalid signal is recorded and ignored; a valid one decides the gate.
    await handle.signal(decideSignal, { gate: 'production', decision: 'approve', approver: 'alice' });
    await handle.signal(decideSignal, { gate: 'production', decision: 'approve', approver: 'lead' });
    const result = await handle.result();
    expect(result.status).toBe('succeeded');
    expect(result.timeline.find((e) => e.event === 'decision signal ignored')?.detail).toMatch(/four-eyes/);
    expect(result.approvals.find((a) => a.gate === 'production')).toMatchObject({ decision: 'approve', by: 'lead', via: 'temporal' });
  });
});

test('an expired gate fails the run cleanly with the reason', async () => {
  const { activities, calls } = activityDoubles();
  await runWith(activities, async (taskQueue) => {
    const handle = await start(taskQueue, input(testSettings({ gates: { spec: true }, deadlineMs: 1_000 })));
    const failure = await failureOf(handle);
    expect(failure.type).toBe('GateExpired');
    expect(failure.message).toMatch(/gate "spec" expired/);
    const state = await stateOf(handle);
    expect(state.status).toBe('failed');
    expect(state.gates.spec?.status).toBe('expired');
    expect(state.approvals.at(-1)).toMatchObject({ gate: 'spec', decision: 'expire', via: 'timer' });
    expect((await handle.describe()).typedSearchAttributes.get(SlipwayStatus)).toBe('failed');
  });
  expect(names(calls)).not.toContain('writePlan');
});

test('a failing production soak rolls back everything in reverse, each compensation exactly once', async () => {
  let productionSamples = 0;
  const { activities, calls } = activityDoubles({
    analyzeSlo: async (i) => {
      productionSamples++;
      const fail = i.service.name === 'notifications' && i.sample >= 2;
      return { service: i.service.name, environment: i.environment.name, at: new Date().toISOString(), verdict: fail ? 'fail' : 'pass', detail: fail ? 'error ratio 12% > 5%' : 'ok' };
    },
  });
  await runWith(activities, async (taskQueue) => {
    const handle = await start(taskQueue, input());
    const failure = await failureOf(handle);
    expect(failure.type).toBe('RolledBack');
    // Two failing samples in a row (the default) end the soak: samples 2 and 3.
    expect(failure.message).toMatch(/notifications in production: soak failed at sample 3: 2 failing samples in a row: error ratio 12% > 5%/);
    const state = await stateOf(handle);
    expect(state.status).toBe('rolled-back');
    expect(state.reason).toMatch(/soak failed/);
    // The summary says why; the samples themselves stay with the analysis child, paged by the API.
    const failed = state.rollouts.find((r) => r.service === 'notifications' && r.environment === 'production');
    expect(failed).toMatchObject({ status: 'failed', soak: { decision: 'failed', samples: 3, failing: 2, last: { verdict: 'fail', detail: 'error ratio 12% > 5%' } } });
    const evidence = await env.client.workflow.getHandle(`${failed?.workflowId}/analysis-1`).query(evidenceQuery, { offset: 0, limit: 10 });
    expect(evidence.samples.map((s) => [s.verdict, s.decision])).toEqual([['pass', 'continue'], ['fail', 'continue'], ['fail', 'fail']]);
    expect(state.compensations.every((c) => c.status === 'done')).toBe(true);
    expect((await handle.describe()).typedSearchAttributes.get(SlipwayStatus)).toBe('rolled-back');
  });
  expect(productionSamples).toBe(4 + 3);
  const compensations = calls
    .filter((c) => c.name === 'rollbackService' || c.name === 'revertMigrations')
    .map((c) => `${c.name} ${(c.input as { service: { name: string } }).service.name}@${envName((c.input as { environment: string | { name: string } }).environment)}`);
  expect(compensations).toEqual([
    'rollbackService notifications@production',
    'rollbackService messages@production',
    'revertMigrations messages@production',
    'rollbackService notifications@staging',
    'rollbackService messages@staging',
    'revertMigrations messages@staging',
    'rollbackService notifications@dev',
    'rollbackService messages@dev',
    'revertMigrations messages@dev',
  ]);
  expect(names(calls)).not.toContain('writeObservability');
});

test('a failed verdict of the first production service rolls back only what was deployed', async () => {
  const { activities, calls } = activityDoubles(failingVerdict());
  await runWith(activities, async (taskQueue) => {
    const handle = await start(taskQueue, input(testSettings(), { services: ['messages'] }));
    expect((await failureOf(handle)).type).toBe('RolledBack');
  });
  expect(names(calls).filter((n) => n === 'rollbackService' || n === 'revertMigrations')).toEqual([
    'rollbackService',
    'revertMigrations',
    'rollbackService',
    'revertMigrations',
    'rollbackService',
    'revertMigrations',
  ]);
  expect(calls.filter((c) => c.name === 'deployService').map((c) => (c.input as { service: { name: string } }).service.name)).toEqual(['messages', 'messages', 'messages']);
});

test('an activity failing non-retryably fails the run with its message and type', async () => {
  const { activities, calls } = activityDoubles({
    writePlan: async () => {
      throw ApplicationFailure.nonRetryable('writePlan needs an llm section in config: the architect is an LLM agent', 'LlmNotConfigured');
    },
  });
  await runWith(activities, async (taskQueue) => {
    const handle = await start(taskQueue, input());
    const failure = await failureOf(handle);
    expect(failure.type).toBe('LlmNotConfigured');
    expect(failure.message).toMatch(/writePlan needs an llm section/);
    expect((await stateOf(handle)).status).toBe('failed');
  });
  expect(names(calls).filter((n) => n === 'writePlan')).toHaveLength(1);
});

test('cancelling a run during the production gate rolls back what it deployed', async () => {
  const { activities, calls } = activityDoubles();
  await runWith(activities, async (taskQueue) => {
    const handle = await start(taskQueue, input(testSettings({ gates: { production: true } })));
    await pendingGate(handle, 'production');
    await handle.cancel();
    const err = await handle.result().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(WorkflowFailedError);
    const state = await stateOf(handle);
    expect(state.status).toBe('rolled-back');
    expect(state.reason).toMatch(/cancelled/);
    expect((await handle.describe()).status.name).toBe('CANCELLED');
  });
  expect(names(calls).filter((n) => n === 'rollbackService')).toHaveLength(4);
  expect(names(calls).filter((n) => n === 'revertMigrations')).toHaveLength(2);
});

test('a soak without data asks a person: approval keeps the deployment, rejection rolls it back', async () => {
  const noData: Partial<Activities> = {
    analyzeSlo: async (i) => ({ service: i.service.name, environment: i.environment.name, at: new Date().toISOString(), verdict: 'inconclusive', detail: 'error-ratio: no data (treated as inconclusive)' }),
  };
  for (const decision of ['approve', 'reject'] as const) {
    const { activities, calls } = activityDoubles(noData);
    await runWith(activities, async (taskQueue) => {
      const handle = await start(taskQueue, input(testSettings(), { services: ['messages'] }));
      const state = await pendingGate(handle, 'soak-production-messages');
      expect(state.gates['soak-production-messages']?.summary).toMatch(/could not decide: soak inconclusive at sample 2: no data for 2 samples in a row/);
      expect(state.gates['soak-production-messages']?.fourEyes).toBe(true);
      await handle.executeUpdate(decideUpdate, {
        args: [{ gate: 'soak-production-messages', decision, approver: 'lead', ...(decision === 'reject' ? { comment: 'no traffic, no trust' } : {}) }],
      });
      if (decision === 'approve') {
        expect((await handle.result()).status).toBe('succeeded');
      } else {
        expect((await failureOf(handle)).type).toBe('RolledBack');
        expect((await stateOf(handle)).reason).toBe('gate "soak-production-messages" rejected by lead: no traffic, no trust');
      }
    });
    expect(names(calls).filter((n) => n === 'rollbackService')).toHaveLength(decision === 'approve' ? 0 : 3);
  }
});

test('the post-deploy watch samples every production service after docs; its failing verdict rolls the delivery back', async () => {
  const watched: string[] = [];
  const { activities, calls } = activityDoubles({
    analyzeSlo: async (i) => {
      // Soak samples pass; in the watch (after writeDocs) notifications starts failing at its second sample.
      const inWatch = calls.some((c) => c.name === 'writeDocs');
      if (inWatch) watched.push(`${i.service.name}#${i.sample}`);
      const fail = inWatch && i.service.name === 'notifications' && i.sample >= 2;
      return { service: i.service.name, environment: i.environment.name, at: new Date().toISOString(), verdict: fail ? 'fail' : 'pass', detail: fail ? 'error ratio 9% > 5%' : 'ok' };
    },
  });
  await runWith(activities, async (taskQueue) => {
    const handle = await start(taskQueue, input(testSettings({ watch: { durationMs: 5_000, intervalMs: 500 } })));
    const failure = await failureOf(handle);
    expect(failure.type).toBe('RolledBack');
    expect(failure.message).toMatch(/post-deploy watch of notifications: watch failed at sample 3: 2 failing samples in a row/);
    const state = await stateOf(handle);
    expect(state.timeline.filter((e) => e.event.startsWith('started')).map((e) => e.phase)).toContain('watch');
    expect(state.watches.find((w) => w.service === 'notifications')).toMatchObject({ status: 'failed', analysis: { decision: 'failed', samples: 3 } });
  });
  expect(watched.filter((w) => w.startsWith('notifications#'))).toEqual(['notifications#1', 'notifications#2', 'notifications#3']);
  expect(watched.some((w) => w.startsWith('messages#'))).toBe(true);
  // The rolled-back run still gets its report, written after the last undo, and its worktree is removed.
  const order = names(calls).filter((n) => !n.startsWith('notify'));
  expect(order.slice(-3)).toEqual(['revertMigrations', 'writeReport', 'removeWorkspace']);
  expect(names(calls).filter((n) => n === 'rollbackService')).toHaveLength(6);
});

test('blocking lint findings make the migration review wait for a person even where config would auto-approve it', async () => {
  const { activities } = activityDoubles({
    reviewMigrations: async () => ({
      files: ['services/messages/migrations/1_add_email.up.sql'],
      findings: [{ file: '1_add_email.up.sql', line: 1, rule: 'adding-required-field', level: 'warning', message: 'NOT NULL without default', blocking: true }],
      summary: 'squawk: 1 finding(s)',
      blocking: true,
    }),
  });
  await runWith(activities, async (taskQueue) => {
    const handle = await start(taskQueue, input(testSettings({ gates: { 'migration-review': false } })));
    const state = await pendingGate(handle, 'migration-review');
    expect(state.gates['migration-review']?.summary).toMatch(/^BLOCKING lint findings: approve only if you accept each of them\./);
    await handle.executeUpdate(decideUpdate, { args: [{ gate: 'migration-review', decision: 'approve', approver: 'lead', comment: 'backfilled separately' }] });
    expect((await handle.result()).approvals.find((a) => a.gate === 'migration-review')).toMatchObject({ decision: 'approve', by: 'lead', comment: 'backfilled separately' });
  });
});

test('a phase failing after a healthy production release fails the run without rolling the release back', async () => {
  const { activities, calls } = activityDoubles({
    writeDocs: async () => {
      throw ApplicationFailure.nonRetryable('the docs writer spent 2100000 tokens, over what the run had left', 'TokenBudgetExhausted');
    },
  });
  await runWith(activities, async (taskQueue) => {
    const handle = await start(taskQueue, input());
    const failure = await failureOf(handle);
    expect(failure.type).toBe('PostDeployFailed');
    const state = await stateOf(handle);
    expect(state.status).toBe('failed');
    expect(state.reason).toBe('delivered and kept, but docs: the docs writer spent 2100000 tokens, over what the run had left');
    expect(state.compensations.every((c) => c.status === 'armed')).toBe(true);
    expect(state.artifacts.map((a) => a.kind)).toEqual(expect.arrayContaining(['observability', 'report']));
    expect((await handle.describe()).typedSearchAttributes.get(SlipwayStatus)).toBe('failed');
  });
  expect(names(calls)).toContain('writeReport');
  expect(names(calls).filter((n) => n === 'rollbackService' || n === 'revertMigrations')).toEqual([]);
});

test('a run says it has ended only once its report is on the branch, and the report already says how it ended', async () => {
  let release: () => void = () => undefined;
  const released = new Promise<void>((resolve) => (release = resolve));
  const reported: string[] = [];
  const base = activityDoubles();
  const { activities } = activityDoubles({
    writeReport: async (input) => {
      reported.push(input.state.status);
      await released;
      return base.activities.writeReport(input);
    },
  });
  await runWith(activities, async (taskQueue) => {
    const handle = await start(taskQueue, input());
    await eventually(async () => (reported.length > 0 ? true : undefined), 'writeReport called');
    // While the report is being written the run is still in its report phase, not ended.
    const during = await stateOf(handle);
    expect({ phase: during.phase, status: during.status }).toEqual({ phase: 'report', status: 'running' });
    release();
    expect((await handle.result()).status).toBe('succeeded');
  });
  expect(reported).toEqual(['succeeded']);
});
