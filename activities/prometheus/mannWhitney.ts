/**
 * The Mann-Whitney U (Wilcoxon rank-sum) test of two independent samples, as R's
 * `wilcox.test(x, y, exact = FALSE, correct = TRUE)` computes it: the normal approximation with the
 * tie correction of the variance and a continuity correction. Metric series are full of ties (error
 * ratios of 0, quantiles interpolated inside one histogram bucket), so the exact small-sample
 * distribution, which assumes none, is not used.
 */
import normalCdf from '@stdlib/stats-base-dists-normal-cdf';

/** `greater`: x tends to be larger than y. */
export type Alternative = 'two-sided' | 'greater' | 'less';

export interface MannWhitneyResult {
  /** U of x: the pairs (xi, yj) with xi > yj, a tie counting one half (R's W). */
  u: number;
  /** The standardised statistic after both corrections; 0 when every value is tied. */
  z: number;
  pValue: number;
  nX: number;
  nY: number;
}

/** Ranks 1..n of `values`, ties sharing their average rank, and the size of each tie group. */
export function averageRanks(values: readonly number[]): { ranks: number[]; ties: number[] } {
  const order = values.map((value, index) => ({ value, index })).sort((a, b) => a.value - b.value);
  const ranks = new Array<number>(values.length);
  const ties: number[] = [];
  for (let start = 0; start < order.length; ) {
    let end = start + 1;
    while (end < order.length && order[end]!.value === order[start]!.value) end++;
    // Positions start..end-1 hold ranks start+1..end; their average:
    const rank = (start + 1 + end) / 2;
    for (let i = start; i < end; i++) ranks[order[i]!.index] = rank;
    if (end - start > 1) ties.push(end - start);
    start = end;
  }
  return { ranks, ties };
}

export function mannWhitneyU(x: readonly number[], y: readonly number[], alternative: Alternative = 'two-sided'): MannWhitneyResult {
  const nX = x.length;
  const nY = y.length;
  if (nX === 0 || nY === 0) throw new Error(`Mann-Whitney U needs values on both sides (got ${nX} and ${nY})`);
  if (![...x, ...y].every(Number.isFinite)) throw new Error('Mann-Whitney U needs finite values');
  const { ranks, ties } = averageRanks([...x, ...y]);
  let rankSumX = 0;
  for (let i = 0; i < nX; i++) rankSumX += ranks[i]!;
  const u = rankSumX - (nX * (nX + 1)) / 2;
  const n = nX + nY;
  const tieTerm = ties.reduce((sum, t) => sum + t ** 3 - t, 0) / (n * (n - 1));
  const sigma = Math.sqrt(((nX * nY) / 12) * (n + 1 - tieTerm));
  const shift = u - (nX * nY) / 2;
  if (!(sigma > 0)) {
    // Every value tied: the samples cannot be told apart.
    return { u, z: 0, pValue: 1, nX, nY };
  }
  const correction = alternative === 'greater' ? 0.5 : alternative === 'less' ? -0.5 : Math.sign(shift) * 0.5;
  const z = (shift - correction) / sigma;
  // Each tail from its own side of the CDF, so small p-values keep their precision.
  const upper = normalCdf(-z, 0, 1);
  const lower = normalCdf(z, 0, 1);
  const pValue = alternative === 'greater' ? upper : alternative === 'less' ? lower : Math.min(1, 2 * Math.min(upper, lower));
  return { u, z, pValue, nX, nY };
}
