import type { AnalysisSettings, EnvironmentSettings, ServiceSettings } from '../../config/settings';

export interface CheckDefinition {
  name: string;
  query: string;
  threshold: number;
  failWhen: 'above' | 'below';
  noData: 'pass' | 'fail' | 'inconclusive';
}

/** Fills {{selector}}, {{window}}, {{service}}, {{environment}} and {{namespace}} into a query template. */
export function fillTemplate(template: string, values: Record<string, string>): string {
  return template.replace(/\{\{\s*(\w+)\s*\}\}/g, (whole, key: string) => values[key] ?? whole);
}

export function selectorFor(service: ServiceSettings, environment: Pick<EnvironmentSettings, 'name' | 'namespace'>): string {
  return fillTemplate(service.slo.selector, { service: service.name, environment: environment.name, namespace: environment.namespace });
}

/** The request count in the window: below `minRequests` no check can pass. */
export function requestQuery(selector: string, window: string): string {
  return `sum(increase(grpc_server_handled_total{${selector}}[${window}]))`;
}

/**
 * The service's checks: the error ratio and P99 defaults from its `slo`, then its own.
 * `method`, when given, narrows every default query to that gRPC method (used for alert rules).
 */
export function checksFor(
  analysis: Pick<AnalysisSettings, 'window' | 'noData'>,
  service: ServiceSettings,
  environment: Pick<EnvironmentSettings, 'name' | 'namespace'>,
  options: { method?: string; window?: string } = {},
): CheckDefinition[] {
  const base = selectorFor(service, environment);
  const selector = options.method ? `${base},grpc_method="${options.method}"` : base;
  const window = options.window ?? analysis.window;
  const noData = analysis.noData;
  const defaults: CheckDefinition[] = [
    {
      name: 'error-ratio',
      // `or vector(0)`: no errors at all is a ratio of 0, not "no data".
      query: `(sum(rate(grpc_server_handled_total{${selector},grpc_code!="OK"}[${window}])) or vector(0)) / sum(rate(grpc_server_handled_total{${selector}}[${window}]))`,
      threshold: service.slo.errorRatio,
      failWhen: 'above',
      noData,
    },
    {
      name: 'p99-latency',
      query: `histogram_quantile(0.99, sum by (le) (rate(grpc_server_handling_seconds_bucket{${selector}}[${window}])))`,
      threshold: service.slo.p99Seconds,
      failWhen: 'above',
      noData,
    },
  ];
  const own = service.slo.checks.map((check) => ({
    name: check.name,
    query: fillTemplate(check.query, { selector, window, service: service.name, environment: environment.name, namespace: environment.namespace }),
    threshold: check.threshold,
    failWhen: check.failWhen,
    noData: check.noData ?? noData,
  }));
  return [...defaults, ...own];
}
