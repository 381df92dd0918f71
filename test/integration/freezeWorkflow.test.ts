import { WithStartWorkflowOperation, WorkflowUpdateFailedError, type WorkflowHandle } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import type { FreezeWindowSettings, RunSettings } from '../../config/settings';
import { featureDelivery, type FeatureDeliveryInputV1 } from '../../workflows/featureDelivery';
import { freezeOverrideUpdate } from '../../workflows/messages';
import { emptyFreeze, freezeStateQuery, freezeUpdate, freezeWorkflowId, productionFreeze, unfreezeUpdate } from '../../workflows/productionFreeze';
import type { RunState } from '../../workflows/state';
import { activityDoubles, testSettings, type Call } from '../support/doubles';
import { connectTestTemporal, eventually, replayFailures, stateOf, testWorker, uniqueTaskQueue, type TestTemporal } from '../support/temporal';

let env: TestTemporal;
const started: string[] = [];

beforeAll(async () => {
  env = await connectTestTemporal();
});
afterAll(async () => {
  // Every history this file produced (runs and freeze workflows) replays without nondeterminism.
  expect((await replayFailures(env, started)).failures).toEqual([]);
  await env.close();
});

async function start(taskQueue: string, settings: RunSettings): Promise<WorkflowHandle<typeof featureDelivery>> {
  const workflowId = `test-freeze-${Math.random().toString(36).slice(2, 10)}`;
  started.push(workflowId);
  const input: FeatureDeliveryInputV1 = { feature: 'Add real-time notifications when users receive new messages', requester: 'alice', services: [], settings };
  return env.client.workflow.start(featureDelivery, { taskQueue, workflowId, args: [input] });
}

/** What the API does for POST /freeze: update-with-start on the queue's singleton. */
async function freeze(taskQueue: string, by: string, reason: string, historyLimit?: number) {
  const workflowId = freezeWorkflowId(taskQueue);
  if (!started.includes(workflowId)) started.push(workflowId);
  return env.client.workflow.executeUpdateWithStart(freezeUpdate, {
    args: [{ by, reason }],
    startWorkflowOperation: new WithStartWorkflowOperation(productionFreeze, {
      workflowId,
      taskQueue,
      args: [{ ...emptyFreeze(), ...(historyLimit !== undefined ? { historyLimit } : {}) }],
      workflowIdConflictPolicy: 'USE_EXISTING',
    }),
  });
}

const unfreeze = (taskQueue: string, by: string, comment?: string) =>
  env.client.workflow.getHandle(freezeWorkflowId(taskQueue)).executeUpdate(unfreezeUpdate, { args: [{ by, ...(comment ? { comment } : {}) }] });

const rolloutsTo = (calls: Call[], environment: string) =>
  calls.filter((c) => c.name === 'deployService' && (c.input as { environment: { name: string } }).environment.name === environment).map((c) => (c.input as { service: { name: string } }).service.name);

const held = (handle: WorkflowHandle) =>
  eventually(async () => {
    const state = await stateOf(handle);
    return state.frozen !== undefined ? state : undefined;
  }, 'the run to be held by the freeze');

async function rejection(update: Promise<unknown>): Promise<ApplicationFailure> {
  const err = await update.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(WorkflowUpdateFailedError);
  return (err as WorkflowUpdateFailedError).cause as ApplicationFailure;
}

test('a freeze by hand holds the production rollout, visibly, while dev and staging go on; it starts by itself when the freeze lifts', async () => {
  const { activities, calls } = activityDoubles();
  const taskQueue = uniqueTaskQueue('freeze');
  const worker = await testWorker(env, taskQueue, activities);
  await worker.runUntil(async () => {
    const frozen = await freeze(taskQueue, 'lead', 'incident 42: payments degraded');
    expect(frozen.frozen).toMatchObject({ by: 'lead', reason: 'incident 42: payments degraded' });
    const handle = await start(taskQueue, testSettings());
    const state = await held(handle);
    expect(state.frozen).toMatchObject({ service: 'messages', by: 'lead', detail: 'waiting: production frozen by lead — incident 42: payments degraded' });
    expect(state.status).toBe('running');
    expect(state.environment).toBe('production');
    expect(rolloutsTo(calls, 'dev')).toEqual(['messages', 'notifications']);
    expect(rolloutsTo(calls, 'staging')).toEqual(['messages', 'notifications']);
    expect(rolloutsTo(calls, 'production')).toEqual([]);
    // The Temporal UI says why too.
    const metadata = await handle.query<{ currentDetails?: string }>('__temporal_workflow_metadata');
    expect(metadata.currentDetails).toContain('waiting: production frozen by lead — incident 42: payments degraded');
    // Still held a moment later: nothing polls, nothing slips through.
    await new Promise((r) => setTimeout(r, 1_500));
    expect(rolloutsTo(calls, 'production')).toEqual([]);
    const view = await env.client.workflow.getHandle(freezeWorkflowId(taskQueue)).query(freezeStateQuery);
    expect(view.waiting).toEqual([handle.workflowId]);

    const lifted = await unfreeze(taskQueue, 'lead', 'payments recovered');
    expect(lifted.frozen).toBeUndefined();
    expect(lifted.history.map((e) => `${e.action} ${e.by} ${e.reason ?? ''}`)).toEqual(['freeze lead incident 42: payments degraded', 'unfreeze lead payments recovered']);
    const final = await handle.result();
    expect(final.status).toBe('succeeded');
    expect(final.frozen).toBeUndefined();
    const events = final.timeline.map((e) => `${e.event}${e.detail ? `: ${e.detail}` : ''}`);
    expect(events).toContain('rollout of messages to production held: waiting: production frozen by lead — incident 42: payments degraded');
    expect(events.some((e) => e.startsWith('rollout of messages to production starts: the freeze lifted'))).toBe(true);
  });
  expect(rolloutsTo(calls, 'production')).toEqual(['messages', 'notifications']);
});

