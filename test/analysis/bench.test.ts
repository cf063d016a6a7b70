import { describe, expect, it } from 'vitest';
import { benchJudge } from '../../bench/analysis.js';

describe('benchJudge', () => {
  it('times one interval of 10,000 drones × 5 samples per side and metric (printed, not asserted)', () => {
    const result = benchJudge();
    console.log(
      `judge bench: ${result.samplesPerSide} samples per side × ${result.metrics} metrics: ` +
        `median ${result.medianMs} ms, slowest ${result.maxMs} ms`,
    );
    expect(result).toMatchObject({ samplesPerSide: 50_000, metrics: 2, verdict: 'pass' });
    expect(result.medianMs).toBeGreaterThan(0);
    expect(result.maxMs).toBeGreaterThanOrEqual(result.medianMs);
  });

  it('refuses sizes that are not positive integers', () => {
    expect(() => benchJudge({ drones: 0 })).toThrow(/`drones`/);
    expect(() => benchJudge({ rounds: 1.5 })).toThrow(/`rounds`/);
  });
});
