import { mkdtemp, realpath, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  canaryCoverage,
  labelValue,
  planCanaryCoverage,
  seededShuffle,
  spreadPick,
} from '../../src/spec/canary-pick.js';
import { canaryDrones, checkFleetFit, loadPlan, planSteps } from '../../src/spec/index.js';
import type { Drone, RolloutSpec } from '../../src/spec/types.js';
import { fleetOf, specWithDefaults } from '../helpers/spec.js';

/** A spec with this canary (a default bake and approval, not random) and these waves (one to 100 % unless given). */
function specWith(canary: Partial<RolloutSpec['canary']>, waves?: RolloutSpec['waves']): RolloutSpec {
  const spec = specWithDefaults({ canary: { bakeMs: 30_000, approval: 'auto', random: false, ...canary } });
  return waves ? { ...spec, waves } : spec;
}

const ids = (drones: readonly Drone[]) => drones.map((drone) => drone.id);

/** Distinct values of `labels` the drones cover, summed over the labels: what `spread_by` maximizes. */
function covered(drones: readonly Drone[], labels: readonly string[]): number {
  return labels.reduce((sum, label) => sum + new Set(drones.map((drone) => labelValue(drone, label))).size, 0);
}

/** Every way to choose `size` of `items`. */
function subsets<T>(items: readonly T[], size: number): T[][] {
  if (size === 0) return [[]];
  if (items.length < size) return [];
  const [first, ...rest] = items as [T, ...T[]];
  return [...subsets(rest, size - 1).map((subset) => [first, ...subset]), ...subsets(rest, size)];
}

/** Airframes x4 … x9 and sites north / south, as the example names them. */
const AIRFRAMES = ['x4', 'x6', 'x8', 'x9'];
const SITES = ['north', 'south'];

describe('canary spread_by', () => {
  // 16 drones: every airframe at each site twice, airframes first (x4 north, x4 north, x4 south, …).
  const fleet = fleetOf(16, (index) => ({
    airframe: AIRFRAMES[Math.floor(index / 4)] ?? 'x4',
    site: SITES[Math.floor(index / 2) % 2] ?? 'north',
  }));

  it('covers every value of each label when the canary is big enough, where the first N would not', () => {
    const canary = canaryDrones(specWith({ drones: 4, spreadBy: ['airframe', 'site'] }).canary, fleet);
    expect(canaryCoverage(canary, fleet, ['airframe', 'site'])).toEqual({
      airframe: { covered: ['x4', 'x6', 'x8', 'x9'], missing: [] },
      site: { covered: ['north', 'south'], missing: [] },
    });
    expect(covered(canaryDrones(specWith({ drones: 4 }).canary, fleet), ['airframe', 'site'])).toBe(3);
    // Ties go to inventory order: x4 north (d1), x6 north (d5), x8 north (d9), then x9 south (d15).
    expect(ids(canary)).toEqual(['d1', 'd5', 'd9', 'd15']);
  });

  it('covers as many values as a small canary allows, and says what it misses', () => {
    const canary = canaryDrones(specWith({ drones: 3, spreadBy: ['airframe', 'site'] }).canary, fleet);
    expect(canaryCoverage(canary, fleet, ['airframe', 'site'])).toEqual({
      airframe: { covered: ['x4', 'x6', 'x8'], missing: ['x9'] },
      site: { covered: ['north', 'south'], missing: [] },
    });
  });

  it('takes one drone of each combination in turn once every combination is in', () => {
    const canary = canaryDrones(specWith({ drones: 10, spreadBy: ['airframe', 'site'] }).canary, fleet);
    expect(canary).toHaveLength(10);
    const perCombination = new Map<string, number>();
    for (const drone of canary) {
      const key = `${drone.labels.airframe} ${drone.labels.site}`;
      perCombination.set(key, (perCombination.get(key) ?? 0) + 1);
    }
    expect(perCombination.size).toBe(8);
    expect([...perCombination.values()].sort()).toEqual([1, 1, 1, 1, 1, 1, 2, 2]);
  });

  it('counts a drone without the label as value (none)', () => {
    const mixed = fleetOf(4, (index): Record<string, string> => (index < 2 ? { airframe: 'x4' } : {}));
    const canary = canaryDrones(specWith({ drones: 2, spreadBy: ['airframe'] }).canary, mixed);
    expect(ids(canary)).toEqual(['d1', 'd3']);
    expect(canaryCoverage(canary, mixed, ['airframe'])).toEqual({
      airframe: { covered: ['(none)', 'x4'], missing: [] },
    });
  });

  it('keeps the canary in inventory order and is the same for the same inventory', () => {
    const spec = specWith({ percent: 25, spreadBy: ['site', 'airframe'] });
    const first = ids(canaryDrones(spec.canary, fleet));
    expect(first).toEqual([...first].sort((a, b) => Number(a.slice(1)) - Number(b.slice(1))));
    expect(ids(canaryDrones(spec.canary, fleet))).toEqual(first);
    expect(ids(canaryDrones(spec.canary, [...fleet]))).toEqual(first);
  });

  it('covers as many values as any choice of that size, for small fleets', () => {
    const labelsArb = fc.constantFrom(['a'], ['a', 'b'], ['a', 'b', 'c']);
    const droneArb = fc.record({
      a: fc.constantFrom('a1', 'a2', 'a3', undefined),
      b: fc.constantFrom('b1', 'b2', 'b3'),
      c: fc.constantFrom('c1', 'c2', undefined),
    });
    fc.assert(
      fc.property(
        fc.array(droneArb, { minLength: 1, maxLength: 9 }),
        labelsArb,
        fc.integer({ min: 1, max: 9 }),
        (drawn, labels, want) => {
          const fleet = fleetOf(drawn.length, (index) => {
            const values = drawn[index] ?? {};
            return Object.fromEntries(Object.entries(values).filter(([, v]) => v !== undefined)) as Record<
              string,
              string
            >;
          });
          const size = Math.min(want, fleet.length);
          const canary = spreadPick(fleet, size, labels);
          expect(canary).toHaveLength(size);
          expect(new Set(ids(canary)).size).toBe(size);
          const best = Math.max(...subsets(fleet, size).map((subset) => covered(subset, labels)));
          expect(covered(canary, labels)).toBe(best);
        },
      ),
      { numRuns: 400 },
    );
  });

  it('covers every value greedily when there are too many choices to try them all', () => {
    // 20 airframes × 20 sites: C(400, 20) ways to choose 20 combinations, far beyond EXACT_CHOICES.
    const big = fleetOf(400, (index) => ({ airframe: `x${index % 20}`, site: `s${Math.floor(index / 20)}` }));
    const canary = spreadPick(big, 20, ['airframe', 'site']);
    expect(covered(canary, ['airframe', 'site'])).toBe(40);
  });

  it('stays fast on 10,000 drones with a value per drone', () => {
    const big = fleetOf(10_000, (index) => ({ serial: `s${index}`, site: `site-${index % 7}` }));
    const started = performance.now();
    const canary = canaryDrones(specWith({ percent: 50, spreadBy: ['serial', 'site'] }).canary, big);
    expect(performance.now() - started).toBeLessThan(2_000);
    expect(canary).toHaveLength(5_000);
    expect(covered(canary, ['site'])).toBe(7);
  });
});

