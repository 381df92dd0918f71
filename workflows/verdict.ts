/** From soak samples to a decision. Pure and deterministic: the workflow owns the counters. */
import type { AnalysisRule } from '../config/policy';
import type { SoakDecision, SoakSample } from './state';

export interface Judgement {
  decision: SoakDecision;
  reason?: string;
}

export class SoakJudge {
  private failures = 0;
  private noData = 0;
  private errors = 0;

  constructor(private readonly rule: AnalysisRule) {}

  judge(sample: SoakSample): Judgement {
    if (sample.error !== undefined) {
      // No answer is never a pass: after the limit it is a failure, with its reason.
      this.errors++;
      if (this.errors >= this.rule.unreachableLimit) {
        return { decision: 'fail', reason: `no answer from Prometheus for ${this.errors} samples in a row: ${sample.error}` };
      }
      return { decision: 'continue' };
    }
    this.errors = 0;
    if (sample.verdict === 'fail') {
      this.failures++;
      this.noData = 0;
      if (this.failures >= this.rule.consecutiveFailures) {
        return { decision: 'fail', reason: `${this.failures} failing samples in a row: ${sample.detail}` };
      }
      return { decision: 'continue' };
    }
    this.failures = 0;
    if (sample.verdict === 'inconclusive') {
      this.noData++;
      if (this.noData >= this.rule.consecutiveFailures) {
        return { decision: 'inconclusive', reason: `no data for ${this.noData} samples in a row: ${sample.detail}` };
      }
      return { decision: 'continue' };
    }
    this.noData = 0;
    return { decision: 'continue' };
  }
}
