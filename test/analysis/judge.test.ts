import { describe, expect, it } from 'vitest';
import { judgeInterval, median, summarize, worst } from '../../src/analysis/judge.js';

const metrics = [
  { name: 'heart_rate', max: 120 },
  { name: 'trajectory_error', maxIncrease: 0.25 },
];

function judge(canary: Record<string, number[]>, baseline: Record<string, number[]>, fallback: Record<string, number> = {}) {
  return judgeInterval({ metrics, minSamples: 3, canary, baseline, baselineFallback: fallback });
}

describe('judgeInterval', () => {
  it('passes when every metric is within its limits', () => {
    const j = judge(
      { heart_rate: [70, 72, 74], trajectory_error: [0.02, 0.021, 0.019] },
      { heart_rate: [71, 72, 73], trajectory_error: [0.02, 0.02, 0.02] },
    );
    expect(j.verdict).toBe('pass');
    expect(j.metrics.map((m) => m.verdict)).toEqual(['pass', 'pass']);
  });

  it('fails an absolute max on the canary median', () => {
    const j = judge({ heart_rate: [130, 125, 140], trajectory_error: [0.02, 0.02, 0.02] }, { trajectory_error: [0.02, 0.02, 0.02] });
    expect(j.verdict).toBe('fail');
    expect(j.metrics[0]).toMatchObject({ verdict: 'fail', canaryMedian: 130, detail: 'median 130 > max 120' });
  });

  it('fails a relative increase against the baseline median', () => {
    const j = judge({ heart_rate: [72, 72, 72], trajectory_error: [0.038, 0.036, 0.037] }, { trajectory_error: [0.02, 0.021, 0.019] });
    expect(j.verdict).toBe('fail');
    expect(j.metrics[1]?.detail).toBe('+85% vs baseline 0.02 > max_increase 25%');
    expect(summarize(j)).toBe('trajectory_error: +85% vs baseline 0.02 > max_increase 25%');
  });

  it('is inconclusive with fewer canary samples than min_samples', () => {
    const j = judge({ heart_rate: [72, 72], trajectory_error: [0.02] }, { trajectory_error: [0.02, 0.02, 0.02] });
    expect(j.verdict).toBe('inconclusive');
    expect(j.metrics[0]?.detail).toBe('2 canary samples, need 3');
  });

  it('uses the fallback baseline when no baseline drone is left, and is inconclusive without one', () => {
    const canary = { heart_rate: [72, 72, 72], trajectory_error: [0.03, 0.03, 0.03] };
    expect(judge(canary, {}, { trajectory_error: 0.02 }).verdict).toBe('fail');
    expect(judge(canary, {}).metrics[1]).toMatchObject({ verdict: 'inconclusive' });
  });

  it('orders severity: fail beats inconclusive beats pass', () => {
    expect(worst('pass', 'inconclusive')).toBe('inconclusive');
    expect(worst('fail', 'inconclusive')).toBe('fail');
    expect(worst('pass', 'pass')).toBe('pass');
    expect(median([3, 1, 2, 10])).toBe(2.5);
    expect(median([])).toBeNull();
  });
});
