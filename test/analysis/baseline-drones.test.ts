import { describe, expect, it } from 'vitest';
import { baselineDrones } from '../../src/analysis/baseline-drones.js';
import { spread } from '../../src/fleet/for-each-drone.js';
import { fleetOf } from '../helpers/spec.js';

const AIRFRAMES = ['x4', 'x6', 'x8'];

/** d1 … d30: airframes x4, x6, x8 in turn, sites north for the first half and south for the rest. */
const fleet = fleetOf(30, (index) => ({
  airframe: AIRFRAMES[index % 3] ?? 'x4',
  site: index < 15 ? 'north' : 'south',
}));
const drones = (...ids: string[]) => fleet.filter((drone) => ids.includes(drone.id));

describe('baselineDrones', () => {
  const canary = drones('d1', 'd17'); // x4 north, x6 south
  const candidates = fleet.filter((drone) => !['d1', 'd17'].includes(drone.id));

  it('without spread_by, spreads its picks evenly over the candidates as before', () => {
    expect(baselineDrones(candidates, canary, undefined, 8)).toEqual(
      spread(
        candidates.map((drone) => drone.id),
        8,
      ),
    );
  });

  it("with spread_by, takes drones with the canary's label values first", () => {
    // x4 north: d4 d7 d10 d13; x6 south: d20 d23 d26 d29.
    expect(baselineDrones(candidates, canary, ['airframe', 'site'], 8)).toEqual([
      'd4',
      'd7',
      'd10',
      'd13',
      'd20',
      'd23',
      'd26',
      'd29',
    ]);
    // Fewer places than alike drones: an even spread of those alone.
    const picked = baselineDrones(candidates, canary, ['airframe', 'site'], 4);
    expect(picked).toHaveLength(4);
    expect(picked.every((id) => ['d4', 'd7', 'd10', 'd13', 'd20', 'd23', 'd26', 'd29'].includes(id))).toBe(true);
  });

  it('fills the places left with the other drones when too few are alike', () => {
    const picked = baselineDrones(candidates, canary, ['airframe', 'site'], 12);
    expect(picked).toHaveLength(12);
    expect(picked).toEqual(expect.arrayContaining(['d4', 'd7', 'd10', 'd13', 'd20', 'd23', 'd26', 'd29']));
    // In candidate order, each id once.
    const order = candidates.map((drone) => drone.id);
    expect([...picked].sort((a, b) => order.indexOf(a) - order.indexOf(b))).toEqual(picked);
    expect(new Set(picked).size).toBe(12);
  });

  it('takes every candidate when they fit, and the others when none is alike', () => {
    expect(baselineDrones(candidates, canary, ['airframe'], 100)).toEqual(candidates.map((drone) => drone.id));
    const unlike = fleetOf(5, () => ({ airframe: 'x9' }));
    expect(baselineDrones(unlike, canary, ['airframe'], 3)).toEqual(
      spread(
        unlike.map((drone) => drone.id),
        3,
      ),
    );
    expect(baselineDrones([], canary, ['airframe'], 3)).toEqual([]);
  });

  it('matches drones without a label to canary drones without it', () => {
    const mixed = fleetOf(6, (index): Record<string, string> => (index % 2 === 0 ? {} : { airframe: 'x4' }));
    const [first] = mixed;
    expect(baselineDrones(mixed.slice(1), first ? [first] : [], ['airframe'], 2)).toEqual(['d3', 'd5']);
  });
});
