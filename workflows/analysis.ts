import { defineQuery, executeChild, setCurrentDetails, setHandler, sleep } from '@temporalio/workflow';
import type { BaselineTarget } from '../activities/prometheus/baseline';
import type { AnalysisSettings, EnvironmentSettings, PrometheusSettings, ServiceSettings } from '../config/settings';
import { sampling } from './activities';
import { LIMITS, type AnalysisSummary, type Deployment, type EvidencePage, type SoakSample } from './state';
import { SoakJudge, type JudgeState } from './verdict';
import { analysisDetails, watchValues } from './watchDetails';

/**
 * A soak or a watch is a series of SLO samples at fixed offsets from its start, on durable timers.
 * Its samples are evidence that grows with time, so they live in child workflows of at most
 * `LIMITS.samplesPerSegment` samples each (`<parent>/analysis-<n>`), which answer the `evidence`
 * query page by page; the parent keeps only the summary. A 24-hour watch stays as small as a soak.
 */

export interface AnalysisSegmentInputV1 {
  runId: string;
  kind: 'soak' | 'watch';
  service: ServiceSettings;
  environment: EnvironmentSettings;
  analysis: AnalysisSettings;
  prometheus?: PrometheusSettings;
  /** When the whole analysis started (ms since the epoch): samples are due at start + (n - 1) × interval. */
  startedAtMs: number;
  intervalMs: number;
  /** 1-based sample numbers this segment takes, inclusive. */
  firstSample: number;
  lastSample: number;
  judge: JudgeState;
  /** Set when the soak compares the new version with its baseline. */
  baseline?: BaselineTarget;
}

export interface AnalysisSegmentResult {
  /** `continue`: every sample of the segment was taken and nothing was decided yet. */
  decision: 'continue' | 'fail' | 'inconclusive';
  reason?: string;
  judge: JudgeState;
  samples: number;
  failing: number;
  last?: AnalysisSummary['last'];
}

export const evidenceQuery = defineQuery<EvidencePage, [{ offset: number; limit: number }]>('evidence');
export const segmentProgressQuery = defineQuery<Pick<AnalysisSegmentResult, 'samples' | 'failing' | 'last'>>('segmentProgress');

/** The service-level error ratio and p99 of a sample, for summaries and progress bars. */
export function lastOf(sample: SoakSample): NonNullable<AnalysisSummary['last']> {
  const value = (name: string) => sample.checks?.find((c) => c.name === name)?.value;
  const errorRatio = value('error-ratio');
  const p99Seconds = value('p99-latency');
  return {
    at: sample.at,
    verdict: sample.verdict,
    detail: sample.detail,
    ...(errorRatio !== undefined ? { errorRatio } : {}),
    ...(p99Seconds !== undefined ? { p99Seconds } : {}),
    ...watchValues(value),
  };
}

/** One segment of an analysis: takes its samples, keeps them as evidence, stops at the first decision. */
export async function sloAnalysis(input: AnalysisSegmentInputV1): Promise<AnalysisSegmentResult> {
  const samples: SoakSample[] = [];
  let failing = 0;
  let last: AnalysisSummary['last'];
  setHandler(evidenceQuery, ({ offset, limit }) => ({
    samples: samples.slice(Math.max(0, offset), Math.max(0, offset) + Math.min(Math.max(1, limit), LIMITS.evidencePageMax)),
    total: samples.length,
    offset,
  }));
  setHandler(segmentProgressQuery, () => ({ samples: samples.length, failing, ...(last ? { last } : {}) }));
  const judge = new SoakJudge(input.analysis, input.judge);
  for (let n = input.firstSample; n <= input.lastSample; n++) {
    const wait = input.startedAtMs + (n - 1) * input.intervalMs - Date.now();
    if (wait > 0) await sleep(wait);
    const result = await sampling.analyzeSlo({
      runId: input.runId,
      service: input.service,
      environment: input.environment,
      sample: n,
      analysis: input.analysis,
      ...(input.prometheus ? { prometheus: input.prometheus } : {}),
      ...(input.baseline ? { baseline: input.baseline } : {}),
    });
    const judgement = judge.judge(result);
    samples.push({ ...result, decision: judgement.decision });
    if (result.verdict === 'fail') failing++;
    last = lastOf(result);
    setCurrentDetails(analysisDetails(input, n, last));
    if (judgement.decision !== 'continue') {
      return { decision: judgement.decision, reason: `${input.kind} ${judgement.decision === 'fail' ? 'failed' : 'inconclusive'} at sample ${n}: ${judgement.reason}`, judge: judge.state, samples: samples.length, failing, last };
    }
  }
  return { decision: 'continue', judge: judge.state, samples: samples.length, failing, ...(last ? { last } : {}) };
}

