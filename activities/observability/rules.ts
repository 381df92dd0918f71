/** Alert rules and a Grafana dashboard for a delivered feature. Pure builders. */
import type { AnalysisSettings, EnvironmentSettings, ServiceSettings } from '../../config/settings';
import { checksFor, selectorFor } from '../prometheus/checks';

/** Alerts look at a steadier window than the soak does. */
const ALERT_WINDOW = '5m';

export interface RuleGroup {
  name: string;
  rules: {
    alert: string;
    expr: string;
    for: string;
    labels: Record<string, string>;
    annotations: Record<string, string>;
  }[];
}

const pascal = (text: string) => text.replace(/(^|[^A-Za-z0-9])([A-Za-z0-9])/g, (_m, _sep, c: string) => c.toUpperCase());

export function alertRules(input: { analysis: AnalysisSettings; services: ServiceSettings[]; environment: EnvironmentSettings; feature: string; branch: string; runbook: string }): RuleGroup[] {
  return input.services.map((service) => {
    const scopes: (string | undefined)[] = [undefined, ...service.slo.methods];
    const rules = scopes.flatMap((method) =>
      checksFor(input.analysis, service, input.environment, { window: ALERT_WINDOW, ...(method ? { method } : {}) }).map((check) => ({
        alert: `${pascal(service.name)}${method ? pascal(method) : ''}${pascal(check.name)}${check.failWhen === 'above' ? 'High' : 'Low'}`,
        expr: `${check.query} ${check.failWhen === 'above' ? '>' : '<'} ${check.threshold}`,
        for: '5m',
        labels: { severity: 'page', service: service.name, feature: input.branch },
        annotations: {
          summary: `${service.name}${method ? ` ${method}` : ''}: ${check.name} ${check.failWhen} ${check.threshold}`,
          description: `${check.name} is {{ $value | humanize }} (threshold ${check.threshold}) for ${service.name}${method ? ` method ${method}` : ''} since the delivery of "${input.feature}".`,
          runbook_url: input.runbook,
        },
      })),
    );
    return { name: `slipway-${input.branch}-${service.name}`, rules };
  });
}

export function grafanaDashboard(input: { analysis: AnalysisSettings; services: ServiceSettings[]; environment: EnvironmentSettings; feature: string; branch: string }): Record<string, unknown> {
  let id = 0;
  const panel = (title: string, expr: string, unit: string, x: number, y: number) => ({
    id: ++id,
    type: 'timeseries',
    title,
    datasource: { type: 'prometheus', uid: '${datasource}' },
    gridPos: { h: 8, w: 8, x, y },
    fieldConfig: { defaults: { unit }, overrides: [] },
    targets: [{ refId: 'A', expr, datasource: { type: 'prometheus', uid: '${datasource}' } }],
  });
  const panels = input.services.flatMap((service, row) => {
    const selector = selectorFor(service, input.environment);
    const [ratio, p99] = checksFor(input.analysis, service, input.environment, { window: '$__rate_interval' });
    const y = row * 8;
    return [
      panel(`${service.name}: request rate`, `sum(rate(grpc_server_handled_total{${selector}}[$__rate_interval]))`, 'reqps', 0, y),
      panel(`${service.name}: error rate`, ratio?.query ?? '', 'percentunit', 8, y),
      panel(`${service.name}: P99 latency`, p99?.query ?? '', 's', 16, y),
    ];
  });
  return {
    uid: `slipway-${input.branch}`.slice(0, 40),
    title: `Slipway · ${input.feature}`.slice(0, 120),
    tags: ['slipway', input.branch],
    timezone: 'utc',
    schemaVersion: 39,
    time: { from: 'now-6h', to: 'now' },
    templating: { list: [{ name: 'datasource', type: 'datasource', query: 'prometheus', current: {} }] },
    panels,
  };
}

/** A Kubernetes label value: at most 63 characters of [A-Za-z0-9-_.], starting and ending alphanumeric. */
export function labelValue(text: string): string {
  return text.replace(/[^A-Za-z0-9._-]/g, '-').slice(0, 63).replace(/^[^A-Za-z0-9]+|[^A-Za-z0-9]+$/g, '');
}
