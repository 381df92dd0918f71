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

/** How a baseline comparison is judged (one metric's rule and the comparison's confidence). */
export interface BaselineRule {
  worseWhen: 'higher' | 'lower';
  effect: 'relative' | 'absolute';
  minEffect: number;
  confidence: number;
}

export interface BaselineJudgement {
  status: 'pass' | 'worse';
  /** Worse-positive; absent for a relative effect against a baseline mean of 0. */
  effect?: number;
  reason: string;
}

const shown = (value: number) => (value !== 0 && Math.abs(value) < 0.001 ? value.toExponential(2) : Number(value.toPrecision(3)).toString());
const percent = (fraction: number) => `${fraction >= 0 ? '+' : ''}${Number((fraction * 100).toPrecision(3))}%`;
const signed = (value: number) => `${value >= 0 ? '+' : ''}${shown(value)}`;

/**
 * The new version is worse only when both hold: the one-sided test is significant at the
 * confidence, and its mean is worse by at least the minimum effect. Many points make tiny
 * differences significant; the effect keeps those from rolling back a release.
 */
export function judgeAgainstBaseline(stats: { pValue: number; means: { new: number; baseline: number } }, rule: BaselineRule): BaselineJudgement {
  const { pValue, means } = stats;
  const shift = rule.worseWhen === 'higher' ? means.new - means.baseline : means.baseline - means.new;
  const effect = rule.effect === 'absolute' ? shift : means.baseline !== 0 ? shift / Math.abs(means.baseline) : undefined;
  const alpha = 1 - rule.confidence;
  const significant = pValue < alpha;
  // Against a baseline of 0, any increase is unbounded in relative terms: only its sign counts.
  const large = shift > 0 && (effect === undefined || effect >= rule.minEffect);
  const size = effect === undefined ? `${signed(shift)} from a mean of 0` : rule.effect === 'relative' ? percent(effect) : signed(effect);
  const minimum = rule.effect === 'relative' ? percent(rule.minEffect).slice(1) : shown(rule.minEffect);
  const compared = `${shown(means.new)} against ${shown(means.baseline)}`;
  const p = `p=${shown(pValue)}`;
  const result = (status: BaselineJudgement['status'], reason: string): BaselineJudgement => ({ status, ...(effect !== undefined ? { effect } : {}), reason });
  if (significant && large) return result('worse', `worse: ${compared} (${size}, at least ${minimum}; ${p} < ${shown(alpha)})`);
  if (significant) return result('pass', `${compared} (${size}, below ${minimum}; ${p})`);
  return result('pass', `${compared} (${size}; ${p}, not below ${shown(alpha)})`);
}
