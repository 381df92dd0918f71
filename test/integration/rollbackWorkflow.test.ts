import { WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import type { Activities } from '../../activities';
import { deliveredRollback, rollbackStatusQuery, type DeliveredRollbackInputV1 } from '../../workflows/deliveredRollback';
import { decideUpdate } from '../../workflows/messages';
import type { DeliveredRollbackState } from '../../workflows/rollbackState';
import type { RolloutSummary } from '../../workflows/state';
import { activityDoubles, nonRetryable, testSettings } from '../support/doubles';
import { connectTestTemporal, eventually, testWorker, uniqueTaskQueue, type TestTemporal } from '../support/temporal';

/** The rollback's rules on a real Temporal server, its world played by activity doubles (deliveredRollback.test.ts has the real one). */

let env: TestTemporal;
beforeAll(async () => {
  env = await connectTestTemporal();
});
afterAll(() => env.close());

const rollout = (service: string, environment: string, migrations: string[] = []): RolloutSummary => ({
  service,
  environment,
  workflowId: `run/rollout/${environment}/${service}`,
  status: 'succeeded',
  migrations,
  deployment: { deployment: service, namespace: environment, revision: 2, previousRevision: 1, image: `r/${service}:new`, previousImage: `r/${service}:old` },
});

const input = (deadlineMs = 60_000): DeliveredRollbackInputV1 => ({
  runId: `feature-x-${Math.random().toString(36).slice(2, 8)}`,
  feature: 'Add read receipts',
  branch: '001-feature',
  rollouts: [rollout('messages', 'staging', ['20261125000000']), rollout('messages', 'production', ['20261125000000'])],
  requester: 'carol',
  reason: 'double counts',
  settings: testSettings({ gates: { production: true }, deadlineMs }),
});

/** Runs one rollback on a worker with these doubles; `atGate` acts once it waits for approval. */
async function rollBack(rollbackInput: DeliveredRollbackInputV1, overrides: Partial<Activities>, atGate: (handle: WorkflowHandle<typeof deliveredRollback>) => Promise<void>) {
  const { activities, calls } = activityDoubles(overrides);
  const taskQueue = uniqueTaskQueue('rollback-wf');
  const worker = await testWorker(env, taskQueue, activities);
  return worker.runUntil(async () => {
    const handle = await env.client.workflow.start(deliveredRollback, { taskQueue, workflowId: `${rollbackInput.runId}.rollback`, args: [rollbackInput] });
    const waiting = await eventually(async () => {
      const s = await handle.query(rollbackStatusQuery);
      return s.status === 'checking' ? undefined : s;
    }, 'the check');
    if (waiting.status === 'awaiting-approval') await atGate(handle);
    const failure = await handle.result().then(
      () => undefined,
      (err: unknown) => err,
    );
    const final: DeliveredRollbackState = await handle.query(rollbackStatusQuery);
    return { final, failure, calls };
  });
}

const approve = (approver = 'lead') => async (handle: WorkflowHandle<typeof deliveredRollback>) => void (await handle.executeUpdate(decideUpdate, { args: [{ gate: 'rollback', decision: 'approve', approver }] }));
const undos = (calls: { name: string; input: unknown }[]) =>
  calls.filter((c) => c.name === 'rollbackService' || c.name === 'revertMigrations').map((c) => `${c.name}@${(c.input as { environment: string | { name: string } }).environment instanceof Object ? (c.input as { environment: { name: string } }).environment.name : (c.input as { environment: string }).environment}`);

test('a Deployment that cannot go back keeps its migrations: the new code needs that schema; the rest still runs and the rollback ends failed', async () => {
  const { final, failure, calls } = await rollBack(
    input(),
    {
      rollbackService: async (i) => {
        if (i.environment.name === 'production') throw nonRetryable('deployment production/messages has no ReplicaSet for revision 1');
      },
    },
    approve(),
  );
  expect(failure).toBeInstanceOf(WorkflowFailedError);
  expect(final.status).toBe('failed');
  expect(final.steps.map((s) => `${s.environment}:${s.kind}:${s.status}`)).toEqual(['production:deployment:failed', 'production:migrations:failed', 'staging:deployment:done', 'staging:migrations:done']);
  expect(final.steps[1]?.error).toMatch(/not run: its Deployment is still on the new revision/);
  expect(undos(calls)).toEqual(['rollbackService@production', 'rollbackService@staging', 'revertMigrations@staging']);
  expect(final.outcome).toMatch(/^2 of 4 step\(s\) failed: production\/messages: deployment production\/messages has no ReplicaSet/);
});

test('asked again after a rollback that stopped half way, the steps already undone are neither a conflict nor run again', async () => {
  const { final, failure, calls } = await rollBack(
    input(),
    {
      // Staging is back on the old image, its migration reverted; production still holds what the run left.
      inspectDeployment: async (i) => ({ exists: true, revision: i.namespace === 'staging' ? 3 : 2, image: i.namespace === 'staging' ? 'r/messages:old' : 'r/messages:new' }),
      inspectMigrations: async (i) => ({ applied: i.environment === 'staging' ? [] : [...i.versions], later: [] }),
    },
    approve(),
  );
  expect(failure).toBeUndefined();
  expect(final.status).toBe('rolled-back');
  expect(final.conflicts).toEqual([]);
  expect(final.steps.map((s) => `${s.environment}:${s.kind}:${s.already === true ? 'already' : s.status}`)).toEqual(['production:deployment:done', 'production:migrations:done', 'staging:deployment:already', 'staging:migrations:already']);
  expect(undos(calls)).toEqual(['rollbackService@production', 'revertMigrations@production']);
});

test('a change the approver did not see, found after the approval, stops it before any step', async () => {
  let checks = 0;
  const { final, calls } = await rollBack(
    input(),
    {
      inspectDeployment: async (i) => {
        if (i.namespace === 'production') checks++;
        return { exists: true, revision: i.namespace === 'production' && checks > 1 ? 9 : 2, image: 'r/messages:new', run: 'feature-y-1' };
      },
    },
    approve(),
  );
  expect(final.status).toBe('refused');
  expect(final.outcome).toMatch(/^the world changed while the rollback waited for approval:\n- production\/messages: Deployment production\/messages is at revision 9/);
  expect(undos(calls)).toEqual([]);
});

test('the gate: expiry ends it "expired"; a cancel while it waits ends it "cancelled"; neither touches anything', async () => {
  const expired = await rollBack(input(1_500), {}, async () => undefined);
  expect(expired.final.status).toBe('expired');
  expect(expired.final.gates.rollback?.status).toBe('expired');
  expect(undos(expired.calls)).toEqual([]);

  const cancelled = await rollBack(input(), {}, async (handle) => void (await handle.cancel()));
  expect(cancelled.final.status).toBe('cancelled');
  expect(cancelled.final.gates.rollback?.status).toBe('closed');
  expect(undos(cancelled.calls)).toEqual([]);
});
