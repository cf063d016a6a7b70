import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { judgeInterval } from '../../src/analysis/judge.js';
import type { MetricSpec } from '../../src/spec/types.js';

/** Every kind of limit, alone and combined, so each property covers each way a metric is judged. */
const METRICS: readonly MetricSpec[] = [
  { name: 'm', direction: 'either' },
  { name: 'm', direction: 'increase', allowedIncrease: 0.1 },
  { name: 'm', direction: 'either', allowedIncrease: 0.05, allowedDecrease: 0.2, confidence: 0.9 },
  { name: 'm', maxIncrease: 0.25, maxDecrease: 0.5 },
  { name: 'm', max: 50, min: -50 },
  { name: 'm', max: 60, maxIncrease: 0.1, direction: 'decrease', allowedDecrease: 0.1 },
];

const metric = fc.constantFrom(...METRICS);
/**
 * Values on a grid of 1/1024 (plenty of ties, as telemetry has) so adding a shift is exact in floating
 * point. Off the grid, rounding can merge two distinct canary readings into one (1 + 5e-324 === 1): that
 * changes the tie pattern, not just the position, and is not what "the canary moved up" means.
 */
const grid = (min: number, max: number) => fc.integer({ min: min * 1024, max: max * 1024 }).map((k) => k / 1024);
const value = fc.oneof(fc.integer({ min: -20, max: 60 }), grid(-100, 100));
const samples = fc.array(value, { minLength: 0, maxLength: 40 });
/** Past min_samples on both sides, where verdicts other than `nodata` live. */
const enough = fc.array(value, { minLength: 3, maxLength: 40 });

function verdictOf(spec: MetricSpec, canary: readonly number[], baseline: readonly number[]) {
  return judgeInterval({ metrics: [spec], minSamples: 3, canary: { m: canary }, baseline: { m: baseline } }).metrics[0];
}

describe('judge properties', () => {
  it('does not depend on the order of the samples', () => {
    fc.assert(
      fc.property(metric, samples, samples, fc.nat(), (spec, canary, baseline, seed) => {
        const shuffled = (list: readonly number[]) => {
          const reversed = [...list].reverse();
          const at = seed % (list.length || 1);
          return [...reversed.slice(at), ...reversed.slice(0, at)];
        };
        expect(verdictOf(spec, shuffled(canary), shuffled(baseline))).toEqual(verdictOf(spec, canary, baseline));
      }),
      { numRuns: 500 },
    );
  });

  it('never turns high into pass when the canary moves up', () => {
    // The canary is lifted by a random amount first, so most cases start `high` and the property bites.
    const lift = fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 30 }), grid(0, 30));
    const shift = fc.oneof(fc.integer({ min: 0, max: 20 }), grid(0, 50), fc.constant(1 / 1024));
    fc.assert(
      fc.property(metric, enough, enough, lift, shift, (spec, raw, baseline, up, by) => {
        const canary = raw.map((v) => v + up);
        const before = verdictOf(spec, canary, baseline);
        if (before?.verdict !== 'high') return;
        const after = verdictOf(
          spec,
          canary.map((v) => v + by),
          baseline,
        );
        expect(after?.verdict).toBe('high');
      }),
      { numRuns: 2000 },
    );
  });

  it("passes a canary whose samples are the baseline's", () => {
    const comparative = fc.constantFrom(...METRICS.filter((m) => m.max === undefined && m.min === undefined));
    fc.assert(
      fc.property(comparative, fc.array(value, { minLength: 3, maxLength: 60 }), (spec, values) => {
        expect(verdictOf(spec, values, [...values].reverse())?.verdict).toBe('pass');
      }),
      { numRuns: 500 },
    );
  });
});