export interface AnalysisPlan {
  /** The workflow that owns the analysis; segments are its children. */
  parentId: string;
  runId: string;
  kind: 'soak' | 'watch';
  service: ServiceSettings;
  environment: EnvironmentSettings;
  analysis: AnalysisSettings;
  prometheus?: PrometheusSettings;
  durationMs: number;
  intervalMs: number;
  /** The rollout a soak judges, when it compares with the baseline (see `baselineOf`). */
  baseline?: Omit<BaselineTarget, 'soakStartedAtMs'>;
}

/**
 * What a soak needs to compare the new version with the one it replaced, or nothing when it does
 * not: the service's own `slo.baseline` says, else `analysis.baseline.enabled`; only in the
 * environments `analysis.baseline.environments` names (all when it names none).
 */
export function baselineOf(
  analysis: AnalysisSettings,
  service: ServiceSettings,
  environment: Pick<EnvironmentSettings, 'name'>,
  rolloutStartedAtMs: number,
  deployment?: Deployment,
): Pick<AnalysisPlan, 'baseline'> {
  const baseline = analysis.baseline;
  if (baseline === undefined || !(service.slo.baseline ?? baseline.enabled)) return {};
  if (baseline.environments !== undefined && !baseline.environments.includes(environment.name)) return {};
  return {
    baseline: {
      rolloutStartedAtMs,
      ...(deployment?.image !== undefined ? { image: deployment.image } : {}),
      ...(deployment?.previousImage !== undefined ? { previousImage: deployment.previousImage } : {}),
      firstDeploy: deployment !== undefined && deployment.previousRevision === undefined,
    },
  };
}

export const segmentId = (parentId: string, n: number) => `${parentId}/analysis-${n}`;

/**
 * Runs an analysis to its end or its first decision, one segment child after another, keeping
 * `summary` current (the owner's progress query shows it). Returns the final summary; the caller
 * turns `failed` into a rollback and `inconclusive` into a person's decision.
 */
export async function runAnalysis(plan: AnalysisPlan, summary: AnalysisSummary, onSegment: (id: string) => void = () => undefined): Promise<AnalysisSummary> {
  const startedAtMs = Date.now();
  const planned = Math.floor(plan.durationMs / plan.intervalMs) + 1;
  Object.assign(summary, {
    kind: plan.kind,
    planned,
    samples: 0,
    segments: 0,
    failing: 0,
    decision: 'running',
    startedAt: new Date(startedAtMs).toISOString(),
    endsAt: new Date(startedAtMs + plan.durationMs).toISOString(),
  } satisfies Partial<AnalysisSummary>);
  let judge: JudgeState = { failures: 0, noData: 0, errors: 0 };
  for (let first = 1; first <= planned; first += LIMITS.samplesPerSegment) {
    const id = segmentId(plan.parentId, summary.segments + 1);
    summary.segments++;
    onSegment(id);
    const result = await executeChild(sloAnalysis, {
      workflowId: id,
      args: [
        {
          runId: plan.runId,
          kind: plan.kind,
          service: plan.service,
          environment: plan.environment,
          analysis: plan.analysis,
          ...(plan.prometheus ? { prometheus: plan.prometheus } : {}),
          startedAtMs,
          intervalMs: plan.intervalMs,
          firstSample: first,
          lastSample: Math.min(planned, first + LIMITS.samplesPerSegment - 1),
          judge,
          ...(plan.baseline ? { baseline: { ...plan.baseline, soakStartedAtMs: startedAtMs } } : {}),
        },
      ],
    });
    judge = result.judge;
    summary.samples += result.samples;
    summary.failing += result.failing;
    if (result.last) summary.last = result.last;
    if (result.decision !== 'continue') {
      summary.decision = result.decision === 'fail' ? 'failed' : 'inconclusive';
      if (result.reason !== undefined) summary.reason = result.reason;
      return summary;
    }
  }
  summary.decision = 'passed';
  return summary;
}

export function emptyAnalysis(kind: 'soak' | 'watch'): AnalysisSummary {
  return { kind, planned: 0, samples: 0, segments: 0, failing: 0, decision: 'running' };
}
