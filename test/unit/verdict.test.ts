import type { SoakSample } from '../../workflows/state';
import { SoakJudge } from '../../workflows/verdict';

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