describe('canary random', () => {
  const fleet = fleetOf(100, (index) => ({ site: `site-${index % 5}` }));

  it('draws the same canary from the same seed, and another from another seed', () => {
    const spec = specWith({ drones: 5, random: true });
    const drawn = ids(canaryDrones(spec.canary, fleet, { canarySeed: '0123456789abcdef' }));
    expect(drawn).toHaveLength(5);
    expect(ids(canaryDrones(spec.canary, fleet, { canarySeed: '0123456789abcdef' }))).toEqual(drawn);
    expect(planSteps(spec, fleet, { canarySeed: '0123456789abcdef' })).toEqual(
      planSteps(spec, fleet, { canarySeed: '0123456789abcdef' }),
    );
    const draws = new Set(
      Array.from({ length: 20 }, (_, i) => ids(canaryDrones(spec.canary, fleet, { canarySeed: `seed-${i}` })).join()),
    );
    expect(draws.size).toBe(20);
    expect(draws.has(ids(fleet.slice(0, 5)).join())).toBe(false);
  });

  it('is a pinned draw: the same seed gives the same order in every version', () => {
    // Changing the generator would make `resume` of a running rollout draw another canary.
    expect(seededShuffle([1, 2, 3, 4, 5, 6, 7, 8], 'pinned')).toEqual([3, 7, 2, 5, 6, 8, 1, 4]);
    expect(seededShuffle([1, 2, 3, 4, 5, 6, 7, 8], 'pinned!')).not.toEqual([3, 7, 2, 5, 6, 8, 1, 4]);
  });

  it('draws every drone about as often', () => {
    const spec = specWith({ drones: 1, random: true });
    const counts = new Map<string, number>();
    for (let i = 0; i < 5_000; i += 1) {
      const [drone] = ids(canaryDrones(spec.canary, fleetOf(10), { canarySeed: `s${i}` }));
      counts.set(drone ?? '', (counts.get(drone ?? '') ?? 0) + 1);
    }
    expect(counts.size).toBe(10);
    for (const n of counts.values()) expect(n).toBeGreaterThan(400);
  });

  it('still covers every value with spread_by', () => {
    const spec = specWith({ drones: 5, random: true, spreadBy: ['site'] });
    const draws = new Set<string>();
    for (let i = 0; i < 10; i += 1) {
      const canary = canaryDrones(spec.canary, fleet, { canarySeed: `seed-${i}` });
      expect(covered(canary, ['site'])).toBe(5);
      draws.add(ids(canary).join());
    }
    expect(draws.size).toBe(10);
  });

  it('needs a seed', () => {
    expect(() => canaryDrones(specWith({ drones: 2, random: true }).canary, fleet)).toThrow(TypeError);
  });
});

