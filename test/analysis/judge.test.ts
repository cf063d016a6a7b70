import { describe, expect, it } from 'vitest';
import { judgeInterval, median, summarize, worst, type JudgeInput } from '../../src/analysis/judge.js';
import type { MetricSpec } from '../../src/spec/types.js';

const metrics: MetricSpec[] = [
  { name: 'heart_rate', max: 120 },
  { name: 'trajectory_error', maxIncrease: 0.25 },
];

function judge(canary: Record<string, number[]>, baseline: Record<string, number[]>, more: Partial<JudgeInput> = {}) {
  return judgeInterval({ metrics, minSamples: 3, canary, baseline, ...more });
}

/** 15 samples around `center`, spread ±2% with no ties: a stand-in for one interval of one group. */
function around(center: number, count = 15, spread = 0.02): number[] {
  return Array.from({ length: count }, (_, i) => center * (1 + spread * ((i / (count - 1)) * 2 - 1)) + i * 1e-9);
}

describe("judgeInterval with today's limits (median-based)", () => {
  it('passes when every metric is within its limits', () => {
    const j = judge(
      { heart_rate: [70, 72, 74], trajectory_error: [0.02, 0.021, 0.019] },
      { heart_rate: [71, 72, 73], trajectory_error: [0.02, 0.02, 0.02] },
    );
    expect(j).toMatchObject({ verdict: 'pass', score: 100 });
    expect(j.metrics.map((m) => m.verdict)).toEqual(['pass', 'pass']);
  });

  it('fails an absolute max on the canary median', () => {
    const j = judge(
      { heart_rate: [130, 125, 140], trajectory_error: [0.02, 0.02, 0.02] },
      { trajectory_error: [0.02, 0.02, 0.02] },
    );
    expect(j).toMatchObject({ verdict: 'fail', score: 50 });
    expect(j.metrics[0]).toMatchObject({ verdict: 'high', canaryMedian: 130, detail: 'median 130 > max 120' });
  });

  it('fails a relative increase against the baseline median, and a relative decrease as low', () => {
    const j = judge(
      { heart_rate: [72, 72, 72], trajectory_error: [0.038, 0.036, 0.037] },
      { trajectory_error: [0.02, 0.021, 0.019] },
    );
    expect(j.verdict).toBe('fail');
    expect(j.metrics[1]).toMatchObject({ verdict: 'high', detail: '+85% vs baseline 0.02 > max_increase 25%' });
    expect(summarize(j)).toBe('score 50 < 75; trajectory_error high: +85% vs baseline 0.02 > max_increase 25%');
    const low = judgeInterval({
      metrics: [{ name: 'e', maxDecrease: 0.1 }],
      minSamples: 3,
      canary: { e: [8, 8, 8] },
      baseline: { e: [10, 10, 10] },
    });
    expect(low.metrics[0]).toMatchObject({
      verdict: 'low',
      effect: -0.2,
      detail: '-20% vs baseline 10 > max_decrease 10%',
    });
  });

  it('has no data with fewer canary samples than min_samples: inconclusive by default', () => {
    const j = judge({ heart_rate: [72, 72], trajectory_error: [0.02] }, { trajectory_error: [0.02, 0.02, 0.02] });
    expect(j.verdict).toBe('inconclusive');
    expect(j.metrics[0]).toMatchObject({ verdict: 'nodata', detail: '2 canary samples, need 3' });
  });

  it('has no data for a relative limit without enough baseline samples, unless an absolute limit broke', () => {
    const j = judge(
      { heart_rate: [72, 72, 72], trajectory_error: [0.03, 0.03, 0.03] },
      { trajectory_error: [0.02, 0.02] },
    );
    expect(j.metrics[1]).toMatchObject({
      verdict: 'nodata',
      detail: 'no baseline to compare with (2 samples, need 3)',
    });
    expect(j.verdict).toBe('inconclusive');
    const both = judgeInterval({
      metrics: [{ name: 'e', max: 1, maxIncrease: 0.1 }],
      minSamples: 3,
      canary: { e: [2, 2, 2] },
      baseline: {},
    });
    expect(both.metrics[0]?.verdict).toBe('high');
  });

  it('treats any rise from a baseline median of 0 as beyond a relative limit', () => {
    const j = judgeInterval({
      metrics: [{ name: 'errors', maxIncrease: 0.5 }],
      minSamples: 3,
      canary: { errors: [1, 1, 2] },
      baseline: { errors: [0, 0, 0] },
    });
    expect(j.metrics[0]).toMatchObject({
      verdict: 'high',
      effect: null,
      detail: '+∞% (from 0) vs baseline 0 > max_increase 50%',
    });
  });
});

