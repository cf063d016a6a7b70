import { describe, expect, it } from 'vitest';
import { exactCounts, mannWhitney, sortedMedian } from '../../src/analysis/mann-whitney.js';
import { normalCdf, normalUpperTail } from '../../src/analysis/normal.js';

/** |actual − expected| / expected, for p-values that span many orders of magnitude. */
function relativeError(actual: number, expected: number): number {
  return Math.abs(actual - expected) / Math.abs(expected);
}

describe('mannWhitney against published reference output', () => {
  /*
   * With ties: R's wilcox.test(x, y) (normal approximation, tie and continuity correction: R picks it
   * because of the ties), as printed in https://endmemo.com/r/wilcoxon.php:
   *   x <- c(1,5,9,24,56,21,3,7,21,4); y <- c(12,15,5,9,9,14,56,22,3,7,32,5)
   *   W = 51.5, p-value = 0.5966
   *   y <- c(1233,4356,987,39999,1111,200000)
   *   W = 0, p-value = 0.001364
   * The full-precision p-values are SciPy 1.17.1's
   *   scipy.stats.mannwhitneyu(x, y, alternative='two-sided', method='asymptotic', use_continuity=True)
   * which rounds to R's printed figure. (Groups this small get the exact test by default; `method: 'normal'`
   * asks for R's approximation.)
   */
  const x = [1, 5, 9, 24, 56, 21, 3, 7, 21, 4];

  it('matches R and SciPy with ties across the groups (normal approximation)', () => {
    const result = mannWhitney(x, [12, 15, 5, 9, 9, 14, 56, 22, 3, 7, 32, 5], { method: 'normal' });
    expect(result).toMatchObject({ u: 51.5, uMean: 60, method: 'normal', ties: true });
    expect(result.pValue.toFixed(4)).toBe('0.5966');
    expect(relativeError(result.pValue, 0.5965969026279817)).toBeLessThan(1e-12);
  });

  it('matches R and SciPy with ties within one group and complete separation', () => {
    const result = mannWhitney(x, [1233, 4356, 987, 39999, 1111, 200000], { method: 'normal' });
    expect(result).toMatchObject({ u: 0, method: 'normal', ties: true });
    expect(result.pValue.toFixed(6)).toBe('0.001364');
    expect(relativeError(result.pValue, 0.0013643929543816092)).toBeLessThan(1e-12);
  });

  it.each([
    // SciPy 1.17.1, mannwhitneyu(x, y, alternative='two-sided', method='asymptotic', use_continuity=True).
    { x: [1, 2, 2, 3, 3, 3, 4], y: [2, 3, 4, 4, 5, 5, 6, 7], u: 8.5, p: 0.025279736885893914 },
    {
      x: [72.1, 71.5, 74.0, 72.1, 73.3, 70.9, 72.1, 75.2],
      y: [70.2, 71.5, 69.8, 72.1, 70.0, 71.1],
      u: 42,
      p: 0.0221926044293914,
    },
    // 25 and 30 values: too many for the exact distribution, so the normal approximation without ties.
    {
      x: Array.from({ length: 25 }, (_, i) => i * 0.5),
      y: Array.from({ length: 30 }, (_, i) => i * 0.5 + 3.25),
      u: 171,
      p: 0.0005821919179632507,
    },
  ])('matches SciPy asymptotic p for $x.length vs $y.length values (U = $u)', ({ x: a, y: b, u, p }) => {
    const result = mannWhitney(a, b, { method: 'normal' });
    expect(result.method).toBe('normal');
    expect(result.u).toBe(u);
    expect(relativeError(result.pValue, p)).toBeLessThan(1e-12);
  });

  it.each([
    /*
     * Small groups with ties get the exact permutation distribution of the midrank sum. Expected values:
     * SciPy 1.17.1, scipy.stats.permutation_test((x, y), U, permutation_type='independent',
     * n_resamples=np.inf, alternative='two-sided'), with U the first group's midrank sum minus n1(n1+1)/2
     * (scipy.stats.rankdata); each is also checked against the brute-force enumeration below. SciPy doubles
     * the smaller tail, the judge the tail on U's side (as R's exact test): here they are the same tail.
     */
    { x, y: [12, 15, 5, 9, 9, 14, 56, 22, 3, 7, 32, 5], u: 51.5, p: 0.5930694692304599 },
    { x, y: [1233, 4356, 987, 39999, 1111, 200000], u: 0, p: 0.00024975024975024975 },
    { x: [1, 2, 2, 3, 3, 3, 4], y: [2, 3, 4, 4, 5, 5, 6, 7], u: 8.5, p: 0.02672882672882673 },
    {
      x: [72.1, 71.5, 74.0, 72.1, 73.3, 70.9, 72.1, 75.2],
      y: [70.2, 71.5, 69.8, 72.1, 70.0, 71.1],
      u: 42,
      p: 0.018648018648018648,
    },
  ])('matches the exact permutation p with ties for $x.length vs $y.length values (U = $u)', ({ x: a, y: b, u, p }) => {
    const result = mannWhitney(a, b);
    expect(result).toMatchObject({ u, method: 'exact', ties: true });
    expect(relativeError(result.pValue, p)).toBeLessThan(1e-12);
    expect(relativeError(result.pValue, bruteForcePermutationP(a, b))).toBeLessThan(1e-12);
  });

  it("matches R's documented exact example (Hollander & Wolfe, ?wilcox.test)", () => {
    // R: wilcox.test(x, y, alternative = "g") prints W = 35, p-value = 0.1272 (one-sided, exact);
    // the two-sided exact p is twice that: SciPy 1.17.1 method='exact' gives 0.2544122544122544.
    const result = mannWhitney(
      [0.8, 0.83, 1.89, 1.04, 1.45, 1.38, 1.91, 1.64, 0.73, 1.46],
      [1.15, 0.88, 0.9, 0.74, 1.21],
    );
    expect(result).toMatchObject({ u: 35, method: 'exact', ties: false, z: null });
    expect((result.pValue / 2).toFixed(4)).toBe('0.1272');
    expect(relativeError(result.pValue, 0.2544122544122544)).toBeLessThan(1e-12);
  });

  it("matches SciPy's documented exact example (males vs females)", () => {
    // scipy.stats.mannwhitneyu docs: U1 = 17.0, pvalue = 0.1111111111111111 (exact, two-sided).
    const result = mannWhitney([19, 22, 16, 29, 24], [20, 11, 17, 12]);
    expect(result).toMatchObject({ u: 17, method: 'exact' });
    expect(relativeError(result.pValue, 0.1111111111111111)).toBeLessThan(1e-12);
  });

  it('gives p = 1 for identical groups and for all-equal values', () => {
    expect(mannWhitney([3, 1, 2], [2, 3, 1]).pValue).toBe(1);
    expect(mannWhitney([5, 5, 5, 5], [5, 5, 5])).toMatchObject({ pValue: 1, u: 6, method: 'exact' });
    expect(mannWhitney([5, 5, 5, 5], [5, 5, 5], { method: 'normal' })).toMatchObject({ pValue: 1, u: 6 });
    expect(mannWhitney(Array(30).fill(1), Array(30).fill(1)).pValue).toBe(1);
  });

  it('leaves out non-finite values and refuses an empty group', () => {
    expect(mannWhitney([1, Number.NaN, 2, Number.POSITIVE_INFINITY], [3, 4])).toMatchObject({ u: 0 });
    expect(() => mannWhitney([], [1])).toThrow(RangeError);
  });
});

