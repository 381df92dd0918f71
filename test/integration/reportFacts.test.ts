import { readFileSync } from 'node:fs';
import { mkdir, symlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { reportSettingsOf } from '../../workflows/report';
import { runStateSchema, type RunState } from '../../workflows/state';
import { testActivities } from '../support/activities';
import { settingsFrom } from '../support/doubles';
import { fixtureRepo, git } from '../support/gitRepo';

const write = async (root: string, path: string, text: string) => {
  await mkdir(dirname(join(root, path)), { recursive: true });
  await writeFile(join(root, path), text);
};

async function deliveredBranch() {
  const { repo, worktrees } = await fixtureRepo();
  const settings = settingsFrom({
    repository: { path: repo, worktreesDir: worktrees },
    services: [
      { name: 'messages', path: 'services/messages', database: { urlEnv: 'MESSAGES_DATABASE_URL' }, kubernetes: { deployment: 'messages' } },
      { name: 'notifications', path: 'services/notifications', kubernetes: { deployment: 'notifications' } },
    ],
    environments: [{ name: 'production', namespace: 'prod' }],
    observability: { grafanaUrl: 'http://grafana.local:3000' },
  });
  const activities = testActivities();
  const workspace = await activities.prepareWorkspace({ runId: 'run-r', feature: 'Add real-time notifications', repository: settings.repository });
  const w = workspace.path;
  const spec = workspace.specDir;
  await write(w, 'services/messages/api/messages.proto', 'syntax = "proto3";\npackage messages.v1;\nservice Messages {\n  rpc Subscribe(SubscribeRequest) returns (stream Message);\n}\nmessage SubscribeRequest {}\nmessage Message {}\n');
  await write(w, 'services/messages/migrations/20261125000000_add_read_at.up.sql', 'ALTER TABLE messages ADD COLUMN read_at timestamptz;\n');
  await write(w, 'services/messages/migrations/20261125000000_add_read_at.down.sql', 'ALTER TABLE messages DROP COLUMN read_at;\n');
  await write(w, 'services/messages/migrations/20261125000100_index_read_at.up.sql', '-- no-transaction\nCREATE INDEX CONCURRENTLY messages_read_at ON messages (read_at);\n');
  await write(w, 'services/messages/src/subscribe.ts', 'export const subscribe = 1;\n');
  await write(w, 'services/messages/README.md', '# messages\n\nSubscribe streams new messages.\n');
  await write(w, `${spec}/plan.md`, '# Plan\n\n```yaml slipway-services\n- name: messages\n  integrations: [grpc, events, schema]\n  produces: [message.created]\n- name: notifications\n  integrations: [events]\n  consumes: [message.created]\n```\n');
  await write(w, `${spec}/observability/dashboard.json`, JSON.stringify({ uid: 'slipway-002-real-time', title: 'Slipway · notifications' }));
  await write(w, `${spec}/observability/alerts.yaml`, 'groups:\n  - name: g\n    rules:\n      - alert: MessagesErrorRatioHigh\n        expr: up == 0\n      - alert: MessagesP99High\n        expr: up == 0\n');
  await write(
    w,
    `${spec}/deploy/production/messages.yaml`,
    'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: messages}\ndata: {LISTEN_HOST: 0.0.0.0}\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: messages}\nspec:\n  template:\n    spec:\n      containers:\n        - name: messages\n          env:\n            - {name: OTEL_EXPORTER_OTLP_ENDPOINT, value: "http://otel-collector:4318"}\n',
  );
  await write(w, `${spec}/deploy/production/notifications.yaml`, 'apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: notifications}\n');
  git(w, 'add', '.');
  git(w, 'commit', '-q', '-m', 'feature');
  // Left by the test commands, never committed: coverage, a perf result, a broken lcov file.
  await write(w, 'services/messages/coverage/coverage-summary.json', JSON.stringify({ total: { lines: { total: 80, covered: 66, skipped: 0, pct: 82.5 } } }));
  await write(w, 'services/messages/perf/result.json', JSON.stringify({ regressionPercent: -1.5, baseline: 'main@abc' }));
  await write(w, 'services/notifications/lcov.info', 'garbage\n');
  // main moves on after the branch: the report compares with the merge base, so this is not the run's change.
  await write(repo, 'services/notifications/api/notifications.proto', 'syntax = "proto3";\npackage notifications.v1;\nservice Notifications {\n  rpc Other(A) returns (A);\n}\nmessage A {}\n');
  git(repo, 'commit', '-q', '-am', 'main moves on');
  return { activities, workspace, settings };
}

const stateOf = (workspace: RunState['workspace']): RunState =>
  runStateSchema.parse({
    runId: 'run-r',
    feature: 'Add real-time notifications',
    requester: 'alice',
    services: ['messages', 'notifications'],
    integrations: { messages: ['grpc', 'events', 'schema'], notifications: ['events'] },
    mode: 'person',
    status: 'succeeded',
    phase: 'report',
    workspace,
    gates: {},
    approvals: [],
    artifacts: [],
    timeline: [],
    timelineDropped: 0,
    images: [],
    rollouts: [
      {
        service: 'messages',
        environment: 'production',
        workflowId: 'w',
        status: 'succeeded',
        migrations: ['20261125000000', '20261125000100'],
        deployment: { deployment: 'messages', namespace: 'prod', revision: 5, previousRevision: 4, image: 'r/messages@sha256:abc', at: '2026-11-25T10:00:00.000Z' },
      },
    ],
    watches: [],
    compensations: [],
    cost: { total: { inputTokens: 0, outputTokens: 0, cacheReadTokens: 0, cacheWriteTokens: 0, costUsd: 0 }, byPhase: {} },
    startedAt: '2026-11-25T09:00:00.000Z',
    endedAt: '2026-11-25T11:00:00.000Z',
  });

test('writeReport reads the branch against its merge base and commits a report naming what changed and how to undo it', async () => {
  const { activities, workspace, settings } = await deliveredBranch();
  const { path, facts } = await activities.writeReport({ runId: 'run-r', workspace, repository: settings.repository, state: stateOf(workspace), settings: reportSettingsOf(settings) });

  const messages = facts.services.find((s) => s.service === 'messages');
  expect(messages?.files.map((f) => `${f.change} ${f.path}`).sort()).toEqual([
    'added services/messages/README.md',
    'added services/messages/migrations/20261125000000_add_read_at.down.sql',
    'added services/messages/migrations/20261125000000_add_read_at.up.sql',
    'added services/messages/migrations/20261125000100_index_read_at.up.sql',
    'added services/messages/src/subscribe.ts',
    'modified services/messages/api/messages.proto',
  ]);
  expect(messages?.grpc).toEqual([{ service: 'messages.v1.Messages', method: 'Subscribe', change: 'added', signature: 'rpc Subscribe(SubscribeRequest) returns (stream Message)' }]);
  expect(messages?.events).toEqual({ produces: ['message.created'], consumes: [] });
  expect(messages?.migrations).toEqual([
    { version: '20261125000000', name: 'add_read_at', up: 'services/messages/migrations/20261125000000_add_read_at.up.sql', down: 'services/messages/migrations/20261125000000_add_read_at.down.sql', transactional: true },
    { version: '20261125000100', name: 'index_read_at', up: 'services/messages/migrations/20261125000100_index_read_at.up.sql', transactional: false },
  ]);
  expect(messages?.coverage).toEqual({ percent: 82.5, format: 'istanbul', source: 'services/messages/coverage/coverage-summary.json' });
  expect(messages?.performance).toEqual({ regressionPercent: -1.5, baseline: 'main@abc', source: 'services/messages/perf/result.json' });
  expect(messages?.tracing).toEqual({ endpoint: 'http://otel-collector:4318', source: 'production manifest of messages' });

  // Main's later change to notifications is not the branch's; its broken coverage file is a problem, not a crash.
  const notifications = facts.services.find((s) => s.service === 'notifications');
  expect(notifications).toMatchObject({ filesTotal: 0, grpc: [], events: { consumes: ['message.created'] }, problems: [expect.stringMatching(/^services\/notifications\/lcov.info: no LF/)] });
  expect(notifications?.coverage).toBeUndefined();
  expect(notifications?.tracing).toBeUndefined();

  expect(facts.observability).toEqual({
    dashboard: { path: `${workspace.specDir}/observability/dashboard.json`, uid: 'slipway-002-real-time', title: 'Slipway · notifications' },
    alertsPath: `${workspace.specDir}/observability/alerts.yaml`,
    alerts: ['MessagesErrorRatioHigh', 'MessagesP99High'],
    alertsTotal: 2,
  });
  expect(facts.docs.map((d) => d.path).sort()).toEqual(['services/messages/README.md', `${workspace.specDir}/plan.md`]);
  expect(facts.headCommit).toBe(git(workspace.path, 'rev-parse', 'HEAD~1'));

  const report = readFileSync(join(workspace.path, path), 'utf8');
  expect(report).toContain('- added `messages.v1.Messages/Subscribe`: `rpc Subscribe(SubscribeRequest) returns (stream Message)`');
  expect(report).toContain('| messages | 82.5 % (istanbul, `services/messages/coverage/coverage-summary.json`) | -1.5 % vs main@abc |');
  expect(report).toContain('— http://grafana.local:3000/d/slipway-002-real-time');
  expect(report).toContain('  kubectl -n prod rollout undo deployment/messages --to-revision=4\n');
  expect(report).toContain('  # 20261125000100 has no down migration: it cannot be reverted\n');
  expect(report).toContain(`  psql "$MESSAGES_DATABASE_URL" -v ON_ERROR_STOP=1 --single-transaction -f services/messages/migrations/20261125000000_add_read_at.down.sql -c`);
  expect(git(workspace.path, 'log', '-1', '--format=%s')).toBe(`report: ${workspace.branch}`);
});

test('a symlinked coverage file is not followed, and an unparsable .proto is named, not fatal', async () => {
  const { activities, workspace, settings } = await deliveredBranch();
  await write(workspace.path, 'services/notifications/api/notifications.proto', 'service {\n');
  git(workspace.path, 'commit', '-q', '-am', 'broken proto');
  await mkdir(join(workspace.path, 'services/notifications/coverage'), { recursive: true });
  await symlink('/etc/hostname', join(workspace.path, 'services/notifications/coverage/coverage-summary.json'));
  const { facts } = await activities.writeReport({ runId: 'run-r', workspace, repository: settings.repository, state: stateOf(workspace), settings: reportSettingsOf(settings) });
  const notifications = facts.services.find((s) => s.service === 'notifications');
  expect(notifications?.coverage).toBeUndefined();
  expect(notifications?.problems).toEqual(expect.arrayContaining([expect.stringMatching(/^services\/notifications\/api\/notifications.proto does not parse as a .proto/)]));
});
