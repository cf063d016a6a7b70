import { describe, expect, it } from 'vitest';
import { validateSpecText } from '../../src/spec/validate-spec.js';
import { SPEC_FILE, specErrors, specText } from '../helpers/spec.js';

/** A spec with a canary bake, one wave bake, an analysis interval and `push` given. */
function withTrial(push: string, analysis = 'analysis: { interval: 1s, metrics: [{ name: heart_rate, max: 120 }] }') {
  return specText({
    canary: 'canary: { drones: 1, bake: 10s }',
    rest: [analysis, 'waves: [{ percent: 50, bake: 20s }, { percent: 100, bake: 0s }]', push].join('\n'),
  });
}

describe('push.confirm_within', () => {
  it('is converted to ms, and absent by default', () => {
    expect(validateSpecText(withTrial('push: { confirm_within: 2m }'), SPEC_FILE, '/base').push.confirmWithinMs).toBe(
      120_000,
    );
    expect(validateSpecText(withTrial('push: {}'), SPEC_FILE, '/base').push).not.toHaveProperty('confirmWithinMs');
  });

  it('must outlast the longest bake plus one analysis interval', () => {
    expect(specErrors(withTrial('push: { confirm_within: 21s }'))).toEqual([
      "rollouts/x.yaml:7:25 push.confirm_within: must be longer than the longest bake plus one analysis interval (21s), got 21s: a step's drones are confirmed only once it has passed",
    ]);
  });

  it('cannot go with a verdict held for a human', () => {
    const analysis = 'analysis: { interval: 1s, inconclusive: wait, metrics: [{ name: heart_rate, max: 120 }] }';
    expect(specErrors(withTrial('push: { confirm_within: 5m }', analysis))).toEqual([
      'rollouts/x.yaml:7:25 push.confirm_within: cannot go with analysis.inconclusive: wait: a verdict held for a human can outlast any trial, and the drones would revert meanwhile',
    ]);
  });
});
