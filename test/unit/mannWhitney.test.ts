import { averageRanks, mannWhitneyU } from '../../activities/prometheus/mannWhitney';

// Expected values from R 4.2.2: wilcox.test(x, y, alternative = alt, exact = FALSE, correct = TRUE)
// for W and the p-value.

const close = (actual: number, expected: number) => expect(Math.abs(actual - expected)).toBeLessThan(Math.max(1e-12, Math.abs(expected) * 1e-9));

describe('Mann-Whitney U against R', () => {
  // R's own example (?wilcox.test, Hollander & Wolfe): two tie groups in y.
  const x = [1.83, 0.5, 1.62, 2.48, 1.68, 1.88, 1.55, 3.06, 1.3];
  const y = [0.878, 0.647, 0.598, 2.05, 1.06, 1.29, 1.06, 3.14, 1.29];

  test.each([
    ['two-sided', 0.132919458185319],
    ['greater', 0.0664597290926594],
    ['less', 0.944204400289713],
  ] as const)('R’s example, %s', (alternative, p) => {
    const result = mannWhitneyU(x, y, alternative);
    expect(result.u).toBe(58);
    close(result.pValue, p);
    expect(result).toMatchObject({ nX: 9, nY: 9 });
  });

  // Error ratios: mostly zeros, so the tie correction carries the variance.
  const newer = [0, 0.01, 0.03, 0.02, 0.01, 0, 0.04];
  const older = [0, 0, 0, 0.01, 0, 0.02, 0, 0, 0.01, 0];
  test.each([
    ['two-sided', 0.0701824186837108],
    ['greater', 0.0350912093418554],
    ['less', 0.972396603102439],
  ] as const)('error ratios full of ties, %s', (alternative, p) => {
    const result = mannWhitneyU(newer, older, alternative);
    expect(result.u).toBe(52.5);
    close(result.pValue, p);
  });

  // Normal draws rounded to 2 decimals (set.seed(7); rnorm(40, 20, 2) and rnorm(12, 21, 2)).
  const base = [24.57, 17.61, 18.61, 19.18, 18.06, 18.11, 21.5, 19.77, 20.31, 24.38, 20.71, 25.43, 24.56, 20.65, 23.79, 20.94, 18.21, 19.39, 19.99, 21.98, 21.68, 21.41, 22.61, 17.22, 22.55, 20.37, 21.5, 21.18, 18.03, 19.45, 18.26, 21.44, 20.22, 19.84, 19.16, 18.88, 22, 17.79, 19.72, 20.63];
  const canary = [23.44, 19.6, 20.43, 18.38, 20.22, 20.2, 23.7, 22.18, 21.2, 22.86, 20.47, 20.98];
  test.each([
    ['two-sided', 0.287212098603397],
    ['greater', 0.143606049301699],
    ['less', 0.861255408355381],
  ] as const)('unequal sizes (12 against 40), %s', (alternative, p) => {
    const result = mannWhitneyU(canary, base, alternative);
    expect(result.u).toBe(289.5);
    close(result.pValue, p);
  });

  test('five points all above sixty: a small p-value keeps its precision', () => {
    const result = mannWhitneyU([6.5, 7, 7.5, 8, 9], Array.from({ length: 60 }, (_, i) => (i + 1) / 10), 'greater');
    expect(result.u).toBe(300);
    close(result.pValue, 0.000116417939070916);
    expect(result.z).toBeGreaterThan(3.6);
  });

  test('every value tied: no difference, p = 1 (as R reports)', () => {
    expect(mannWhitneyU([1, 1, 1, 1, 1], [1, 1, 1], 'greater')).toEqual({ u: 7.5, z: 0, pValue: 1, nX: 5, nY: 3 });
  });
});

test('average ranks share ties and count them', () => {
  expect(averageRanks([3, 1, 3, 2, 3])).toEqual({ ranks: [4, 1, 4, 2, 4], ties: [3] });
  expect(averageRanks([0.5, 0.5, 0.1, 0.1])).toEqual({ ranks: [3.5, 3.5, 1.5, 1.5], ties: [2, 2] });
});

test('clear errors for what cannot be tested', () => {
  expect(() => mannWhitneyU([], [1])).toThrow('Mann-Whitney U needs values on both sides (got 0 and 1)');
  expect(() => mannWhitneyU([1, Number.NaN], [1])).toThrow('Mann-Whitney U needs finite values');
});