/** Midranks of the pooled values, by counting: the mean position of each run of equal values. */
function midranks(values: readonly number[]): number[] {
  return values.map((v) => values.filter((w) => w < v).length + (values.filter((w) => w === v).length + 1) / 2);
}

/** Two-sided permutation p-value of U by visiting every split of the pooled values (small groups only). */
function bruteForcePermutationP(x: readonly number[], y: readonly number[]): number {
  const ranks = midranks([...x, ...y]);
  const n = ranks.length;
  const uOf = (rankSum: number) => rankSum - (x.length * (x.length + 1)) / 2;
  const observed = uOf(ranks.slice(0, x.length).reduce((a, b) => a + b, 0));
  let total = 0;
  let lower = 0;
  let upper = 0;
  const visit = (from: number, left: number, sum: number): void => {
    if (left === 0) {
      const u = uOf(sum);
      total += 1;
      if (u <= observed) lower += 1;
      if (u >= observed) upper += 1;
      return;
    }
    for (let i = from; i <= n - left; i += 1) visit(i + 1, left - 1, sum + (ranks[i] as number));
  };
  visit(0, x.length, 0);
  // The tail on the side U falls (R's rule for its exact test), doubled.
  return Math.min(1, (2 * (observed > (x.length * y.length) / 2 ? upper : lower)) / total);
}

