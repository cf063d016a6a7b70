import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canaryDrones, checkFleetFit, planSteps, selectDrones, shareOf } from '../../src/spec/index.js';
import type { Drone, RolloutSpec } from '../../src/spec/types.js';
import { fleetOf, specWithDefaults } from '../helpers/spec.js';

/** A spec with this canary (a default bake and approval) and these waves (one to 100 % unless given). */
function specWith(canary: Partial<RolloutSpec['canary']>, waves?: RolloutSpec['waves']): RolloutSpec {
  const spec = specWithDefaults({ canary: { bakeMs: 30_000, approval: 'auto', random: false, ...canary } });
  return waves ? { ...spec, waves } : spec;
}

const ids = (drones: readonly Drone[]) => drones.map((drone) => drone.id);

describe('canary', () => {
  const fleet = fleetOf(20, (index) => ({ zone: ['a', 'b', 'c'][index % 3] ?? 'a' }));

  it('takes the first N drones', () => {
    expect(ids(canaryDrones(specWith({ drones: 3 }).canary, fleet))).toEqual(['d1', 'd2', 'd3']);
  });

  it('takes ceil(percent%) of the targeted drones, at least one', () => {
    expect(canaryDrones(specWith({ percent: 5 }).canary, fleet)).toHaveLength(1);
    expect(canaryDrones(specWith({ percent: 12 }).canary, fleet)).toHaveLength(3);
    expect(canaryDrones(specWith({ percent: 0.1 }).canary, fleet)).toHaveLength(1);
    // 7% of 100 is 7.000000000000001 in floating point; it must not become 8.
    expect(canaryDrones(specWith({ percent: 7 }).canary, fleetOf(100))).toHaveLength(7);
  });

  it('takes every drone carrying the label, in inventory order', () => {
    expect(ids(canaryDrones(specWith({ label: { zone: 'b' } }).canary, fleet))).toEqual([
      'd2',
      'd5',
      'd8',
      'd11',
      'd14',
      'd17',
      'd20',
    ]);
  });

  it('must fit the targeted fleet', () => {
    const spec = specWith({ drones: 21 });
    expect(checkFleetFit(spec, fleet, fleet, 'fleet.yaml')).toEqual([
      { path: ['canary', 'drones'], message: 'asks for 21 drones but only 20 are targeted' },
    ]);
    expect(checkFleetFit(specWith({ label: { zone: 'z' } }), fleet, fleet, 'fleet.yaml')).toEqual([
      { path: ['canary', 'label'], message: '{zone: z} matches none of the 20 targeted drones' },
    ]);
    expect(checkFleetFit(specWith({ drones: 20 }), fleet, fleet, 'fleet.yaml')).toEqual([]);
  });
});

describe('selector', () => {
  const fleet = fleetOf(6, (index) => ({ group: index < 4 ? 'patrol' : 'depot', zone: index % 2 === 0 ? 'a' : 'b' }));

  it('keeps the drones matching every label, in inventory order', () => {
    expect(ids(selectDrones(fleet, { group: 'patrol', zone: 'b' }))).toEqual(['d2', 'd4']);
    expect(ids(selectDrones(fleet, undefined))).toEqual(ids(fleet));
    expect(ids(selectDrones(fleet, {}))).toEqual(ids(fleet));
  });

  it('says when nothing matches', () => {
    const spec = {
      ...specWith({ drones: 1 }),
      fleet: { inventory: '/a/fleet.yaml', selector: { group: 'x' }, mixedVersions: 'refuse' as const },
    };
    expect(checkFleetFit(spec, fleet, [], 'rollouts/fleet.yaml')).toEqual([
      { path: ['fleet', 'selector'], message: 'selector {group: x} matches no drone of 6 in rollouts/fleet.yaml' },
    ]);
  });
});

