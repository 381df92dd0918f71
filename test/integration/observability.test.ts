import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import type { SlipwayConfigInput } from '../../config/schema';
import { testActivities } from '../support/activities';
import { environmentIn, settingsFrom } from '../support/doubles';
import { fixtureRepo, git } from '../support/gitRepo';

async function setup(services: SlipwayConfigInput['services']) {
  const { repo, worktrees } = await fixtureRepo();
  const settings = settingsFrom({ repository: { path: repo, worktreesDir: worktrees }, services, environments: [{ name: 'staging' }, { name: 'production' }] });
  const activities = testActivities();
  const workspace = await activities.prepareWorkspace({ runId: 'feature-notify-users-k1', feature: 'Notify users of new messages', repository: settings.repository });
  const input = (runId: string, feature: string) => ({ runId, feature, services: settings.services, environment: environmentIn(settings, 'production'), analysis: settings.analysis, workspace, repository: settings.repository });
  return { activities, workspace, input };
}

test('alert rules and a dashboard are written, pass promtool, and are committed with their Kubernetes objects', async () => {
  const { activities, workspace, input } = await setup([
    { name: 'messages', path: 'm', slo: { errorRatio: 0.02, p99Seconds: 0.3, methods: ['SendMessage'], selector: 'job="{{service}}",env="{{environment}}"' } },
    { name: 'notifications', path: 'n' },
  ]);
  const { paths } = await activities.writeObservability(input('feature-notify-users-k1', 'Notify users of new messages'));
  const folder = `${workspace.specDir}/observability`;
  expect(paths.sort()).toEqual([`${folder}/alerts.yaml`, `${folder}/dashboard.json`, `${folder}/k8s/grafana-dashboard.yaml`, `${folder}/k8s/prometheusrule.yaml`]);

  const read = (path: string) => readFileSync(join(workspace.path, path), 'utf8');
  const rules = parse(read(`${folder}/alerts.yaml`)) as { groups: { name: string; rules: { alert: string; expr: string }[] }[] };
  expect(rules.groups.map((g) => g.name)).toEqual([`slipway-${workspace.branch}-messages`, `slipway-${workspace.branch}-notifications`]);
  expect(rules.groups[0]?.rules.map((r) => r.alert)).toEqual(['MessagesErrorRatioHigh', 'MessagesP99LatencyHigh', 'MessagesSendMessageErrorRatioHigh', 'MessagesSendMessageP99LatencyHigh']);
  expect(rules.groups[0]?.rules[2]?.expr).toContain('grpc_server_handled_total{job="messages",env="production",grpc_method="SendMessage",grpc_code!="OK"}[5m]');
  expect(rules.groups[0]?.rules[0]?.expr).toMatch(/ > 0\.02$/);
  // promtool agrees, independently of the activity's own check.
  expect(execFileSync(process.env.SLIPWAY_TEST_PROMTOOL as string, ['check', 'rules', join(workspace.path, folder, 'alerts.yaml')], { encoding: 'utf8' })).toMatch(/SUCCESS: 6 rules found/);

  const dashboard = JSON.parse(read(`${folder}/dashboard.json`)) as { panels: { title: string; targets: { expr: string }[] }[] };
  expect(dashboard.panels.map((p) => p.title)).toEqual([
    'messages: request rate',
    'messages: error rate',
    'messages: P99 latency',
    'notifications: request rate',
    'notifications: error rate',
    'notifications: P99 latency',
  ]);
  expect(dashboard.panels[2]?.targets[0]?.expr).toContain('[$__rate_interval]');

  const rule = parse(read(`${folder}/k8s/prometheusrule.yaml`));
  expect(rule).toMatchObject({ apiVersion: 'monitoring.coreos.com/v1', kind: 'PrometheusRule', metadata: { labels: { 'slipway.dev/run': 'feature-notify-users-k1', 'slipway.dev/feature': workspace.branch } } });
  expect(rule.spec.groups).toEqual(rules.groups);
  const configMap = parse(read(`${folder}/k8s/grafana-dashboard.yaml`));
  expect(configMap.metadata.labels.grafana_dashboard).toBe('1');
  expect(JSON.parse(Object.values(configMap.data as Record<string, string>)[0] ?? '')).toEqual(dashboard);

  expect(git(workspace.path, 'log', '-1', '--format=%s')).toBe(`observability: alerts and dashboard for ${workspace.branch}`);
  expect(git(workspace.path, 'status', '--porcelain')).toBe('');
});

test("a rule file promtool rejects fails the phase with promtool's message", async () => {
  const { activities, workspace, input } = await setup([{ name: 'messages', path: 'm', slo: { checks: [{ name: 'queue-depth', query: 'max(queue_depth{{{selector}}}', threshold: 100 }] } }]);
  const err = await activities.writeObservability(input('r', 'f')).catch((e: unknown) => e);
  expect(err).toMatchObject({ type: 'AlertRulesInvalid', nonRetryable: true });
  expect((err as Error).message).toMatch(/^promtool rejected the generated alert rules: .*(parse error|unclosed)/s);
  expect(git(workspace.path, 'rev-list', '--count', `main..${workspace.branch}`)).toBe('0');
});
