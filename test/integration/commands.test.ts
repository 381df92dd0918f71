import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import pino from 'pino';
import { createActivities } from '../../activities';
import { parseConfig } from '../../config/load';
import type { RunState } from '../../workflows/state';
import { fixtureRepo, git } from '../support/gitRepo';

async function setup() {
  const { repo, worktrees } = await fixtureRepo();
  const activities = createActivities({
    config: parseConfig({
      repository: { path: repo, worktreesDir: worktrees },
      services: [
        { name: 'messages', path: 'm', commands: { predeploy: 'echo "checking $SLIPWAY_ENVIRONMENT for $SLIPWAY_RUN"', perf: 'echo p99 310ms; echo baseline 250ms >&2; exit 3' } },
        { name: 'notifications', path: 'n' },
      ],
      environments: [{ name: 'production' }],
    }),
    logger: pino({ level: 'silent' }),
  });
  const workspace = await activities.prepareWorkspace({ runId: 'run-c', feature: 'Add notifications' });
  return { activities, workspace };
}

test("pre-deploy checks run each service's predeploy command in the worktree; a service without one is reported", async () => {
  const { activities, workspace } = await setup();
  const result = await activities.runPreDeployChecks({ runId: 'run-c', environment: 'production', services: ['messages', 'notifications'], workspace });
  expect(result.ok).toBe(true);
  expect(result.summary).toMatch(/^messages: `echo .*` exited 0 after \d+\.\d s\nnotifications: no predeploy command configured$/);
});

test('a failing performance audit is not ok and shows the end of its output', async () => {
  const { activities, workspace } = await setup();
  const result = await activities.auditPerformance({ runId: 'run-c', services: ['messages'], workspace });
  expect(result.ok).toBe(false);
  expect(result.summary).toMatch(/exited 3 after/);
  expect(result.summary).toContain('    p99 310ms');
  expect(result.summary).toContain('    baseline 250ms');
});

test('the run report is written next to the spec and committed', async () => {
  const { activities, workspace } = await setup();
  const state: RunState = {
    runId: 'run-c',
    feature: 'Add notifications',
    requester: 'alice',
    services: ['messages'],
    status: 'succeeded',
    phase: 'report',
    workspace,
    gates: {},
    approvals: [{ gate: 'production', round: 1, decision: 'approve', by: 'lead', at: '2026-11-23T10:00:00.000Z', via: 'slack', comment: 'ship | it' }],
    artifacts: [{ phase: 'specify', kind: 'spec', path: `${workspace.specDir}/spec.md` }],
    timeline: [{ at: '2026-11-23T09:00:00.000Z', phase: 'run', event: 'started' }],
    verdicts: [{ service: 'messages', environment: 'production', at: 'x', verdict: 'pass', detail: 'error-ratio 0.001 <= 0.05' }],
    compensations: [{ name: 'roll back messages in production', status: 'armed' }],
    cost: { total: { inputTokens: 1000, outputTokens: 200, cacheReadTokens: 0, cacheWriteTokens: 0, costUsd: 0.006 }, byPhase: {} },
    startedAt: '2026-11-23T09:00:00.000Z',
  };
  const { path } = await activities.writeReport({ state });
  expect(path).toBe(`${workspace.specDir}/report.md`);
  const report = readFileSync(join(workspace.path, path), 'utf8');
  expect(report).toContain('# Run report: Add notifications');
  expect(report).toContain('| production | 1 | approve | lead | 2026-11-23T10:00:00.000Z | ship \\| it |');
  expect(report).toContain('| messages in production | 1 | pass: error-ratio 0.001 <= 0.05 |');
  expect(report).toContain('about $0.01');
  expect(git(workspace.path, 'log', '-1', '--format=%s')).toBe(`report: ${workspace.branch}`);
});
