import type { ServiceConfig, SlipwayConfig } from '../../config/schema';

export interface CheckDefinition {
  name: string;
  query: string;
  threshold: number;
  failWhen: 'above' | 'below';
  noData: 'pass' | 'fail' | 'inconclusive';
}

/** Fills {{selector}}, {{window}}, {{service}} and {{environment}} into a query template. */
export function fillTemplate(template: string, values: Record<string, string>): string {
  return template.replace(/\{\{\s*(\w+)\s*\}\}/g, (whole, key: string) => values[key] ?? whole);
}

export function selectorFor(service: ServiceConfig, environment: string): string {
  return fillTemplate(service.slo.selector, { service: service.name, environment });
}

/** The request count in the window: below `minRequests` no check can pass. */
export function requestQuery(selector: string, window: string): string {
  return `sum(increase(grpc_server_handled_total{${selector}}[${window}]))`;
}

/**
 * The service's checks: the error ratio and P99 defaults from its `slo`, then its own.
 * `method`, when given, narrows every default query to that gRPC method (used for alert rules).
 */
export function checksFor(config: SlipwayConfig, service: ServiceConfig, environment: string, options: { method?: string; window?: string } = {}): CheckDefinition[] {
  const base = selectorFor(service, environment);
  const selector = options.method ? `${base},grpc_method="${options.method}"` : base;
  const window = options.window ?? config.analysis.window;
  const noData = config.analysis.noData;
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
    query: fillTemplate(check.query, { selector, window, service: service.name, environment }),
    threshold: check.threshold,
    failWhen: check.failWhen,
    noData: check.noData ?? noData,
  }));
  return [...defaults, ...own];
}
