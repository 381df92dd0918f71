/**
 * The new version against the one it replaces, per metric: one point per step for each (range
 * queries), a one-sided Mann-Whitney U test over every point since the soak began, and the rule in
 * workflows/verdict.ts. Only the statistics leave this module; the points stay in Prometheus.
 */
import ms from 'ms';
import type { BaselineConfig, BUILT_IN_BASELINE_METRICS } from '../../config/schema';
import type { EnvironmentSettings, PrometheusSettings, ServiceSettings } from '../../config/settings';
import type { BaselineComparison } from '../../workflows/state';
import { judgeAgainstBaseline } from '../../workflows/verdict';
import { fillTemplate, selectorFor } from './checks';
import { mannWhitneyU } from './mannWhitney';
import { queryRange } from './query';

/** What the soak knows of the rollout it judges; the workflow hands it to every sample. */
export interface BaselineTarget {
  /** When the rollout began: the previous version's record ends there. */
  rolloutStartedAtMs: number;
  /** When the soak began (the rollout complete): the new version's points start there. */
  soakStartedAtMs: number;
  /** The image the rollout runs and the one it replaced, as the Deployment names them. */
  image?: string;
  previousImage?: string;
  /** The rollout created the service: there is no previous version to compare with. */
  firstDeploy: boolean;
}

/** go-grpc-prometheus metrics, one value per step (`{{window}}` is the step, so points do not overlap). */
export const BUILT_IN_QUERIES: Record<(typeof BUILT_IN_BASELINE_METRICS)[number], string> = {
  'error-ratio': '(sum(rate(grpc_server_handled_total{{{selector}},grpc_code!="OK"}[{{window}}])) or vector(0)) / sum(rate(grpc_server_handled_total{{{selector}}}[{{window}}]))',
  'p99-latency': 'histogram_quantile(0.99, sum by (le) (rate(grpc_server_handling_seconds_bucket{{{selector}}}[{{window}}])))',
  'mean-latency': 'sum(rate(grpc_server_handling_seconds_sum{{{selector}}}[{{window}}])) / sum(rate(grpc_server_handling_seconds_count{{{selector}}}[{{window}}]))',
};

export interface CompareInput {
  prometheus: PrometheusSettings;
  baseline: BaselineConfig;
  /** `analysis.noData`, for comparisons whose own policy is not set. */
  noData: BaselineComparison['noData'];
  service: ServiceSettings;
  environment: EnvironmentSettings;
  target: BaselineTarget;
  nowMs: number;
}

const iso = (ms_: number) => new Date(ms_).toISOString();

