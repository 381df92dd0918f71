import type { SoakSample } from '../../workflows/state';
import { judgeAgainstBaseline, SoakJudge, type BaselineRule } from '../../workflows/verdict';

const sample = (verdict: SoakSample['verdict'], extra: Partial<SoakSample> = {}): SoakSample => ({ service: 's', environment: 'e', at: 't', verdict, detail: verdict, ...extra });
const unreachable = () => sample('inconclusive', { error: 'connection refused' });
const rule = { consecutiveFailures: 2, unreachableLimit: 3 };
const decisions = (judge: SoakJudge, samples: SoakSample[]) => samples.map((s) => judge.judge(s).decision);

test('a soak fails only after the configured number of failing samples in a row', () => {
  expect(decisions(new SoakJudge(rule), [sample('fail'), sample('pass'), sample('fail'), sample('fail')])).toEqual(['continue', 'continue', 'continue', 'fail']);
  expect(new SoakJudge({ ...rule, consecutiveFailures: 1 }).judge(sample('fail', { detail: 'error-ratio 0.2 > 0.05' }))).toEqual({
    decision: 'fail',
    reason: '1 failing samples in a row: error-ratio 0.2 > 0.05',
  });
});

test('no data in a row is inconclusive (a person decides); a failure in between resets it', () => {
  expect(decisions(new SoakJudge(rule), [sample('inconclusive'), sample('fail'), sample('inconclusive'), sample('inconclusive')])).toEqual(['continue', 'continue', 'continue', 'inconclusive']);
  expect(decisions(new SoakJudge(rule), [sample('inconclusive'), sample('pass'), sample('inconclusive')])).toEqual(['continue', 'continue', 'continue']);
});

test('Prometheus not answering is never a pass: after the limit the soak fails with the reason', () => {
  const judge = new SoakJudge(rule);
  expect(decisions(judge, [unreachable(), unreachable()])).toEqual(['continue', 'continue']);
  expect(judge.judge(unreachable())).toEqual({ decision: 'fail', reason: 'no answer from Prometheus for 3 samples in a row: connection refused' });
  // An answer in between starts the count again, and unanswered samples do not reset failing ones.
  expect(decisions(new SoakJudge(rule), [unreachable(), unreachable(), sample('pass'), unreachable(), unreachable()])).toEqual(Array(5).fill('continue'));
  expect(decisions(new SoakJudge(rule), [sample('fail'), unreachable(), sample('fail')])).toEqual(['continue', 'continue', 'fail']);
});

test('the counters carry over from one analysis segment to the next', () => {
  const first = new SoakJudge(rule);
  first.judge(sample('fail'));
  const next = new SoakJudge(rule, first.state);
  expect(next.judge(sample('fail')).decision).toBe('fail');
  expect(first.state).toEqual({ failures: 1, noData: 0, errors: 0 });
});

describe('judging the new version against its baseline', () => {
  const latency: BaselineRule = { worseWhen: 'higher', effect: 'relative', minEffect: 0.1, confidence: 0.98 };
  const errors: BaselineRule = { worseWhen: 'higher', effect: 'absolute', minEffect: 0.01, confidence: 0.98 };

  test('worse needs both the confidence and the minimum effect', () => {
    expect(judgeAgainstBaseline({ pValue: 0.001, means: { new: 0.03, baseline: 0.02 } }, latency)).toEqual({
      status: 'worse',
      effect: expect.closeTo(0.5, 12),
      reason: 'worse: 0.03 against 0.02 (+50%, at least 10%; p=0.001 < 0.02)',
    });
    // Significant but small: many points make a 5 % shift certain; it still passes.
    expect(judgeAgainstBaseline({ pValue: 1e-9, means: { new: 0.021, baseline: 0.02 } }, latency)).toEqual({
      status: 'pass',
      effect: expect.closeTo(0.05, 12),
      reason: '0.021 against 0.02 (+5%, below 10%; p=1.00e-9)',
    });
    // Large but not significant at 98 %: a noisy few points do not fail a release.
    expect(judgeAgainstBaseline({ pValue: 0.03, means: { new: 0.04, baseline: 0.02 } }, latency)).toMatchObject({
      status: 'pass',
      reason: '0.04 against 0.02 (+100%; p=0.03, not below 0.02)',
    });
  });

  test('the confidence sets the bar for the p-value', () => {
    const stats = { pValue: 0.03, means: { new: 0.04, baseline: 0.02 } };
    expect(judgeAgainstBaseline(stats, { ...latency, confidence: 0.95 }).status).toBe('worse');
    expect(judgeAgainstBaseline(stats, { ...latency, confidence: 0.98 }).status).toBe('pass');
  });

  test('an absolute effect is in the metric’s unit: error ratio from 0 to 2 %', () => {
    expect(judgeAgainstBaseline({ pValue: 0.0004, means: { new: 0.02, baseline: 0 } }, errors)).toEqual({
      status: 'worse',
      effect: 0.02,
      reason: 'worse: 0.02 against 0 (+0.02, at least 0.01; p=4.00e-4 < 0.02)',
    });
    expect(judgeAgainstBaseline({ pValue: 0.0004, means: { new: 0.004, baseline: 0 } }, errors).status).toBe('pass');
  });

  test('relative to a baseline of 0 any significant increase is worse, with no effect reported', () => {
    const judged = judgeAgainstBaseline({ pValue: 0.001, means: { new: 0.001, baseline: 0 } }, latency);
    expect(judged).toEqual({ status: 'worse', reason: 'worse: 0.001 against 0 (+0.001 from a mean of 0, at least 10%; p=0.001 < 0.02)' });
    expect(judgeAgainstBaseline({ pValue: 1, means: { new: 0, baseline: 0 } }, latency).status).toBe('pass');
  });

  test('lower is worse for a throughput: a drop fails, a rise does not', () => {
    const throughput: BaselineRule = { worseWhen: 'lower', effect: 'relative', minEffect: 0.2, confidence: 0.98 };
    expect(judgeAgainstBaseline({ pValue: 0.001, means: { new: 50, baseline: 100 } }, throughput)).toMatchObject({ status: 'worse', effect: 0.5 });
    expect(judgeAgainstBaseline({ pValue: 0.5, means: { new: 150, baseline: 100 } }, throughput)).toMatchObject({ status: 'pass', effect: -0.5 });
  });

  test('a sample made failing by a comparison fails the soak like a threshold, with the p-value in the reason', () => {
    const judge = new SoakJudge(rule);
    const worse = sample('fail', { detail: 'baseline p99-latency (window, 8 against 12 points, U=96): worse: 0.09 against 0.02 (+350%, at least 20%; p=2.00e-5 < 0.02)' });
    expect(judge.judge(worse).decision).toBe('continue');
    expect(judge.judge(worse)).toEqual({ decision: 'fail', reason: expect.stringContaining('p=2.00e-5 < 0.02') });
  });
});
