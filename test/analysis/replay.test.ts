import { describe, expect, it } from 'vitest';
import { compactSamples, replayIntervals, type RecordedInterval } from '../../src/analysis/replay.js';
import type { RolloutSpec } from '../../src/spec/types.js';
import { DEFAULT_ANALYSIS } from '../helpers/spec.js';

const analysis: RolloutSpec['analysis'] = {
  ...DEFAULT_ANALYSIS,
  intervalMs: 1000,
  metrics: [{ name: 'trajectory_error', maxIncrease: 0.25 }],
};

function interval(
  step: string,
  n: number,
  canary: number[],
  verdict: RecordedInterval['verdict'] = 'pass',
): RecordedInterval {
  return {
    step,
    interval: n,
    verdict,
    samples: {
      canary: { trajectory_error: canary },
      baseline: { trajectory_error: [0.02, 0.02, 0.021, 0.019] },
      canaryDrones: { trajectory_error: 2 },
    },
  };
}

describe('replayIntervals', () => {
  it('re-judges each interval with the given thresholds and finds where failure_limit would roll back', () => {
    const recorded = [
      interval('canary', 1, [0.03, 0.031, 0.029]),
      interval('canary', 2, [0.03, 0.03, 0.03]),
      interval('canary', 3, [0.02, 0.02, 0.02]),
    ];
    const result = replayIntervals(recorded, analysis);
    expect(result.intervals.map((i) => `${i.recorded}→${i.replayed}`)).toEqual(['pass→fail', 'pass→fail', 'pass→pass']);
    expect(result.rollbackAt).toEqual({ step: 'canary', interval: 2, why: '2 failed intervals > failure_limit 1' });
    expect(replayIntervals(recorded, { ...analysis, failureLimit: 2 }).rollbackAt).toBeNull();
  });

  it('rolls back a step none of whose intervals passed, unless inconclusive waits for a human', () => {
    const recorded = [interval('canary', 1, [0.02]), interval('canary', 2, [0.02])];
    expect(replayIntervals(recorded, analysis).rollbackAt).toMatchObject({
      step: 'canary',
      why: 'no interval of the step passed',
    });
    expect(replayIntervals(recorded, { ...analysis, inconclusive: 'wait' }).rollbackAt).toBeNull();
  });

  it('keeps six significant digits of every sample', () => {
    expect(compactSamples({ m: [0.0212345678, 71.123456789] })).toEqual({ m: [0.0212346, 71.1235] });
  });
});
