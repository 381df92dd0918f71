import { conflictLines, deploymentConflict, deploymentUndone, initialRollbackState, migrationsConflict, migrationsUndone, rollbackGateSummary, rollbackRecordMarkdown, rollbackSteps } from '../../workflows/rollbackPlan';
import type { RolloutSummary } from '../../workflows/state';

const rollout = (service: string, environment: string, extra: Partial<RolloutSummary> = {}): RolloutSummary => ({
  service,
  environment,
  workflowId: `run/rollout/${environment}/${service}`,
  status: 'succeeded',
  migrations: [],
  deployment: { deployment: service, namespace: environment, revision: 4, previousRevision: 3, image: `r/${service}@sha256:new`, previousImage: `r/${service}@sha256:old` },
  ...extra,
});

// As a run records them: dev, then staging, then production; messages before notifications.
const rollouts = ['dev', 'staging', 'production'].flatMap((env) => [
  rollout('messages', env, { migrations: ['20261125000000', '20261125000100'] }),
  rollout('notifications', env, env === 'production' ? { deployment: { deployment: 'notifications', namespace: 'production', revision: 1 } } : {}),
]);

test('steps undo production first, each environment in reverse rollout order, the Deployment before its migrations', () => {
  const steps = rollbackSteps(rollouts);
  expect(steps.map((s) => `${s.environment}/${s.service}:${s.kind}`)).toEqual([
    'production/notifications:deployment',
    'production/messages:deployment',
    'production/messages:migrations',
    'staging/notifications:deployment',
    'staging/messages:deployment',
    'staging/messages:migrations',
    'dev/notifications:deployment',
    'dev/messages:deployment',
    'dev/messages:migrations',
  ]);
  expect(steps[0]?.detail).toBe('delete Deployment production/notifications (the run created it)');
  expect(steps[1]?.detail).toBe('Deployment production/messages back to revision 3 (r/messages@sha256:old) from 4');
  expect(steps[2]).toMatchObject({ detail: 'revert migrations 20261125000100, 20261125000000', versions: ['20261125000000', '20261125000100'], status: 'pending' });
});

test('only rollouts the run kept are undone: a failed one was already undone by the run itself', () => {
  const steps = rollbackSteps([rollout('messages', 'dev'), rollout('notifications', 'dev', { status: 'failed' }), rollout('search', 'dev', { status: 'inconclusive' })]);
  expect(steps.map((s) => s.service)).toEqual(['search', 'messages']);
  expect(rollbackSteps([])).toEqual([]);
});

test('a Deployment at the revision the run left is no conflict; a later revision, or none, is, and says what forcing loses', () => {
  const [step] = rollbackSteps([rollout('messages', 'production')]);
  if (step === undefined) throw new Error('no step');
  expect(deploymentConflict(step, { exists: true, revision: 4, image: 'r/messages@sha256:new' })).toBeUndefined();
  expect(deploymentConflict(step, { exists: true, revision: 6, image: 'r/messages@sha256:later', run: 'feature-b-1' })).toEqual({
    service: 'messages',
    environment: 'production',
    kind: 'deployment',
    detail: 'Deployment production/messages is at revision 6 (r/messages@sha256:later) by run feature-b-1, changed since the run left revision 4',
    loses: 'revision 6 (r/messages@sha256:later) by run feature-b-1 is replaced by revision 3 (r/messages@sha256:old)',
  });
  expect(deploymentConflict(step, { exists: false })?.detail).toBe('Deployment production/messages no longer exists (the run left revision 4)');
});

