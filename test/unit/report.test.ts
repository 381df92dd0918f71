import { runReport } from '../../activities/repo/report';
import type { RunState } from '../../workflows/state';

const state: RunState = {
  runId: 'feature-notify-k1',
  feature: 'Add real-time notifications',
  requester: 'alice',
  services: ['messages'],
  mode: 'agents',
  status: 'rolled-back',
  reason: 'messages in production: soak failed at sample 3',
  phase: 'deploy',
  workspace: { branch: '002-notify', path: '/w', specDir: 'specs/002-notify' },
  gates: {},
  approvals: [{ gate: 'production', round: 1, decision: 'approve', by: 'lead', at: '2026-11-25T10:00:00.000Z', via: 'api', comment: 'a | b\nc' }],
  artifacts: [{ phase: 'specify', kind: 'spec', path: 'specs/002-notify/spec.md' }],
  timeline: [{ at: '2026-11-25T09:00:00.000Z', phase: 'run', event: 'started', detail: 'requested by alice\nsecond line' }],
  timelineDropped: 0,
  images: [],
  rollouts: [
    {
      service: 'messages',
      environment: 'production',
      workflowId: 'w',
      status: 'failed',
      migrations: ['20261125000000'],
      deployment: { deployment: 'messages', namespace: 'production', revision: 7, previousRevision: 6, image: 'r/messages@sha256:1' },
      soak: { kind: 'soak', planned: 61, samples: 3, segments: 1, failing: 2, decision: 'failed', last: { at: 't', verdict: 'fail', detail: 'error-ratio 0.2 > 0.05' } },
    },
  ],
  watches: [],
  compensations: [{ name: 'roll back messages in production', status: 'done' }],
  cost: { total: { inputTokens: 1000, outputTokens: 100, cacheReadTokens: 0, cacheWriteTokens: 0, costUsd: 0.0045 }, byPhase: {} },
  startedAt: '2026-11-25T09:00:00.000Z',
};

test('the report says how the run ended and why, with tables that survive pipes and newlines', () => {
  const report = runReport(state);
  expect(report).toContain('- Status: **rolled-back** — messages in production: soak failed at sample 3');
  expect(report).toContain('| production | 1 | approve | lead | 2026-11-25T10:00:00.000Z | a \\| b c |');
  expect(report).toContain('| messages | production | failed | 7 | r/messages@sha256:1 | 20261125000000 | failed, 3 samples: error-ratio 0.2 > 0.05 |');
  expect(report).toContain('| roll back messages in production | done |');
  expect(report).toContain('- 2026-11-25T09:00:00.000Z · run · started — requested by alice\n');
  expect(report).toContain('about $0.00');
});