describe('planSteps with spread_by or random, for any fleet and spec', () => {
  const fleetArb = fc
    .array(fc.tuple(fc.constantFrom('a', 'b', 'c'), fc.constantFrom('x4', 'x6', undefined)), {
      minLength: 1,
      maxLength: 60,
    })
    .map((drawn) =>
      fleetOf(drawn.length, (index): Record<string, string> => {
        const [zone, airframe] = drawn[index] ?? ['a', undefined];
        return airframe === undefined ? { zone } : { zone, airframe };
      }),
    );
  const sizeArb = fc.oneof(
    fc.integer({ min: 1, max: 60 }).map((drones) => ({ drones })),
    fc.double({ min: 0.01, max: 100, noNaN: true }).map((percent) => ({ percent })),
  );
  const choiceArb = fc.record({
    random: fc.boolean(),
    spreadBy: fc.constantFrom(undefined, ['zone'], ['zone', 'airframe']),
    seed: fc.string({ minLength: 1, maxLength: 20 }),
  });
  const wavesArb = fc
    .uniqueArray(fc.integer({ min: 1, max: 99 }), { maxLength: 4 })
    .map((percents) => [...percents.sort((a, b) => a - b), 100].map((percent, index) => ({ percent, bakeMs: index })));

  it('keeps the canary size and puts every targeted drone in exactly one step', () => {
    fc.assert(
      fc.property(fleetArb, sizeArb, choiceArb, wavesArb, (fleet, size, choice, waves) => {
        const plain = specWith(size, waves);
        fc.pre(checkFleetFit(plain, fleet, fleet, 'fleet.yaml').length === 0);
        const spec = specWith(
          { ...size, random: choice.random, ...(choice.spreadBy === undefined ? {} : { spreadBy: choice.spreadBy }) },
          waves,
        );
        const steps = planSteps(spec, fleet, { canarySeed: choice.seed });
        const first = planSteps(plain, fleet);
        expect(steps.map((step) => [step.name, step.drones.length, step.percent])).toEqual(
          first.map((step) => [step.name, step.drones.length, step.percent]),
        );
        const assigned = steps.flatMap((step) => step.drones);
        expect([...assigned].sort()).toEqual(ids(fleet).sort());
        expect(new Set(assigned).size).toBe(assigned.length);
        // The waves take the rest in inventory order.
        const canary = new Set(steps[0]?.drones);
        expect(steps.slice(1).flatMap((step) => step.drones)).toEqual(ids(fleet).filter((id) => !canary.has(id)));
      }),
      { numRuns: 500 },
    );
  });
});

describe('loadPlan with a random canary', () => {
  let dir: string;

  beforeEach(async () => {
    dir = await realpath(await mkdtemp(join(tmpdir(), 'canary-pick-')));
    await writeFile(join(dir, 'app.conf'), 'mode = fast\n');
    const drones = Array.from({ length: 30 }, (_, i) => ({
      id: `d${i + 1}`,
      url: `http://127.0.0.1:7100/d/d${i + 1}`,
      labels: { airframe: AIRFRAMES[i % 4] ?? 'x4', site: SITES[i % 3 === 0 ? 1 : 0] ?? 'north' },
    }));
    await writeFile(join(dir, 'fleet.yaml'), JSON.stringify({ drones }));
  });

  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function specFile(canary: string): Promise<string> {
    const path = join(dir, 'spec.yaml');
    await writeFile(
      path,
      [
        'name: x',
        'config: { file: app.conf, source: app.conf }',
        'fleet: { inventory: fleet.yaml }',
        `canary: ${canary}`,
        'waves: [{ percent: 50, bake: 0s }, { percent: 100, bake: 0s }]',
        '',
      ].join('\n'),
    );
    return path;
  }

  it('draws a new 16-hex-digit seed, or uses the one given, and the seed gives the plan', async () => {
    const spec = await specFile('{ drones: 4, random: true, spread_by: [airframe, site] }');
    const drawn = await loadPlan(spec);
    expect(drawn.canarySeed).toMatch(/^[0-9a-f]{16}$/);
    expect((await loadPlan(spec)).canarySeed).not.toBe(drawn.canarySeed);
    const again = await loadPlan(spec, { canarySeed: drawn.canarySeed ?? '' });
    expect(again.canarySeed).toBe(drawn.canarySeed);
    expect(again.steps).toEqual(drawn.steps);
    const coverage = planCanaryCoverage(drawn);
    expect(coverage?.airframe?.missing).toEqual([]);
    expect(coverage?.site?.missing).toEqual([]);
  });

  it('has no seed and ignores one given when the canary is not random', async () => {
    const plan = await loadPlan(await specFile('{ drones: 4 }'), { canarySeed: 'abc' });
    expect(plan.canarySeed).toBeUndefined();
    expect(plan.steps[0]?.drones).toEqual(['d1', 'd2', 'd3', 'd4']);
    expect(planCanaryCoverage(plan)).toBeUndefined();
  });
});