test('migrations still applied with nothing on top are no conflict; later versions or reverted ones are', () => {
  const step = rollbackSteps([rollout('messages', 'production', { deployment: undefined, migrations: ['20261125000000'] })])[0];
  if (step === undefined) throw new Error('no step');
  expect(migrationsConflict(step, { applied: ['20261125000000'], later: [] })).toBeUndefined();
  const later = migrationsConflict(step, { applied: ['20261125000000'], later: [{ version: '20261201000000', runId: 'feature-b-1', appliedAt: '2026-12-01T00:00:00.000Z' }] });
  expect(later?.detail).toBe('the database of messages in production: 20261201000000 (run feature-b-1) applied since');
  expect(later?.loses).toMatch(/^20261201000000 stay applied over a schema without 20261125000000/);
  // Already reverted (a rollback that stopped half way, a person): nothing to refuse, nothing left to do.
  expect(migrationsConflict(step, { applied: [], later: [] })).toBeUndefined();
  expect(migrationsUndone({ applied: [], later: [] })).toBe(true);
  expect(migrationsUndone({ applied: ['20261125000000'], later: [] })).toBe(false);
});

test('a Deployment already back on its previous image, or gone when the run created it, is already undone and no conflict', () => {
  const [updated] = rollbackSteps([rollout('messages', 'production')]);
  const [created] = rollbackSteps([rollout('notifications', 'production', { deployment: { deployment: 'notifications', namespace: 'production', revision: 1 } })]);
  if (updated === undefined || created === undefined) throw new Error('no step');
  const back = { exists: true, revision: 5, image: 'r/messages@sha256:old' };
  expect(deploymentUndone(updated, back)).toBe(true);
  expect(deploymentConflict(updated, back)).toBeUndefined();
  expect(deploymentUndone(updated, { exists: true, revision: 4, image: 'r/messages@sha256:new' })).toBe(false);
  expect(deploymentUndone(created, { exists: false })).toBe(true);
  expect(deploymentConflict(created, { exists: false })).toBeUndefined();
  // Without a recorded previous image nothing can say it is already back.
  const [unknown] = rollbackSteps([rollout('messages', 'production', { deployment: { deployment: 'messages', namespace: 'production', revision: 4, previousRevision: 3 } })]);
  if (unknown === undefined) throw new Error('no step');
  expect(deploymentUndone(unknown, back)).toBe(false);
});

test('the gate shows the steps, and with force what the later changes lose; the record on the branch tells the whole story', () => {
  const state = initialRollbackState({
    rollbackId: 'feature-a-1.rollback',
    runId: 'feature-a-1',
    feature: 'Add read receipts',
    branch: '004-read-receipts',
    requester: 'carol',
    reason: 'double counts',
    rollouts: [rollout('messages', 'production')],
    force: { comment: 'B is broken too' },
    startedAt: '2026-11-25T10:00:00.000Z',
  });
  expect(state.forced).toEqual({ by: 'carol', comment: 'B is broken too' });
  const [step] = state.steps;
  if (step === undefined) throw new Error('no step');
  const conflict = deploymentConflict(step, { exists: true, revision: 6, image: 'r/messages@sha256:later', run: 'feature-b-1' });
  if (conflict === undefined) throw new Error('no conflict');
  state.conflicts = [conflict];
  const summary = rollbackGateSummary(state);
  expect(summary).toContain('Roll back run feature-a-1 (Add read receipts), asked by carol: double counts');
  expect(summary).toContain('1. production/messages: Deployment production/messages back to revision 3 (r/messages@sha256:old) from 4');
  expect(summary).toContain('FORCED by carol: B is broken too');
  expect(summary).toContain('  loses: revision 6 (r/messages@sha256:later) by run feature-b-1 is replaced by revision 3 (r/messages@sha256:old)');
  expect(conflictLines(state.conflicts, false)).toEqual(['- production/messages: Deployment production/messages is at revision 6 (r/messages@sha256:later) by run feature-b-1, changed since the run left revision 4']);

  const markdown = rollbackRecordMarkdown({ ...state, status: 'rolled-back', steps: [{ ...step, status: 'done' }], outcome: 'every step done (1)' });
  expect(markdown).toContain('# Rollback of feature-a-1');
  expect(markdown).toContain('- Forced by carol: B is broken too');
  expect(markdown).toContain('| 1 | production | messages | Deployment production/messages back to revision 3 (r/messages@sha256:old) from 4 | done |');
  expect(markdown).toContain('## Later changes it overrode');
});
