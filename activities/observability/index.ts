import { execFile } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ApplicationFailure } from '@temporalio/common';
import type { Logger } from 'pino';
import { stringify } from 'yaml';
import type { SlipwayConfig } from '../../config/schema';
import { ensurePrometheus } from '../../scripts/prometheus';
import type { Workspace } from '../agents';
import { commitPaths } from '../repo/workspace';
import { alertRules, grafanaDashboard, labelValue } from './rules';

const run = promisify(execFile);

export function createObservabilityActivities(deps: { config: SlipwayConfig; logger: Logger }) {
  const { config } = deps;
  const promtool = async () => process.env.SLIPWAY_PROMTOOL ?? (await ensurePrometheus((line) => deps.logger.info(line))).promtool;

  return {
    /**
     * Prometheus alert rules and a Grafana dashboard for the feature, in the feature's folder and
     * as Kubernetes objects (a PrometheusRule, and a ConfigMap Grafana's sidecar picks up).
     * The rules must pass `promtool check rules`, or the phase fails with promtool's message.
     */
    async writeObservability(input: { runId: string; feature: string; services: string[]; workspace: Workspace }): Promise<{ paths: string[] }> {
      const services = config.services.filter((s) => input.services.includes(s.name));
      const production = config.environments.at(-1)?.name ?? 'production';
      const folder = `${input.workspace.specDir}/observability`;
      const runbook = `${input.workspace.specDir}/runbook.md`;
      const groups = alertRules({ config, services, environment: production, feature: input.feature, branch: input.workspace.branch, runbook });
      const dashboard = grafanaDashboard({ config, services, environment: production, feature: input.feature, branch: input.workspace.branch });
      const labels = { 'slipway.dev/run': labelValue(input.runId), 'slipway.dev/feature': labelValue(input.workspace.branch) };
      const name = labelValue(`slipway-${input.workspace.branch}`).toLowerCase();
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
      await mkdir(join(input.workspace.path, folder, 'k8s'), { recursive: true });
      for (const [path, text] of Object.entries(files)) await writeFile(join(input.workspace.path, path), text);

      try {
        await run(await promtool(), ['check', 'rules', join(input.workspace.path, folder, 'alerts.yaml')], { timeout: 60_000 });
      } catch (err) {
        const output = `${(err as { stdout?: string }).stdout ?? ''}${(err as { stderr?: string }).stderr ?? ''}`.trim();
        throw ApplicationFailure.nonRetryable(`promtool rejected the generated alert rules: ${output || (err as Error).message}`, 'AlertRulesInvalid');
      }
      const paths = Object.keys(files);
      await commitPaths(input.workspace, paths, `observability: alerts and dashboard for ${input.workspace.branch}\n\nRun ${input.runId}. Rules checked with promtool.`, config.repository.remote);
      return { paths };
    },
  };
}
export type ObservabilityActivities = ReturnType<typeof createObservabilityActivities>;
