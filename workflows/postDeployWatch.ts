import { ApplicationFailure, defineQuery, setHandler, workflowInfo } from '@temporalio/workflow';
import type { AnalysisSettings, EnvironmentSettings, PrometheusSettings, ServiceSettings, WatchSettings } from '../config/settings';
import { emptyAnalysis, runAnalysis } from './analysis';
import type { WatchSummary } from './state';

export interface WatchInputV1 {
  runId: string;
  service: ServiceSettings;
  environment: EnvironmentSettings;
  analysis: AnalysisSettings;
  prometheus?: PrometheusSettings;
  watch: WatchSettings;
}

export const WATCH_FAILED = 'WatchFailed';
export const watchProgressQuery = defineQuery<{ summary: WatchSummary; analysisWorkflowId?: string }>('watchProgress');

/**
 * The post-deploy watch of one production service: the soak's analysis continued at a lower
 * frequency (24 hours every 5 minutes by default), in segments that keep its evidence. It changes
 * nothing itself; a failure is reported to the parent, whose saga rolls the delivery back.
 */
export async function postDeployWatch(input: WatchInputV1): Promise<WatchSummary> {
  const summary: WatchSummary = { service: input.service.name, environment: input.environment.name, workflowId: workflowInfo().workflowId, status: 'running', analysis: emptyAnalysis('watch') };
  let analysisWorkflowId: string | undefined;
  setHandler(watchProgressQuery, () => ({ summary, ...(analysisWorkflowId ? { analysisWorkflowId } : {}) }));
  const result = await runAnalysis(
    {
      parentId: summary.workflowId,
      runId: input.runId,
      kind: 'watch',
      service: input.service,
      environment: input.environment,
      analysis: input.analysis,
      ...(input.prometheus ? { prometheus: input.prometheus } : {}),
      durationMs: input.watch.duration,
      intervalMs: input.watch.interval,
    },
    summary.analysis,
    (id) => (analysisWorkflowId = id),
  );
  if (result.decision === 'failed') {
    summary.status = 'failed';
    summary.reason = result.reason ?? 'watch failed';
    throw ApplicationFailure.nonRetryable(`post-deploy watch of ${input.service.name}: ${summary.reason}`, WATCH_FAILED, summary);
  }
  summary.status = result.decision === 'inconclusive' ? 'inconclusive' : 'succeeded';
  if (result.reason !== undefined) summary.reason = result.reason;
  return summary;
}