describe('judgeInterval comparing distributions (Mann-Whitney U)', () => {
  const compared = (metric: Omit<MetricSpec, 'name'>, canary: number[], baseline: number[]) =>
    judgeInterval({
      metrics: [{ name: 'e', ...metric }],
      minSamples: 3,
      canary: { e: canary },
      baseline: { e: baseline },
    }).metrics[0];

  it('flags a significant rise as high, with everything it was decided from', () => {
    const m = compared({ direction: 'either' }, around(0.028), around(0.02));
    expect(m).toMatchObject({
      verdict: 'high',
      canarySamples: 15,
      baselineSamples: 15,
      u: 225,
      test: 'exact',
      thresholds: { comparison: { direction: 'either', confidence: 0.98 } },
    });
    expect(m?.canaryMedian).toBeCloseTo(0.028, 6);
    expect(m?.baselineMedian).toBeCloseTo(0.02, 6);
    expect(m?.effect).toBeCloseTo(0.4, 6);
    // Complete separation of 15 and 15: p = 2 / C(30, 15).
    expect(m?.pValue).toBeCloseTo(2 / 155117520, 18);
    expect(m?.detail).toBe('significantly higher than baseline 0.02 (+40%, p=1.3e-8, U=225 < 0.02)');
  });

  it('passes a significant shift within its tolerance, and fails one beyond it', () => {
    expect(
      compared({ direction: 'increase', allowedIncrease: 0.1 }, around(0.0209, 15, 0.01), around(0.02, 15, 0.01)),
    ).toMatchObject({
      verdict: 'pass',
    });
    const beyond = compared(
      { direction: 'increase', allowedIncrease: 0.1 },
      around(0.024, 15, 0.01),
      around(0.02, 15, 0.01),
    );
    expect(beyond?.verdict).toBe('high');
    expect(beyond?.detail).toMatch(/> allowed_increase 10%$/);
  });

  it('only counts the direction asked for', () => {
    expect(compared({ direction: 'increase' }, around(70), around(80))?.verdict).toBe('pass');
    expect(compared({ direction: 'decrease' }, around(70), around(80))?.verdict).toBe('low');
    expect(compared({ direction: 'either' }, around(70), around(80))?.verdict).toBe('low');
    expect(compared({ allowedDecrease: 0.2 }, around(70), around(80))?.verdict).toBe('pass');
  });

  it('does not flag a shift that is not significant at the confidence level', () => {
    const canary = [10, 11, 12, 13, 14, 15];
    const baseline = [9, 10.5, 11.5, 12.5, 13.5];
    expect(compared({ direction: 'either' }, canary, baseline)).toMatchObject({ verdict: 'pass', test: 'exact' });
    expect(
      compared({ direction: 'either', confidence: 0.5 }, around(10.1, 15, 0.01), around(10, 15, 0.01))?.verdict,
    ).toBe('high');
  });

  it('uses the analysis-wide confidence unless the metric sets its own', () => {
    const canary = around(10.05, 15, 0.01);
    const baseline = around(10, 15, 0.01);
    const at = (confidence: number) =>
      judgeInterval({
        metrics: [{ name: 'e', direction: 'either' }],
        minSamples: 3,
        confidence,
        canary: { e: canary },
        baseline: { e: baseline },
      }).metrics[0]?.verdict;
    expect(at(0.98)).toBe('pass');
    expect(at(0.6)).toBe('high');
  });
});

