/**
 * The post-deploy watch's own checks, as the service's SLO the analysis samples: stricter error
 * ratio and P99 than the soak, memory that does not keep growing, and database load near what it
 * was before the release. Pure and deterministic: the watch builds it once from its input.
 */
import type { ServiceSettings, WatchSettings } from '../config/settings';

type Check = ServiceSettings['slo']['checks'][number];

export const MEMORY_CHECK = 'memory-growth';
export const DB_CONNECTIONS_CHECK = 'db-connections';
export const DB_QUERY_TIME_CHECK = 'db-query-time';

/** Fills the watch's own values into a query; {{selector}} and {{window}} stay for the analysis to fill. */
const fill = (template: string, values: Record<string, string>) => template.replace(/<(\w+)>/g, (whole, key: string) => values[key] ?? whole);

/** The per-method error ratio and P99 the soak checks too, with the watch's thresholds. */
function methodChecks(methods: string[], errorRatio: number, p99Seconds: number): Check[] {
  return methods.flatMap((method) => {
    const selector = `{{selector}},grpc_method="${method}"`;
    return [
      {
        name: `${method}/error-ratio`,
        query: `(sum(rate(grpc_server_handled_total{${selector},grpc_code!="OK"}[{{window}}])) or vector(0)) / sum(rate(grpc_server_handled_total{${selector}}[{{window}}]))`,
        threshold: errorRatio,
        failWhen: 'above' as const,
      },
      {
        name: `${method}/p99-latency`,
        query: `histogram_quantile(0.99, sum by (le) (rate(grpc_server_handling_seconds_bucket{${selector}}[{{window}}])))`,
        threshold: p99Seconds,
        failWhen: 'above' as const,
      },
    ];
  });
}

/**
 * Memory stable: the regression slope of each live pod's resident memory over the window, as a
 * fraction of its mean per hour; the fastest-growing pod counts. A leak shows as a steady slope,
 * a warm-up as a step that a long window flattens.
 */
export function memoryCheck(watch: Pick<WatchSettings, 'memory'>): Check {
  const { metric, window, maxGrowthPerHour } = watch.memory;
  return {
    name: MEMORY_CHECK,
    query: fill('max((deriv(<m>{{{selector}}}[<w>]) * 3600 / avg_over_time(<m>{{{selector}}}[<w>])) and <m>{{{selector}}})', { m: metric, w: window }),
    threshold: maxGrowthPerHour,
    failWhen: 'above',
  };
}

/**
 * Database load normal: open connections and mean query time now, each as a multiple of its mean
 * over the window before the production rollout (`@` pins the baseline to that instant). A tiny
 * baseline counts as the configured minimum, so an idle pool does not turn noise into a ratio.
 */
export function databaseChecks(watch: Pick<WatchSettings, 'database'>, baselineAtMs: number): Check[] {
  const db = watch.database;
  const values = { c: db.connectionsMetric, q: db.queryDurationMetric, b: db.baselineWindow, t: String(Math.floor(baselineAtMs / 1000)), minC: String(db.minConnections), minQ: String(db.minQuerySeconds) };
  return [
    {
      name: DB_CONNECTIONS_CHECK,
      query: fill('avg_over_time(sum(<c>{{{selector}}})[{{window}}:]) / clamp_min(avg_over_time(sum(<c>{{{selector}}})[<b>:] @ <t>), <minC>)', values),
      threshold: db.maxConnectionsRatio,
      failWhen: 'above',
    },
    {
      name: DB_QUERY_TIME_CHECK,
      query: fill(
        '(sum(rate(<q>_sum{{{selector}}}[{{window}}])) / sum(rate(<q>_count{{{selector}}}[{{window}}]))) / clamp_min(sum(rate(<q>_sum{{{selector}}}[<b>] @ <t>)) / sum(rate(<q>_count{{{selector}}}[<b>] @ <t>)), <minQ>)',
        values,
      ),
      threshold: db.maxQueryTimeRatio,
      failWhen: 'above',
    },
  ];
}

/**
 * The service as the watch samples it: the stricter of its own SLO and the watch's thresholds,
 * its gRPC methods checked one by one, its own extra checks, then memory and (with a database
 * and a known rollout time) database load. `baselineAtMs` is when its production rollout began.
 */
export function watchedService(service: ServiceSettings, watch: WatchSettings, baselineAtMs?: number): ServiceSettings {
  const errorRatio = Math.min(service.slo.errorRatio, watch.errorRatio);
  const p99Seconds = Math.min(service.slo.p99Seconds, watch.p99Seconds);
  const checks: Check[] = [
    ...methodChecks(service.slo.methods, errorRatio, p99Seconds),
    ...service.slo.checks,
    ...(watch.memory.enabled ? [memoryCheck(watch)] : []),
    ...(watch.database.enabled && service.database !== undefined && baselineAtMs !== undefined ? databaseChecks(watch, baselineAtMs) : []),
  ];
  return { ...service, slo: { ...service.slo, errorRatio, p99Seconds, methods: [], checks } };
}
