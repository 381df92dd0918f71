import { ApplicationFailure } from '@temporalio/common';
import type { Logger } from 'pino';
import type { AnalysisSettings, EnvironmentSettings, PrometheusSettings, ServiceSettings } from '../../config/settings';
import type { BaselineComparison, CheckResult, SoakSample } from '../../workflows/state';
import { whileHeartbeating } from '../heartbeat';
import { compareWithBaseline, type BaselineTarget } from './baseline';
import { checksFor, requestQuery, selectorFor } from './checks';
import { PrometheusQueryError, PrometheusUnreachable, queryInstant } from './query';

/**
 * The sample's own verdict: any failing check or worse comparison fails it; no data follows each
 * one's policy. A comparison still waiting for points, or with nothing to compare, decides nothing.
 */
export function sampleVerdict(checks: CheckResult[], comparisons: BaselineComparison[] = []): SoakSample['verdict'] {
  const effective = [
    ...checks.map((c) => (c.status === 'no-data' ? c.noData : c.status)),
    ...comparisons.map((c) => (c.status === 'worse' ? 'fail' : c.status === 'no-data' ? c.noData : 'pass')),
  ];
  if (effective.includes('fail')) return 'fail';
  if (effective.includes('inconclusive')) return 'inconclusive';
  return 'pass';
}

const format = (value: number) => (Math.abs(value) < 10 ? value.toPrecision(3) : value.toFixed(1));

export interface AnalyzeSloInput {
  runId: string;
  service: ServiceSettings;
  environment: EnvironmentSettings;
  sample: number;
  analysis: AnalysisSettings;
  prometheus?: PrometheusSettings;
  /** Set during a soak that compares the new version with its baseline (the workflow decides whether it does). */
  baseline?: BaselineTarget;
}

export function createPrometheusActivities(deps: { logger: Logger }) {
  return {
    /**
     * One sample of the service's SLO checks in one environment, with the evidence: each check's
     * query, value, threshold and status. Prometheus not answering is reported in `error`
     * (the workflow counts those against its limit), never as a pass.
     */
    async analyzeSlo(input: AnalyzeSloInput): Promise<SoakSample> {
      // Beats while the queries run, so a worker that dies mid-sample is noticed in seconds, not at the timeout.
      return whileHeartbeating(async () => {
        const { prometheus, service, environment, analysis } = input;
        if (prometheus === undefined) {
          throw ApplicationFailure.nonRetryable('no prometheus section in config: a soak cannot be judged without it', 'PrometheusNotConfigured');
        }
        const at = new Date().toISOString();
        const base = { service: service.name, environment: environment.name, at, sample: input.sample };
        // The service as a whole, then each gRPC method the feature adds.
        const definitions = [
          ...checksFor(analysis, service, environment),
          ...service.slo.methods.flatMap((method) => checksFor(analysis, service, environment, { method }).map((check) => ({ ...check, name: `${method}/${check.name}` }))),
        ];
        const countQuery = requestQuery(selectorFor(service, environment), analysis.window);
        try {
          const requests = (await queryInstant(prometheus.url, countQuery, prometheus.queryTimeout)) ?? 0;
          const enough = requests >= analysis.minRequests;
          const checks: CheckResult[] = [];
          for (const check of definitions) {
            const value = enough ? await queryInstant(prometheus.url, check.query, prometheus.queryTimeout) : undefined;
            const common = { name: check.name, query: check.query, threshold: check.threshold, failWhen: check.failWhen, noData: check.noData };
            if (value === undefined) {
              const why = enough ? 'no data' : `only ${Math.round(requests)} requests in ${analysis.window} (minimum ${analysis.minRequests})`;
              checks.push({ ...common, status: 'no-data', detail: `${check.name}: ${why} (treated as ${check.noData})` });
              continue;
            }
            const failed = check.failWhen === 'above' ? value > check.threshold : value < check.threshold;
            const sign = failed ? (check.failWhen === 'above' ? '>' : '<') : check.failWhen === 'above' ? '<=' : '>=';
            checks.push({ ...common, value, status: failed ? 'fail' : 'pass', detail: `${check.name} ${format(value)} ${sign} ${format(check.threshold)}` });
          }
          const comparisons =
            input.baseline !== undefined && analysis.baseline !== undefined
              ? await compareWithBaseline({ prometheus, baseline: analysis.baseline, noData: analysis.noData, service, environment, target: input.baseline, nowMs: Date.now() })
              : undefined;
          const verdict = sampleVerdict(checks, comparisons);
          const shown = [
            ...checks.filter((c) => (verdict === 'pass' ? true : c.status !== 'pass')),
            // Waiting or skipped comparisons stay in the evidence, out of the one-line detail.
            ...(comparisons ?? []).filter((c) => (verdict === 'pass' ? c.status === 'pass' : c.status === 'worse' || (c.status === 'no-data' && c.noData !== 'pass'))),
          ];
          return { ...base, verdict, requests, checks, ...(comparisons ? { comparisons } : {}), detail: shown.map((c) => c.detail).join('; ') };
        } catch (err) {
          if (!(err instanceof PrometheusUnreachable || err instanceof PrometheusQueryError)) throw err;
          deps.logger.warn({ runId: input.runId, service: service.name, error: err.message }, 'prometheus sample failed');
          return { ...base, verdict: 'inconclusive', error: err.message, detail: err.message };
        }
      });
    },
  };
}
export type PrometheusActivities = ReturnType<typeof createPrometheusActivities>;
