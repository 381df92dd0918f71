import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ApplicationFailure } from '@temporalio/common';
import type { Logger } from 'pino';
import { stringify } from 'yaml';
import type { AnalysisSettings, EnvironmentSettings, RepositorySettings, ServiceSettings } from '../../config/settings';
import type { Workspace } from '../../workflows/state';
import { commitPaths } from '../repo/workspace';
import { writeWorktreeFile } from '../sandbox/worktreeFs';
import { alertRules, grafanaDashboard, labelValue } from './rules';

const run = promisify(execFile);

export interface WriteObservabilityInput {
  runId: string;
  feature: string;
  services: ServiceSettings[];
  /** Production: what the alerts and the dashboard watch. */
  environment: EnvironmentSettings;
  analysis: AnalysisSettings;
  workspace: Workspace;
  repository: RepositorySettings;
}

/** `promtool` is located at start-up (installers never run inside an activity). */
export function createObservabilityActivities(deps: { logger: Logger; promtool: string }) {
  return {
    /**
     * Prometheus alert rules and a Grafana dashboard for the feature, in the feature's folder and
     * as Kubernetes objects (a PrometheusRule, and a ConfigMap Grafana's sidecar picks up).
     * The rules must pass `promtool check rules`, or the phase fails with promtool's message.
     */
    async writeObservability(input: WriteObservabilityInput): Promise<{ paths: string[] }> {
      const { workspace, services, environment, analysis } = input;
      const folder = `${workspace.specDir}/observability`;
      const runbook = `${workspace.specDir}/runbook.md`;
      const groups = alertRules({ analysis, services, environment, feature: input.feature, branch: workspace.branch, runbook });
      const dashboard = grafanaDashboard({ analysis, services, environment, feature: input.feature, branch: workspace.branch });
      const labels = { 'slipway.dev/run': labelValue(input.runId), 'slipway.dev/feature': labelValue(workspace.branch) };
      const name = labelValue(`slipway-${workspace.branch}`).toLowerCase();
      const files: Record<string, string> = {
        [`${folder}/alerts.yaml`]: stringify({ groups }),
        [`${folder}/dashboard.json`]: `${JSON.stringify(dashboard, null, 2)}\n`,
        [`${folder}/k8s/prometheusrule.yaml`]: stringify({
          apiVersion: 'monitoring.coreos.com/v1',
          kind: 'PrometheusRule',
          metadata: { name, labels },
          spec: { groups },
        }),
        [`${folder}/k8s/grafana-dashboard.yaml`]: stringify({
          apiVersion: 'v1',
          kind: 'ConfigMap',
          metadata: { name: `${name}-dashboard`, labels: { ...labels, grafana_dashboard: '1' } },
          data: { [`${name}.json`]: JSON.stringify(dashboard) },
        }),
      };
      for (const [path, text] of Object.entries(files)) await writeWorktreeFile(workspace.path, path, text, 4 * 1024 * 1024);

      try {
        await run(deps.promtool, ['check', 'rules', join(workspace.path, folder, 'alerts.yaml')], { timeout: 60_000 });
      } catch (err) {
        const output = `${(err as { stdout?: string }).stdout ?? ''}${(err as { stderr?: string }).stderr ?? ''}`.trim();
        throw ApplicationFailure.nonRetryable(`promtool rejected the generated alert rules: ${output || (err as Error).message}`, 'AlertRulesInvalid');
      }
      const paths = Object.keys(files);
      await commitPaths(workspace, paths, `observability: alerts and dashboard for ${workspace.branch}\n\nRun ${input.runId}. Rules checked with promtool.`, input.repository.remote);
      return { paths };
    },
  };
}
export type ObservabilityActivities = ReturnType<typeof createObservabilityActivities>;
