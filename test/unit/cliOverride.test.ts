import { EXIT } from '../../cli/exitCodes';
import { renderRun } from '../../cli/render';
import { initialRunState } from '../../workflows/state';
import { runSlipway as run, transport } from '../support/cliHarness';

test('approve --override sends the override with its comment; without -m it is a usage error before any request', async () => {
  const gate = { name: 'production', status: 'approved', round: 1, openedAt: '2026-11-27T15:00:00.000Z', deadlineAt: '2026-11-28T15:00:00.000Z', summary: 's', approvers: [], fourEyes: true, decidedBy: 'lead', comment: 'override: incident 7' };
  const api = transport({ body: { runId: 'feature-x-1', gate } });
  const refused = await run(['approve', 'feature-x-1', 'production', '--override'], api.fetch);
  expect(refused.code).toBe(EXIT.usage);
  expect(refused.stderr).toMatch(/an override needs a comment/);
  expect(api.sent).toEqual([]);
  const ok = await run(['approve', 'feature-x-1', 'production', '--override', '-m', 'incident 7'], api.fetch);
  expect(ok.code).toBe(EXIT.ok);
  expect(ok.stdout).toContain('approved gate production (round 1) of feature-x-1 as lead');
  expect(api.sent).toEqual([{ method: 'POST', path: '/runs/feature-x-1/gates/production/approve', body: { comment: 'incident 7', override: true } }]);
});

test('a waiting gate that names overriders says who may override it and how', () => {
  const state = initialRunState({ runId: 'feature-x-1', feature: 'Add read receipts', requester: 'alice', services: ['messages'], mode: 'agents', startedAt: '2026-11-27T14:00:00.000Z' });
  state.gates.production = { name: 'production', status: 'pending', round: 1, openedAt: '2026-11-27T15:00:00.000Z', deadlineAt: '2026-11-28T15:00:00.000Z', summary: 'Deploy', approvers: [], fourEyes: true, approvalsRequired: 2, approvedBy: [], overrideBy: ['sre-lead'] };
  expect(renderRun(state, { utc: true })).toContain('      override (sre-lead only): slipway approve feature-x-1 production --override -m "why it cannot wait"');
});