test('the freeze workflow validates its Updates, and carries its state across continue-as-new', async () => {
  const taskQueue = uniqueTaskQueue('freeze-can');
  const worker = await testWorker(env, taskQueue, activityDoubles().activities);
  await worker.runUntil(async () => {
    // The first freeze starts the workflow (a rejected one would too, with its own input).
    await freeze(taskQueue, 'lead', 'release train 1', 30);
    expect((await rejection(freeze(taskQueue, 'lead', '  '))).type).toBe('ReasonRequired');
    const handle = env.client.workflow.getHandle(freezeWorkflowId(taskQueue));
    const firstRun = (await handle.describe()).runId;
    const again = await rejection(freeze(taskQueue, 'ops', 'me too'));
    expect(again.type).toBe('AlreadyFrozen');
    expect(again.message).toMatch(/already frozen by lead since .*: release train 1/);
    await unfreeze(taskQueue, 'lead');
    expect((await rejection(unfreeze(taskQueue, 'lead'))).type).toBe('NotFrozen');
    for (let i = 2; i <= 6; i++) {
      await freeze(taskQueue, 'lead', `release train ${i}`);
      await unfreeze(taskQueue, 'ops');
    }
    await freeze(taskQueue, 'lead', 'final');
    const view = await eventually(async () => {
      const description = await handle.describe();
      return description.runId !== firstRun ? handle.query(freezeStateQuery) : undefined;
    }, 'the freeze workflow to continue as new');
    expect(view.frozen).toMatchObject({ by: 'lead', reason: 'final' });
    expect(view.history).toHaveLength(13);
    expect(view.version).toBe(13);
  });
});

/** A window open from `from` to `to` (UTC wall clock, HH:MM) every day. */
const dailyWindow = (name: string, from: Date, to: Date): FreezeWindowSettings => {
  const hhmm = (d: Date) => d.toISOString().slice(11, 16);
  return { name, timeZone: 'UTC', reason: 'test window', daily: { from: hhmm(from), to: hhmm(to) } };
};

test('a scheduled window holds the production rollout until it closes, by a timer', async () => {
  // Windows have minutes; the run must reach production with enough of the minute left.
  if (Date.now() % 60_000 > 40_000) await new Promise((r) => setTimeout(r, 60_000 - (Date.now() % 60_000) + 100));
  const now = new Date();
  const minute = new Date(now.getTime() - (now.getTime() % 60_000));
  const end = new Date(minute.getTime() + 60_000);
  const settings = testSettings();
  settings.freeze = { windows: [dailyWindow('this-minute', minute, end)] };
  const { activities, calls } = activityDoubles();
  const taskQueue = uniqueTaskQueue('freeze-window');
  const worker = await testWorker(env, taskQueue, activities);
  let deployedAt = 0;
  await worker.runUntil(async () => {
    const handle = await start(taskQueue, settings);
    const state = await held(handle);
    expect(state.frozen).toMatchObject({ windows: ['this-minute'], until: end.toISOString(), detail: `waiting: production freeze window this-minute (test window) until ${end.toISOString()}` });
    expect(rolloutsTo(calls, 'production')).toEqual([]);
    await eventually(async () => (rolloutsTo(calls, 'production').length > 0 ? true : undefined), 'the production rollout after the window', 90_000);
    deployedAt = Date.now();
    expect((await handle.result()).status).toBe('succeeded');
  });
  expect(deployedAt).toBeGreaterThanOrEqual(end.getTime());
});

test('an approver other than the requester can override the freeze for one run, recorded in its approvals', async () => {
  const settings = testSettings();
  settings.freeze = { windows: [{ name: 'year-end', timeZone: 'Europe/Berlin', once: { from: '2020-01-01', to: '2100-01-01' } }] };
  const { activities, calls } = activityDoubles();
  const taskQueue = uniqueTaskQueue('freeze-override');
  const worker = await testWorker(env, taskQueue, activities);
  await worker.runUntil(async () => {
    const handle = await start(taskQueue, settings);
    await held(handle);
    const byRequester = await rejection(handle.executeUpdate(freezeOverrideUpdate, { args: [{ approver: 'alice', comment: 'hotfix for the outage' }] }));
    expect(byRequester.type).toBe('FourEyes');
    const noComment = await rejection(handle.executeUpdate(freezeOverrideUpdate, { args: [{ approver: 'lead', comment: ' ' }] }));
    expect(noComment.type).toBe('CommentRequired');
    expect(rolloutsTo(calls, 'production')).toEqual([]);
    const record = await handle.executeUpdate(freezeOverrideUpdate, { args: [{ approver: 'lead', comment: 'hotfix for the outage' }] });
    expect(record).toMatchObject({ by: 'lead', comment: 'hotfix for the outage' });
    const final: RunState = await handle.result();
    expect(final.status).toBe('succeeded');
    expect(final.approvals.at(-1)).toMatchObject({ gate: 'freeze-override', decision: 'override', by: 'lead', comment: 'hotfix for the outage', via: 'api' });
    expect(final.freezeOverride).toMatchObject({ by: 'lead' });
  });
  // The override lets every service of the run through, not just the first.
  expect(rolloutsTo(calls, 'production')).toEqual(['messages', 'notifications']);
});
