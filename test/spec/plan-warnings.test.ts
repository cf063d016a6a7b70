import { describe, expect, it } from 'vitest';
import { planSteps } from '../../src/spec/index.js';
import { planWarnings } from '../../src/spec/plan-warnings.js';
import type { Plan, RolloutSpec } from '../../src/spec/types.js';
import { DEFAULT_ANALYSIS, fleetOf, specWithDefaults } from '../helpers/spec.js';

const drones = fleetOf(10);

function planWith(
  overrides: {
    canary?: Partial<RolloutSpec['canary']>;
    analysis?: Partial<RolloutSpec['analysis']>;
    waves?: RolloutSpec['waves'];
    abort?: RolloutSpec['abort'];
  } = {},
): Plan {
  const spec = specWithDefaults({
    canary: { drones: 2, bakeMs: 3_000, approval: 'auto', random: false, ...overrides.canary },
    analysis: {
      ...DEFAULT_ANALYSIS,
      intervalMs: 1_000,
      metrics: [{ name: 'trajectory_error', maxIncrease: 0.25 }],
      ...overrides.analysis,
    },
    waves: overrides.waves ?? [{ percent: 100, bakeMs: 0 }],
    push: { concurrency: 8, timeoutMs: 5_000, retries: 2 },
    abort: overrides.abort ?? {
      maxPushFailures: { kind: 'count', value: 0 },
      maxUnreachable: { kind: 'count', value: 0 },
    },
  });
  const config = { file: 'app.conf', sourcePath: '/a/app.conf', content: '', sha256: 'a'.repeat(64), version: 'v1' };
  return { specPath: '/a/x.yaml', spec, config, drones, steps: planSteps(spec, drones) };
}

describe('planWarnings', () => {
  it('has nothing to say about a sound plan', () => {
    expect(planWarnings(planWith(), 5)).toEqual([]);
  });

  it('warns when an interval cannot collect min_samples at the measured rate, and a bake shorter than an interval', () => {
    const warnings = planWarnings(planWith({ analysis: { minSamples: 50 }, canary: { bakeMs: 500 } }), 5);
    expect(warnings).toEqual([
      'canary: bake 500ms is shorter than analysis.interval 1s, so it runs one short interval',
      'canary: about 4 canary samples per interval (2 drones at 5.0/s over 500ms) cannot reach analysis.min_samples 50: every interval will be inconclusive; lengthen analysis.interval',
    ]);
    expect(planWarnings(planWith({ analysis: { minSamples: 50 } }), null)).toEqual([]);
  });

  it('warns about a wave that adds no drone', () => {
    expect(
      planWarnings(
        planWith({
          waves: [
            { percent: 20, bakeMs: 0 },
            { percent: 100, bakeMs: 0 },
          ],
        }),
        5,
      ),
    ).toEqual(['waves[0] (percent 20) adds no drone: earlier steps already cover 20% of 10 targeted drones']);
  });

  it('warns when abort thresholds can never fire for the canary, and when no baseline drone is left', () => {
    const warnings = planWarnings(
      planWith({
        canary: { drones: 10 },
        abort: { maxPushFailures: { kind: 'count', value: 10 }, maxUnreachable: { kind: 'percent', value: 100 } },
      }),
      5,
    );
    expect(warnings).toEqual([
      'waves[0] (percent 100) adds no drone: earlier steps already cover 100% of 10 targeted drones',
      'the canary is every targeted drone: relative limits and comparisons have no baseline drones, only pre-push samples',
      "abort.max_push_failures allows 10 failed pushes, not fewer than the canary's 10 drones: a canary whose every push fails would not stop the rollout",
      "abort.max_unreachable allows 10 unreachable drones, not fewer than the canary's 10: a canary that never answers would not stop the rollout",
    ]);
  });
});
