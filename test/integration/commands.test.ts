import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { RunState } from '../../workflows/state';
import { testActivities } from '../support/activities';
import { settingsFrom } from '../support/doubles';
import { fixtureRepo, git } from '../support/gitRepo';

async function setup() {
  const { repo, worktrees } = await fixtureRepo();
  const settings = settingsFrom({
    repository: { path: repo, worktreesDir: worktrees },
    services: [
      { name: 'messages', path: 'm', commands: { predeploy: 'echo "checking $SLIPWAY_ENVIRONMENT for $SLIPWAY_RUN"', perf: 'echo p99 310ms; echo baseline 250ms >&2; exit 3' } },
      { name: 'notifications', path: 'n' },
    ],
    environments: [{ name: 'production' }],
  });
  const activities = testActivities();
  const workspace = await activities.prepareWorkspace({ runId: 'run-c', feature: 'Add notifications', repository: settings.repository });
  return { activities, workspace, settings };
}

test("pre-deploy checks run each service's predeploy command in the worktree; a service without one is reported", async () => {
  const { activities, workspace, settings } = await setup();
  const result = await activities.runPreDeployChecks({ runId: 'run-c', environment: 'production', services: settings.services, workspace });
  expect(result.ok).toBe(true);
  expect(result.summary).toMatch(/^messages: `echo .*` exited 0 after \d+\.\d s\nnotifications: no predeploy command configured$/);
});

test('a failing performance audit is not ok and shows the end of its output', async () => {
  const { activities, workspace, settings } = await setup();
  const result = await activities.auditPerformance({ runId: 'run-c', services: settings.services.slice(0, 1), workspace });
  expect(result.ok).toBe(false);
  expect(result.summary).toMatch(/exited 3 after/);
  expect(result.summary).toContain('    p99 310ms');
  expect(result.summary).toContain('    baseline 250ms');
});

test('the run report is written next to the spec and committed', async () => {
  const { activities, workspace, settings } = await setup();
  const state: RunState = {
    runId: 'run-c',
    feature: 'Add notifications',
    requester: 'alice',
    services: ['messages'],
    mode: 'person',
    status: 'succeeded',
    phase: 'report',
    workspace,
    gates: {},
    approvals: [{ gate: 'production', round: 1, decision: 'approve', by: 'lead', at: '2026-11-23T10:00:00.000Z', via: 'slack', comment: 'ship | it' }],
    artifacts: [{ phase: 'specify', kind: 'spec', path: `${workspace.specDir}/spec.md` }],
    timeline: [{ at: '2026-11-23T09:00:00.000Z', phase: 'run', event: 'started' }],
    timelineDropped: 0,
    images: [],
    rollouts: [
      {
        service: 'messages',
        environment: 'production',
        workflowId: 'run-c/rollout/production/messages',
        status: 'succeeded',
        migrations: [],
        deployment: { deployment: 'messages', namespace: 'prod', revision: 4, previousRevision: 3, image: 'registry/messages@sha256:abc' },
        soak: { kind: 'soak', planned: 61, samples: 61, segments: 1, failing: 0, decision: 'passed', last: { at: 'x', verdict: 'pass', detail: 'error-ratio 0.001 <= 0.05' } },
      },
    ],
    watches: [],
    compensations: [{ name: 'roll back messages in production', status: 'armed' }],
    cost: { total: { inputTokens: 1000, outputTokens: 200, cacheReadTokens: 0, cacheWriteTokens: 0, costUsd: 0.006 }, byPhase: {} },
    startedAt: '2026-11-23T09:00:00.000Z',
  };
  const { path } = await activities.writeReport({ runId: 'run-c', workspace, repository: settings.repository, state });
  expect(path).toBe(`${workspace.specDir}/report.md`);
  const report = readFileSync(join(workspace.path, path), 'utf8');
  expect(report).toContain('# Run report: Add notifications');
  expect(report).toContain('| production | 1 | approve | lead | 2026-11-23T10:00:00.000Z | ship \\| it |');
  expect(report).toContain('| messages | production | succeeded | 4 | registry/messages@sha256:abc |  | passed, 61/61 samples | no |');
  expect(report).toContain('about $0.01');
  expect(git(workspace.path, 'log', '-1', '--format=%s')).toBe(`report: ${workspace.branch}`);
});
