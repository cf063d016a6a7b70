import { describe, expect, it } from 'vitest';
import { judgeInterval } from '../../src/analysis/judge.js';
import { gaussian, seededRandom, type Random } from '../../src/analysis/noise.js';
import type { MetricSpec } from '../../src/spec/types.js';

/*
 * The simulator's telemetry model (src/simulator/telemetry-model.ts): heart_rate ~ N(72, 2.5) and
 * trajectory_error ~ N(m, 0.1·m) clamped at 0, with m = 0.02 for a sane config. One interval of the
 * shipped specs is about 15 samples per side (3 drones × 5 samples a second). Each seeded run is one
 * canary bake of 3 intervals, judged as the rollout machine does with failure_limit 1: a second failed
 * interval, or no passing interval at all, rolls back.
 */

const RUNS = 300;
const INTERVALS_PER_RUN = 3;
const SAMPLES = 15;

const CONFIGS: Readonly<Record<string, readonly MetricSpec[]>> = {
  /** The bare comparison at the default confidence (0.98), no tolerance: the worst case for noise. */
  'comparison only': [
    { name: 'heart_rate', direction: 'either' },
    { name: 'trajectory_error', direction: 'either' },
  ],
  /** The shipped specs' limits, unchanged. */
  shipped: [
    { name: 'heart_rate', max: 120 },
    { name: 'trajectory_error', maxIncrease: 0.25 },
  ],
  /** The comparison with a 10% tolerance, beside the shipped limits. */
  recommended: [
    { name: 'heart_rate', max: 120, direction: 'either', allowedIncrease: 0.1, allowedDecrease: 0.1 },
    { name: 'trajectory_error', maxIncrease: 0.25, direction: 'increase', allowedIncrease: 0.1, critical: true },
  ],
};

interface Telemetry {
  /** Mean trajectory error: 0.02 sane, 0.028 for a 40% regression. */
  readonly trajectoryMean: number;
  /** Chance that a sample is a spike (a gust, a sensor glitch): heart rate +30, trajectory error ×4. */
  readonly spikeRate: number;
}

function group(random: Random, telemetry: Telemetry): Record<string, number[]> {
  const heartRate: number[] = [];
  const trajectoryError: number[] = [];
  const m = telemetry.trajectoryMean;
  for (let i = 0; i < SAMPLES; i += 1) {
    const spike = random() < telemetry.spikeRate;
    heartRate.push(gaussian(random, 72, 2.5) + (spike ? 30 : 0));
    trajectoryError.push(Math.max(0, gaussian(random, m, 0.1 * m)) * (spike ? 4 : 1));
  }
  return { heart_rate: heartRate, trajectory_error: trajectoryError };
}

interface Rates {
  /** Share of intervals that failed. */
  readonly failedIntervals: number;
  /** Share of intervals that did not pass. */
  readonly notPassed: number;
  /** Share of runs the machine would have rolled back. */
  readonly rolledBack: number;
  /** Share of intervals whose trajectory_error verdict was `high`. */
  readonly trajectoryHigh: number;
}

function measure(metrics: readonly MetricSpec[], canary: Telemetry, baseline: Telemetry): Rates {
  let failed = 0;
  let notPassed = 0;
  let rolledBack = 0;
  let high = 0;
  for (let run = 0; run < RUNS; run += 1) {
    const random = seededRandom(1000 + run);
    let runFailures = 0;
    let runPasses = 0;
    for (let interval = 0; interval < INTERVALS_PER_RUN; interval += 1) {
      const judgement = judgeInterval({
        metrics,
        minSamples: 3,
        canary: group(random, canary),
        baseline: group(random, baseline),
      });
      if (judgement.verdict === 'fail') runFailures += 1;
      if (judgement.verdict === 'pass') runPasses += 1;
      if (judgement.metrics.find((m) => m.metric === 'trajectory_error')?.verdict === 'high') high += 1;
    }
    failed += runFailures;
    notPassed += INTERVALS_PER_RUN - runPasses;
    if (runFailures > 1 || runPasses === 0) rolledBack += 1;
  }
  const intervals = RUNS * INTERVALS_PER_RUN;
  return {
    failedIntervals: failed / intervals,
    notPassed: notPassed / intervals,
    rolledBack: rolledBack / RUNS,
    trajectoryHigh: high / intervals,
  };
}

const percent = (rate: number) => `${(rate * 100).toFixed(1)}%`;
const sane: Telemetry = { trajectoryMean: 0.02, spikeRate: 0 };

describe(`false alarms over ${RUNS} seeded runs × ${INTERVALS_PER_RUN} intervals, ${SAMPLES} samples per side`, () => {
  it.each(Object.entries(CONFIGS))('pure noise, %s: under 5% of intervals fail', (name, metrics) => {
    const rates = measure(metrics, sane, sane);
    console.log(
      `false alarms, pure noise, ${name}: ${percent(rates.failedIntervals)} of intervals failed, ` +
        `${percent(rates.notPassed)} did not pass, ${percent(rates.rolledBack)} of runs rolled back`,
    );
    expect(rates.failedIntervals).toBeLessThan(0.05);
  });

  it.each(Object.entries(CONFIGS))(
    'rare spikes on both sides alike, %s: under 5% of intervals fail',
    (name, metrics) => {
      const spiky: Telemetry = { trajectoryMean: 0.02, spikeRate: 0.03 };
      const rates = measure(metrics, spiky, spiky);
      console.log(
        `false alarms, 3% spikes both sides, ${name}: ${percent(rates.failedIntervals)} of intervals failed, ` +
          `${percent(rates.notPassed)} did not pass, ${percent(rates.rolledBack)} of runs rolled back`,
      );
      expect(rates.failedIntervals).toBeLessThan(0.05);
    },
  );
});

describe('detection', () => {
  it.each(['comparison only', 'recommended'])(
    '%s: a 40 percent rise of trajectory_error is high in nearly every interval',
    (name) => {
      const rates = measure(CONFIGS[name] ?? [], { trajectoryMean: 0.028, spikeRate: 0 }, sane);
      console.log(
        `detection of +40% trajectory_error, ${name}: high in ${percent(rates.trajectoryHigh)} of intervals, ` +
          `${percent(rates.failedIntervals)} failed, ${percent(rates.rolledBack)} of runs rolled back`,
      );
      expect(rates.trajectoryHigh).toBeGreaterThan(0.98);
      expect(rates.rolledBack).toBe(1);
    },
  );
});
