import { EXIT } from '../../cli/exitCodes';
import { renderRollback, renderRun } from '../../cli/render';
import { initialRollbackState } from '../../workflows/rollbackPlan';
import type { DeliveredRollbackState } from '../../workflows/rollbackState';
import { initialRunState, type RolloutSummary } from '../../workflows/state';
import { runSlipway as run, transport } from '../support/cliHarness';

const rollout: RolloutSummary = {
  service: 'messages',
  environment: 'production',
  workflowId: 'w',
  status: 'succeeded',
  migrations: ['20261125000000'],
  deployment: { deployment: 'messages', namespace: 'prod', revision: 4, previousRevision: 3, previousImage: 'r/messages@sha256:old' },
};

const waiting: DeliveredRollbackState = {
  ...initialRollbackState({ rollbackId: 'feature-x-1.rollback', runId: 'feature-x-1', feature: 'Add read receipts', branch: '004-read-receipts', requester: 'lead', reason: 'double counts', rollouts: [rollout], startedAt: '2026-11-27T15:00:00.000Z' }),
  status: 'awaiting-approval',
  gates: {
    rollback: { name: 'rollback', status: 'pending', round: 1, openedAt: '2026-11-27T15:00:01.000Z', deadlineAt: '2026-11-28T15:00:01.000Z', summary: 's', approvers: [], fourEyes: true },
  },
};

test('rollback -m asks with the reason; --force needs -c; --status looks; misuse is a usage error before any request', async () => {
  const api = transport({ status: 202, body: waiting });
  const asked = await run(['rollback', 'feature-x-1', '-m', 'double counts'], api.fetch);
  expect(asked.code).toBe(EXIT.ok);
  expect(asked.stdout).toContain('rollback of feature-x-1  awaiting-approval');
  expect(asked.stdout).toContain('    approve: slipway approve feature-x-1.rollback rollback   (an approver other than lead)');
  expect(asked.stdout).toContain('    1. production/messages: Deployment prod/messages back to revision 3 (r/messages@sha256:old) from 4  pending');
  expect(asked.stdout).toContain('    2. production/messages: revert migrations 20261125000000  pending');
  expect((await run(['rollback', 'feature-x-1', '-m', 'b is broken', '--force', '-c', 'b too'], api.fetch)).code).toBe(EXIT.ok);
  expect((await run(['rollback', 'feature-x-1', '--status'], api.fetch)).code).toBe(EXIT.ok);
  expect(api.sent).toEqual([
    { method: 'POST', path: '/runs/feature-x-1/rollback', body: { reason: 'double counts' } },
    { method: 'POST', path: '/runs/feature-x-1/rollback', body: { reason: 'b is broken', force: true, comment: 'b too' } },
    { method: 'GET', path: '/runs/feature-x-1/rollback', body: undefined },
  ]);
  for (const argv of [['rollback', 'feature-x-1'], ['rollback', 'feature-x-1', '-m', 'x', '--force'], ['rollback', 'feature-x-1', '-m', 'x', '-c', 'y'], ['rollback', 'feature-x-1', '--status', '-m', 'x']]) {
    const refused = await run(argv, api.fetch);
    expect(refused.code).toBe(EXIT.usage);
    expect(refused.stderr).toMatch(/^slipway: /);
  }
  expect(api.sent).toHaveLength(3);
});

test('a refusal keeps its exit code and says what the world shows, on one line', async () => {
  const message = 'rollback of run feature-x-1 refused: the world has moved on since run feature-x-1:\n- production/messages: Deployment prod/messages is at revision 6';
  const refused = await run(['rollback', 'feature-x-1', '-m', 'x'], transport({ status: 409, body: { statusCode: 409, error: 'Conflict', message } }).fetch);
  expect(refused.code).toBe(EXIT.conflict);
  expect(refused.stderr).toBe('slipway: rollback of run feature-x-1 refused: the world has moved on since run feature-x-1: - production/messages: Deployment prod/messages is at revision 6\n');
});

test('a finished rollback shows each step, the later changes it overrode, and its record; the run says it was rolled back', () => {
  const done: DeliveredRollbackState = {
    ...waiting,
    status: 'rolled-back',
    forced: { by: 'lead', comment: 'b is broken too' },
    conflicts: [{ service: 'messages', environment: 'production', kind: 'deployment', detail: 'Deployment prod/messages is at revision 6', loses: 'revision 6 is replaced by revision 3' }],
    steps: waiting.steps.map((s) => ({ ...s, status: 'done' as const })),
    gates: { rollback: { ...(waiting.gates.rollback as NonNullable<DeliveredRollbackState['gates']['rollback']>), status: 'approved', decidedBy: 'carol', comment: 'go' } },
    outcome: 'every step done (2)',
    recordPath: 'specs/004-read-receipts/rollback.md',
  };
  expect(renderRollback(done, { utc: true })).toEqual([
    'rollback of feature-x-1  rolled-back',
    '  asked by lead at 2026-11-27 15:00: double counts',
    '  forced: b is broken too',
    '  gate approved by carol: go',
    '  steps, in order',
    '    1. production/messages: Deployment prod/messages back to revision 3 (r/messages@sha256:old) from 4  done',
    '    2. production/messages: revert migrations 20261125000000  done',
    '  later changes it overrides',
    '    production/messages: Deployment prod/messages is at revision 6',
    '      loses: revision 6 is replaced by revision 3',
    '  every step done (2)',
    '  record: specs/004-read-receipts/rollback.md on 004-read-receipts',
  ]);
  const run = { ...initialRunState({ runId: 'feature-x-1', feature: 'Add read receipts', requester: 'alice', services: ['messages'], mode: 'agents', startedAt: '2026-11-27T14:00:00.000Z' }), status: 'succeeded' as const };
  expect(renderRun({ ...run, rollback: { rollbackId: 'feature-x-1.rollback', status: 'rolled-back', requester: 'lead' } }, { utc: true })).toContain(
    '  rollback rolled-back (asked by lead): slipway rollback feature-x-1 --status',
  );
});