describe('planSteps', () => {
  it('brings each wave to its cumulative share of the fleet', () => {
    const waves = [
      { percent: 50, bakeMs: 2_000 },
      { percent: 100, bakeMs: 1_000 },
    ];
    const steps = planSteps(specWith({ drones: 3, bakeMs: 3_000 }, waves), fleetOf(20));
    expect(steps).toEqual([
      { index: 0, kind: 'canary', name: 'canary', percent: 15, drones: ['d1', 'd2', 'd3'], bakeMs: 3_000 },
      {
        index: 1,
        kind: 'wave',
        name: 'wave 1',
        percent: 50,
        drones: ['d4', 'd5', 'd6', 'd7', 'd8', 'd9', 'd10'],
        bakeMs: 2_000,
      },
      {
        index: 2,
        kind: 'wave',
        name: 'wave 2',
        percent: 100,
        drones: ['d11', 'd12', 'd13', 'd14', 'd15', 'd16', 'd17', 'd18', 'd19', 'd20'],
        bakeMs: 1_000,
      },
    ]);
  });

  it('leaves out waves that would add no drone, keeping their spec numbers', () => {
    const waves = [
      { percent: 10, bakeMs: 0 },
      { percent: 60, bakeMs: 0 },
      { percent: 70, bakeMs: 0 },
      { percent: 100, bakeMs: 0 },
    ];
    const steps = planSteps(specWith({ drones: 2 }, waves), fleetOf(4));
    expect(steps.map((step) => [step.index, step.name, step.percent, step.drones])).toEqual([
      [0, 'canary', 50, ['d1', 'd2']],
      [1, 'wave 2', 75, ['d3']],
      [2, 'wave 4', 100, ['d4']],
    ]);
  });

  it('is only the canary when the canary is the whole fleet', () => {
    expect(planSteps(specWith({ percent: 100 }), fleetOf(3)).map((step) => [step.name, step.percent])).toEqual([
      ['canary', 100],
    ]);
  });
});

describe('planSteps, for any fleet and spec', () => {
  const zones = ['a', 'b', 'c'] as const;
  const fleetArb = fc
    .array(fc.constantFrom(...zones), { minLength: 1, maxLength: 60 })
    .map((zoneOf) => fleetOf(zoneOf.length, (index) => ({ zone: zoneOf[index] ?? 'a' })));
  const canaryArb = fc.oneof(
    fc.integer({ min: 1, max: 60 }).map((drones) => ({ drones })),
    fc.double({ min: 0.01, max: 100, noNaN: true }).map((percent) => ({ percent })),
    fc.constantFrom(...zones).map((zone) => ({ label: { zone } })),
  );
  const wavesArb = fc
    .uniqueArray(fc.integer({ min: 1, max: 99 }), { maxLength: 6 })
    .map((percents) => [...percents.sort((a, b) => a - b), 100].map((percent, index) => ({ percent, bakeMs: index })));

  it('partitions the targeted drones, canary first, percents rising to 100', () => {
    fc.assert(
      fc.property(fleetArb, canaryArb, wavesArb, (fleet, canary, waves) => {
        const spec = specWith(canary, waves);
        fc.pre(checkFleetFit(spec, fleet, fleet, 'fleet.yaml').length === 0);
        const steps = planSteps(spec, fleet);

        const assigned = steps.flatMap((step) => step.drones);
        expect([...assigned].sort()).toEqual(ids(fleet).sort());
        expect(new Set(assigned).size).toBe(assigned.length);

        expect(steps[0]?.kind).toBe('canary');
        expect(steps.slice(1).every((step) => step.kind === 'wave')).toBe(true);
        expect(steps.every((step, index) => step.index === index && step.drones.length > 0)).toBe(true);

        const percents = steps.map((step) => step.percent);
        expect(percents).toEqual([...percents].sort((a, b) => a - b));
        expect(percents.at(-1)).toBe(100);

        // Each wave keeps its promise: at least ceil(percent%) of the fleet is done once it ends.
        let done = 0;
        for (const step of steps) {
          done += step.drones.length;
          const waveIndex = Number(step.name.replace('wave ', '')) - 1;
          const wave = spec.waves[waveIndex];
          if (step.kind === 'wave' && wave !== undefined) {
            expect(done).toBeGreaterThanOrEqual(Math.min(fleet.length, shareOf(wave.percent, fleet.length)));
          }
        }
      }),
      { numRuns: 500 },
    );
  });
});