/** Series of one image: by its digest when it has one (a label may spell the repository or tag differently), else by the whole reference. */
export function versionMatcher(label: string, image: string): string {
  const digest = /@(sha256:[0-9a-f]+)$/.exec(image)?.[1];
  return digest !== undefined ? `${label}=~".+@${digest}"` : `${label}="${image.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

export async function compareWithBaseline(input: CompareInput): Promise<BaselineComparison[]> {
  const { baseline, service, environment, target, nowMs } = input;
  const stepMs = ms(baseline.step as ms.StringValue);
  const base = selectorFor(service, environment);
  const { image, previousImage } = target;
  const versions =
    baseline.versionLabel !== undefined && image !== undefined && previousImage !== undefined && image !== previousImage && baseline.source !== 'window'
      ? { label: baseline.versionLabel, image, previousImage }
      : undefined;
  const versioned = (label: string, ref: string) => `${base},${versionMatcher(label, ref)}`;
  const newRange = { fromMs: target.soakStartedAtMs + stepMs, toMs: nowMs };
  const windowRange = { fromMs: target.rolloutStartedAtMs - baseline.lookback + stepMs, toMs: target.rolloutStartedAtMs };
  const range = (r: { fromMs: number; toMs: number }) => ({ from: iso(r.fromMs), to: iso(r.toMs) });
  const fetchPoints = async (query: string, r: { fromMs: number; toMs: number }) =>
    r.toMs < r.fromMs ? [] : (await queryRange(input.prometheus.url, query, { ...r, stepSeconds: stepMs / 1000 }, input.prometheus.queryTimeout)).map(settle);
  // Steps the soak has lasted: too few new points after twice minPoints steps is no data, not waiting (the slack is for scrape delays).
  const elapsedSteps = Math.floor((nowMs - target.soakStartedAtMs) / stepMs);

  const comparisons: BaselineComparison[] = [];
  for (const metric of baseline.metrics) {
    const template = metric.query ?? (BUILT_IN_QUERIES as Record<string, string | undefined>)[metric.name];
    if (template === undefined) throw new Error(`baseline metric ${metric.name} has no query and is not built in`);
    const fill = (selector: string) => fillTemplate(template, { selector, window: baseline.step, service: service.name, environment: environment.name, namespace: environment.namespace });
    const common = {
      metric: metric.name,
      step: baseline.step,
      effectKind: metric.effect,
      minEffect: metric.minEffect,
      confidence: baseline.confidence,
      noData: baseline.noData ?? input.noData,
    };
    const label = `baseline ${metric.name}`;
    if (target.firstDeploy) {
      comparisons.push({ ...common, status: 'skipped', points: { new: 0, baseline: 0 }, detail: `${label}: skipped, the rollout created the service (no previous version)` });
      continue;
    }
    if (baseline.source === 'pods' && versions === undefined) {
      comparisons.push({ ...common, source: 'pods', status: 'no-data', points: { new: 0, baseline: 0 }, detail: `${label}: no previous pods to compare with (the previous image is unknown or the same)` });
      continue;
    }
    const newQuery = fill(versions ? versioned(versions.label, versions.image) : base);
    const newPoints = await fetchPoints(newQuery, newRange);
    const newSide = { newQuery, newRange: range(newRange) };
    if (newPoints.length < baseline.minPoints) {
      const overdue = elapsedSteps >= 2 * baseline.minPoints;
      comparisons.push({
        ...common,
        ...newSide,
        status: overdue ? 'no-data' : 'pending',
        points: { new: newPoints.length, baseline: 0 },
        detail: overdue
          ? `${label}: only ${newPoints.length} points of the new version in ${elapsedSteps} steps of ${baseline.step} (needs ${baseline.minPoints}) (treated as ${common.noData})`
          : `${label}: waiting for ${baseline.minPoints} points of the new version (${newPoints.length} so far)`,
      });
      continue;
    }
    // The previous image's pods during the same time, when the rollout kept some; else its record before the rollout.
    let source: 'pods' | 'window' = 'window';
    let baselineQuery = fill(base);
    let baselineRange = windowRange;
    let baselinePoints: number[] | undefined;
    if (versions !== undefined) {
      const podsQuery = fill(versioned(versions.label, versions.previousImage));
      const podsPoints = await fetchPoints(podsQuery, newRange);
      if (baseline.source === 'pods' || podsPoints.length >= baseline.minPoints) {
        source = 'pods';
        baselineQuery = podsQuery;
        baselineRange = newRange;
        baselinePoints = podsPoints;
      }
    }
    baselinePoints ??= await fetchPoints(baselineQuery, baselineRange);
    const evidence = { ...common, ...newSide, source, baselineQuery, baselineRange: range(baselineRange) };
    const points = { new: newPoints.length, baseline: baselinePoints.length };
    if (baselinePoints.length < baseline.minPoints) {
      const where = source === 'pods' ? `the previous image's pods` : `the ${ms(baseline.lookback)} before the rollout`;
      comparisons.push({ ...evidence, status: 'no-data', points, detail: `${label}: only ${baselinePoints.length} baseline points in ${where} (needs ${baseline.minPoints}) (treated as ${common.noData})` });
      continue;
    }
    const test = mannWhitneyU(newPoints, baselinePoints, metric.worseWhen === 'higher' ? 'greater' : 'less');
    const means = { new: mean(newPoints), baseline: mean(baselinePoints) };
    const judgement = judgeAgainstBaseline({ pValue: test.pValue, means }, { ...metric, confidence: baseline.confidence });
    comparisons.push({
      ...evidence,
      status: judgement.status,
      points,
      means,
      u: test.u,
      z: test.z,
      pValue: test.pValue,
      ...(judgement.effect !== undefined ? { effect: judgement.effect } : {}),
      detail: `${label} (${source}, ${points.new} against ${points.baseline} points, U=${test.u}): ${judgement.reason}`,
    });
  }
  return comparisons;
}

/** Equal values up to floating-point noise (histogram_quantile's 0.02485 and 0.024850000000000004) tie instead of ranking apart. */
function settle(value: number): number {
  return Number(value.toPrecision(12));
}

function mean(values: number[]): number {
  return values.reduce((sum, v) => sum + v, 0) / values.length;
}