/** Every way of choosing which n1 of the ranks 1..n1+n2 belong to the first group, with its U. */
function bruteForceUCounts(n1: number, n2: number): number[] {
  const counts = new Array<number>(n1 * n2 + 1).fill(0);
  const n = n1 + n2;
  for (let mask = 0; mask < 1 << n; mask += 1) {
    let inFirst = 0;
    let rankSum = 0;
    for (let rank = 1; rank <= n; rank += 1) {
      if (mask & (1 << (rank - 1))) {
        inFirst += 1;
        rankSum += rank;
      }
    }
    if (inFirst !== n1) continue;
    const u = rankSum - (n1 * (n1 + 1)) / 2;
    counts[u] = (counts[u] ?? 0) + 1;
  }
  return counts;
}

describe('exact distribution of U', () => {
  it.each([
    [1, 1],
    [3, 5],
    [4, 6],
    [7, 7],
    [5, 11],
  ])('equals brute-force enumeration of every split for n1=%i, n2=%i', (n1, n2) => {
    expect(exactCounts(n1, n2)).toEqual(bruteForceUCounts(n1, n2));
  });

  it('stays exact and symmetric at the largest size it is used for', () => {
    const counts = exactCounts(20, 20);
    // C(40, 20) arrangements in all.
    expect(counts.reduce((a, b) => a + b, 0)).toBe(137846528820);
    expect(counts).toEqual([...counts].reverse());
  });

  it('gives the brute-force two-sided p-value (twice the smaller tail)', () => {
    // Canary ranks {9, 10, 11, 12} of 12 and one swap: U = 31 of 32; by enumeration P(U ≥ 31) = 2/495.
    const result = mannWhitney([8.5, 10, 11, 12], [1, 2, 3, 4, 5, 6, 7, 9]);
    const counts = bruteForceUCounts(4, 8);
    const upper = counts.slice(31).reduce((a, b) => a + b, 0);
    expect(upper).toBe(2);
    expect(result).toMatchObject({ u: 31, method: 'exact' });
    expect(result.pValue).toBeCloseTo((2 * upper) / 495, 15);
  });
});

describe('normal tails', () => {
  it.each([
    // scipy.stats.norm.sf(z), SciPy 1.17.1.
    [-1, 0.8413447460685429],
    [0, 0.5],
    [1.96, 0.024997895148220435],
    [3, 0.0013498980316300933],
    [5, 2.866515718791933e-7],
    [8, 6.22096057427174e-16],
    [20, 2.7536241186061556e-89],
  ])('P(Z > %d) matches SciPy to 1e-8 relative', (z, expected) => {
    expect(relativeError(normalUpperTail(z), expected)).toBeLessThan(1e-8);
    expect(normalCdf(-z)).toBe(normalUpperTail(z));
  });
});

describe('sortedMedian', () => {
  it('takes the middle value or the mean of the middle two', () => {
    expect(sortedMedian([1, 2, 3])).toBe(2);
    expect(sortedMedian([1, 2, 3, 10])).toBe(2.5);
    expect(sortedMedian([])).toBeNull();
  });
});
