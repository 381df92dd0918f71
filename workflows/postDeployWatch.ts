import { ApplicationFailure, defineQuery, setHandler } from '@temporalio/workflow';
import type { AnalysisRule, SoakRule } from '../config/policy';
import { failureReason } from './failures';
import { soak } from './soak';
import type { SoakSample } from './state';

export interface WatchInputV1 {
  runId: string;
  service: string;
  environment: string;
  analysis: AnalysisRule;
  watch: SoakRule;
}

export interface WatchReport {
  service: string;
  samples: SoakSample[];
  inconclusive?: string;
  reason?: string;
}

export const WATCH_FAILED = 'WatchFailed';
export const watchSamplesQuery = defineQuery<SoakSample[]>('watchSamples');

/**
 * The post-deploy watch: the soak's analysis continued at a lower frequency after production
 * (24 hours every 5 minutes by default). It changes nothing itself; a failure is reported to
 * the parent, whose saga rolls the delivery back.
 */
export async function postDeployWatch(input: WatchInputV1): Promise<WatchReport> {
  const samples: SoakSample[] = [];
  setHandler(watchSamplesQuery, () => samples);
  try {
    const inconclusive = await soak({ runId: input.runId, service: input.service, environment: input.environment, analysis: input.analysis, rule: input.watch, samples });
    return { service: input.service, samples, ...(inconclusive ? { inconclusive } : {}) };
  } catch (err) {
    const report: WatchReport = { service: input.service, samples, reason: failureReason(err) };
    throw ApplicationFailure.nonRetryable(`post-deploy watch of ${input.service}: ${report.reason}`, WATCH_FAILED, report);
  }
}