describe('judgeInterval scores', () => {
  const canary = { ok: [1, 1, 1], bad: [9, 9, 9] };
  const scored = (list: MetricSpec[], more: Partial<JudgeInput> = {}) =>
    judgeInterval({ metrics: list, minSamples: 3, canary, baseline: {}, ...more });

  it('weighs passing metrics against pass_score and marginal_score', () => {
    const many = Array.from({ length: 19 }, (): MetricSpec => ({ name: 'ok', max: 5 }));
    expect(scored([...many, { name: 'bad', max: 5 }])).toMatchObject({ verdict: 'pass', score: 95 });
    expect(
      scored([
        { name: 'ok', max: 5, weight: 4 },
        { name: 'bad', max: 5 },
      ]),
    ).toMatchObject({ verdict: 'inconclusive', score: 80 });
    expect(
      scored([
        { name: 'ok', max: 5, weight: 2 },
        { name: 'bad', max: 5 },
      ]),
    ).toMatchObject({ verdict: 'fail' });
    expect(
      scored(
        [
          { name: 'ok', max: 5, weight: 2 },
          { name: 'bad', max: 5 },
        ],
        { marginalScore: 60 },
      ).verdict,
    ).toBe('inconclusive');
    expect(
      scored(
        [
          { name: 'ok', max: 5, weight: 4 },
          { name: 'bad', max: 5 },
        ],
        { passScore: 80 },
      ).verdict,
    ).toBe('pass');
  });

  it('fails the interval on one failing critical metric, whatever the score', () => {
    const many = Array.from({ length: 30 }, (): MetricSpec => ({ name: 'ok', max: 5 }));
    const j = scored([...many, { name: 'bad', max: 5, critical: true }]);
    expect(j.verdict).toBe('fail');
    expect(j.reason).toBe('critical bad failed');
  });

  it('applies each no-data policy', () => {
    const base: MetricSpec = { name: 'ok', max: 5 };
    expect(scored([base, { name: 'none', max: 5 }])).toMatchObject({ verdict: 'inconclusive', score: 100 });
    expect(scored([base, { name: 'none', max: 5, nodata: 'ignore' }])).toMatchObject({ verdict: 'pass', score: 100 });
    expect(scored([base, { name: 'none', max: 5, nodata: 'fail' }])).toMatchObject({ verdict: 'fail', score: 50 });
    expect(scored([{ name: 'none', max: 5, nodata: 'ignore' }])).toMatchObject({
      verdict: 'inconclusive',
      score: null,
    });
    expect(scored([base, { name: 'none', max: 5, nodata: 'fail', critical: true }]).verdict).toBe('fail');
  });

  it('has no data when fewer canary drones report a metric than min_reporting_drones', () => {
    const j = scored([{ name: 'ok', max: 5 }], { minReportingDrones: 2, canaryDrones: { ok: 1 } });
    expect(j.verdict).toBe('inconclusive');
    expect(j.metrics[0]).toMatchObject({
      verdict: 'nodata',
      canaryDrones: 1,
      detail: '1 canary drones reporting, need 2',
    });
    expect(scored([{ name: 'ok', max: 5 }], { minReportingDrones: 2, canaryDrones: { ok: 2 } }).verdict).toBe('pass');
    // A metric no drone reported has no data even with samples somehow present.
    expect(scored([{ name: 'ok', max: 5 }], { canaryDrones: {} }).metrics[0]?.verdict).toBe('nodata');
  });

  it('records dry-run metrics but never acts on them', () => {
    const j = scored([
      { name: 'ok', max: 5 },
      { name: 'bad', max: 5, dryRun: true, critical: true },
    ]);
    expect(j).toMatchObject({ verdict: 'pass', score: 100 });
    expect(j.metrics[1]).toMatchObject({ verdict: 'high', dryRun: true });
    expect(summarize(j)).toBe(
      'score 100 ≥ 95; ok pass: median 1 within limits; bad would have failed (dry run, high): median 9 > max 5',
    );
    expect(scored([{ name: 'bad', max: 5, dryRun: true }]).verdict).toBe('pass');
  });

  it('passes an interval without metrics, as before', () => {
    expect(scored([])).toMatchObject({ verdict: 'pass', reason: 'no metrics configured' });
  });

  it('summarizes on one line', () => {
    const j = scored([
      { name: 'ok', max: 5 },
      { name: 'bad', max: 5 },
      { name: 'none', max: 5 },
    ]);
    expect(summarize(j)).toBe(
      'score 50 < 75, no data for none; bad high: median 9 > max 5; none nodata: 0 canary samples, need 3',
    );
    expect(summarize(j)).not.toContain('\n');
  });
});

describe('severity', () => {
  it('orders fail above inconclusive above pass', () => {
    expect(worst('pass', 'inconclusive')).toBe('inconclusive');
    expect(worst('fail', 'inconclusive')).toBe('fail');
    expect(worst('inconclusive', 'fail')).toBe('fail');
    expect(worst('pass', 'pass')).toBe('pass');
  });

  it('takes medians of unsorted values', () => {
    expect(median([3, 1, 2, 10])).toBe(2.5);
    expect(median([])).toBeNull();
  });
});
