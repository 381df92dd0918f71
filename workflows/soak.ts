import { ApplicationFailure, sleep } from '@temporalio/workflow';
import type { AnalysisRule, SoakRule } from '../config/policy';
import { prometheus } from './activities';
import type { SoakSample } from './state';
import { SoakJudge } from './verdict';

export interface SoakInput {
  runId: string;
  service: string;
  environment: string;
  analysis: AnalysisRule;
  rule: SoakRule;
  /** Every sample is appended here, with the decision taken after it. */
  samples: SoakSample[];
}

/**
 * Samples the service's SLOs at fixed offsets from the soak's start (0, interval, 2×interval …
 * up to its duration) on durable timers, so a slow query never stretches the schedule.
 * A failing decision ends it early and throws `SoakFailed`; an inconclusive one (no data) ends it
 * early and returns its reason for a person to judge.
 */
export async function soak(input: SoakInput): Promise<string | undefined> {
  const startedAt = Date.now();
  const judge = new SoakJudge(input.analysis);
  const lastSample = Math.floor(input.rule.durationMs / input.rule.intervalMs) + 1;
  for (let sample = 1; sample <= lastSample; sample++) {
    const wait = startedAt + (sample - 1) * input.rule.intervalMs - Date.now();
    if (wait > 0) await sleep(wait);
    const result = await prometheus.analyzeSlo({ runId: input.runId, service: input.service, environment: input.environment, sample });
    const judgement = judge.judge(result);
    input.samples.push({ ...result, decision: judgement.decision });
    if (judgement.decision === 'fail') {
      throw ApplicationFailure.nonRetryable(`soak failed at sample ${sample}: ${judgement.reason}`, 'SoakFailed');
    }
    if (judgement.decision === 'inconclusive') return `soak inconclusive at sample ${sample}: ${judgement.reason}`;
  }
  return undefined;
}
