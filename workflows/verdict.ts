/** From analysis samples to a decision. Pure and deterministic: the workflow owns the counters. */
import type { AnalysisSettings } from '../config/settings';
import type { SoakDecision, SoakSample } from './state';

export interface Judgement {
  decision: SoakDecision;
  reason?: string;
}

/** The counters a judge carries; an analysis that spans several child workflows hands them on. */
export interface JudgeState {
  failures: number;
  noData: number;
  errors: number;
}

export class SoakJudge {
  private readonly counters: JudgeState;

  constructor(
    private readonly rule: Pick<AnalysisSettings, 'consecutiveFailures' | 'unreachableLimit'>,
    state: JudgeState = { failures: 0, noData: 0, errors: 0 },
  ) {
    this.counters = { ...state };
  }

  get state(): JudgeState {
    return { ...this.counters };
  }

  judge(sample: SoakSample): Judgement {
    const c = this.counters;
    if (sample.error !== undefined) {
      // No answer is never a pass: after the limit it is a failure, with its reason.
      c.errors++;
      if (c.errors >= this.rule.unreachableLimit) {
        return { decision: 'fail', reason: `no answer from Prometheus for ${c.errors} samples in a row: ${sample.error}` };
      }
      return { decision: 'continue' };
    }
    c.errors = 0;
    if (sample.verdict === 'fail') {
      c.failures++;
      c.noData = 0;
      if (c.failures >= this.rule.consecutiveFailures) {
        return { decision: 'fail', reason: `${c.failures} failing samples in a row: ${sample.detail}` };
      }
      return { decision: 'continue' };
    }
    c.failures = 0;
    if (sample.verdict === 'inconclusive') {
      c.noData++;
      if (c.noData >= this.rule.consecutiveFailures) {
        return { decision: 'inconclusive', reason: `no data for ${c.noData} samples in a row: ${sample.detail}` };
      }
      return { decision: 'continue' };
    }
    c.noData = 0;
    return { decision: 'continue' };
  }
}
