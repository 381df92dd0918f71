import { WorkflowFailedError, WorkflowUpdateFailedError, type WorkflowHandle } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import type { Activities } from '../../activities';
import type { RunSettings } from '../../config/settings';
import { featureDelivery, type FeatureDeliveryInputV1 } from '../../workflows/featureDelivery';
import { decideUpdate, type DecisionV1 } from '../../workflows/messages';
import type { GateRecord } from '../../workflows/state';
import { activityDoubles, testSettings } from '../support/doubles';
import { connectTestTemporal, eventually, pendingGate, replayFailures, stateOf, testWorker, uniqueTaskQueue, type TestTemporal } from '../support/temporal';

let env: TestTemporal;
const started: string[] = [];

beforeAll(async () => {
  env = await connectTestTemporal();
});
afterAll(async () => {
  // Every history this file produced must replay without nondeterminism.
  expect((await replayFailures(env, started)).failures).toEqual([]);
  await env.close();
});

/** Production needs two of lead, sre, ops and alice; alice requests the run. */
function twoOfFour(): RunSettings {
  const settings = testSettings({ gates: { production: true }, productionApprovers: ['lead', 'sre', 'ops', 'alice'] });
  const production = settings.environments.at(-1);
  if (production === undefined) throw new Error('no production');
  production.gate.approvals = 2;
  return settings;
}

async function runWith<T>(activities: Activities, body: (handle: WorkflowHandle<typeof featureDelivery>) => Promise<T>): Promise<T> {
  const taskQueue = uniqueTaskQueue('policies');
  const worker = await testWorker(env, taskQueue, activities);
  const workflowId = `test-policies-${Math.random().toString(36).slice(2, 10)}`;
  started.push(workflowId);
  const args: FeatureDeliveryInputV1 = { feature: 'Add real-time notifications when users receive new messages', requester: 'alice', services: ['messages'], settings: twoOfFour() };
  return worker.runUntil(async () => body(await env.client.workflow.start(featureDelivery, { taskQueue, workflowId, args: [args] })));
}

async function refusal(handle: WorkflowHandle, decision: DecisionV1): Promise<string | undefined> {
  const err = await handle.executeUpdate(decideUpdate, { args: [decision] }).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(WorkflowUpdateFailedError);
  return ((err as WorkflowUpdateFailedError).cause as ApplicationFailure).type ?? undefined;
}

/** The gate messages Slack was sent (posted, then updated in place), as "status approvers-so-far". */
function gateMessages(): { activities: Activities; messages: string[] } {
  const messages: string[] = [];
  const { activities } = activityDoubles({
    notifyGate: async (input) => {
      const gate: GateRecord = input.gate;
      if (gate.name === 'production') messages.push(`${gate.status} ${(gate.approvedBy ?? []).map((a) => a.by).join(',')}`);
      return { delivered: true, message: { channel: 'C1', ts: '1.000' } };
    },
  });
  return { activities, messages };
}

test('a 2-of-N gate stays pending after one approval, refuses the same approver twice and the requester, and opens on a second approver', async () => {
  const { activities, messages } = gateMessages();
  await runWith(activities, async (handle) => {
    await pendingGate(handle, 'production');
    const first = await handle.executeUpdate(decideUpdate, { args: [{ gate: 'production', decision: 'approve', approver: 'lead', comment: 'dashboards look fine' }] });
    expect(first).toMatchObject({ status: 'pending', approvalsRequired: 2 });
    expect(first.approvedBy?.map((a) => [a.by, a.comment, a.via])).toEqual([['lead', 'dashboards look fine', 'api']]);

    const state = await stateOf(handle);
    expect(state.status).toBe('awaiting-approval');
    expect(state.gates.production?.approvedBy?.map((a) => a.by)).toEqual(['lead']);
    // The timeline line comes from the run's own wait, a workflow task after the Update's.
    await eventually(async () => ((await stateOf(handle)).timeline.some((e) => e.event === 'gate production approved by lead' && e.detail === '1 of 2 approvals: lead') ? true : undefined), 'the progress line in the timeline');

    expect(await refusal(handle, { gate: 'production', decision: 'approve', approver: 'lead' })).toBe('AlreadyApproved');
    expect(await refusal(handle, { gate: 'production', decision: 'approve', approver: 'alice' })).toBe('FourEyes');

    const second = await handle.executeUpdate(decideUpdate, { args: [{ gate: 'production', decision: 'approve', approver: 'sre' }] });
    expect(second).toMatchObject({ status: 'approved', decidedBy: 'lead, sre' });
    const result = await handle.result();
    expect(result.status).toBe('succeeded');
    expect(result.approvals.filter((a) => a.gate === 'production').map((a) => [a.decision, a.by, a.comment])).toEqual([
      ['approve', 'lead', 'dashboards look fine'],
      ['approve', 'sre', undefined],
    ]);
  });
  // The gate's Slack message is posted, updated after the first approval, then once more when it opens.
  await eventually(async () => (messages.length >= 3 ? messages : undefined), 'three production gate messages');
  expect(messages).toEqual(['pending ', 'pending lead', 'approved lead,sre']);
});

test('a rejection by any allowed approver rejects a 2-of-N gate at once, after an approval', async () => {
  const { activities } = gateMessages();
  await runWith(activities, async (handle) => {
    await pendingGate(handle, 'production');
    await handle.executeUpdate(decideUpdate, { args: [{ gate: 'production', decision: 'approve', approver: 'lead' }] });
    const rejected = await handle.executeUpdate(decideUpdate, { args: [{ gate: 'production', decision: 'reject', approver: 'ops', comment: 'error budget spent' }] });
    expect(rejected).toMatchObject({ status: 'rejected', decidedBy: 'ops' });
    const err = await handle.result().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(WorkflowFailedError);
    expect(((err as WorkflowFailedError).cause as ApplicationFailure).message).toMatch(/gate "production" rejected by ops: error budget spent/);
    const state = await eventually(async () => {
      const s = await stateOf(handle);
      return s.gates.production?.status === 'rejected' ? s : undefined;
    }, 'production rejected');
    expect(state.gates.production?.approvedBy?.map((a) => a.by)).toEqual(['lead']);
  });
});
