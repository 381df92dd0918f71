import { ApplicationFailure, defineQuery, setCurrentDetails, setHandler, workflowInfo } from '@temporalio/workflow';
import type { AnalysisSettings, EnvironmentSettings, PrometheusSettings, ServiceSettings, WatchSettings } from '../config/settings';
import { emptyAnalysis, runAnalysis, segmentId } from './analysis';
import type { WatchSummary } from './state';
import { watchedService } from './watchChecks';
import { lastValues } from './watchDetails';

export interface WatchInputV1 {
  runId: string;
  service: ServiceSettings;
  environment: EnvironmentSettings;
  analysis: AnalysisSettings;
  prometheus?: PrometheusSettings;
  watch: WatchSettings;
  /** When the service's production rollout began (ms since the epoch): database load is compared with the window before it. */
  baselineAtMs?: number;
}

export const WATCH_FAILED = 'WatchFailed';
export const watchProgressQuery = defineQuery<{ summary: WatchSummary; analysisWorkflowId?: string }>('watchProgress');

/**
 * The post-deploy watch of one production service: 24 hours sampled every 5 minutes by default,
 * against its own thresholds (error ratio, P99, memory growth, database load against the
 * pre-deploy baseline), in segments that keep its evidence. Durable timers and child workflows:
 * a worker restart only delays the next sample. It changes nothing itself; a failure is reported
 * to the parent, whose saga rolls the delivery back.
 */
export async function postDeployWatch(input: WatchInputV1): Promise<WatchSummary> {
  const summary: WatchSummary = { service: input.service.name, environment: input.environment.name, workflowId: workflowInfo().workflowId, status: 'running', analysis: emptyAnalysis('watch') };
  let analysisWorkflowId: string | undefined;
  setHandler(watchProgressQuery, () => ({ summary, ...(analysisWorkflowId ? { analysisWorkflowId } : {}) }));
  // Runs started before the watch had thresholds of its own keep the soak's.
  const ownThresholds = (input.watch as Partial<WatchSettings>).memory !== undefined;
  const service = ownThresholds ? watchedService(input.service, input.watch, input.baselineAtMs) : input.service;
  const publish = () => setCurrentDetails(watchDetails(summary));
  publish();
  const result = await runAnalysis(
    {
      parentId: summary.workflowId,
      runId: input.runId,
      kind: 'watch',
      service,
      environment: input.environment,
      analysis: input.analysis,
      ...(input.prometheus ? { prometheus: input.prometheus } : {}),
      durationMs: input.watch.duration,
      intervalMs: input.watch.interval,
    },
    summary.analysis,
    (id) => {
      analysisWorkflowId = id;
      publish();
    },
  );
  analysisWorkflowId = undefined;
  if (result.decision === 'failed') {
    summary.status = 'failed';
    summary.reason = result.reason ?? 'watch failed';
    publish();
    throw ApplicationFailure.nonRetryable(`post-deploy watch of ${input.service.name}: ${summary.reason}`, WATCH_FAILED, summary);
  }
  summary.status = result.decision === 'inconclusive' ? 'inconclusive' : 'succeeded';
  if (result.reason !== undefined) summary.reason = result.reason;
  publish();
  return summary;
}

/** The watch's details in the Temporal UI: where it is overall, and which segment takes the samples now. */
export function watchDetails(summary: WatchSummary): string {
  const a = summary.analysis;
  const lines = [`**Post-deploy watch of ${summary.service} in ${summary.environment}**: ${summary.status}`, ''];
  lines.push(`${a.samples} of ${a.planned} samples${a.endsAt ? `, ends ${a.endsAt}` : ''}${a.failing > 0 ? `, ${a.failing} failing` : ''}`);
  if (summary.status === 'running' && a.segments > 0) lines.push(`Taking samples now: \`${segmentId(summary.workflowId, a.segments)}\``);
  if (a.last !== undefined) lines.push(`Last: ${lastValues(a.last) || a.last.detail}`);
  if (summary.reason !== undefined) lines.push(`Reason: ${summary.reason}`);
  return lines.join('\n');
}
