import { seededShuffle, spreadPick } from './canary-pick.js';
import { formatLabels, matchesLabels } from './select-drones.js';
import type { Drone, PlanStep, RolloutSpec } from './types.js';
import type { PathProblem } from './yaml-source.js';

/** `ceil(percent% of total)`, immune to float noise such as 7% of 100 being 7.000000000000001. */
export function shareOf(percent: number, total: number): number {
  return Math.ceil((percent * total) / 100 - 1e-9);
}

export interface CanaryOptions {
  /**
   * The seed a canary drawn at random (`canary.random`) is drawn from; required then, ignored otherwise.
   * The same seed and inventory always draw the same canary.
   */
  readonly canarySeed?: string;
}

/** How many drones the canary takes: `drones`, or ceil(`percent`%) of the targeted drones, at least one. */
function canarySize(canary: RolloutSpec['canary'], targeted: number): number {
  if (canary.percent !== undefined) return Math.max(1, shareOf(canary.percent, targeted));
  return Math.min(canary.drones ?? 0, targeted);
}

/**
 * The canary's drones, in inventory order. May be empty or short; `checkFleetFit` reports that. The first
 * N targeted drones, unless `spreadBy` has them cover as many values of those labels as N allows and
 * `random` shuffles the candidates first (with `options.canarySeed`).
 */
export function canaryDrones(
  canary: RolloutSpec['canary'],
  targeted: readonly Drone[],
  options: CanaryOptions = {},
): readonly Drone[] {
  if (canary.label !== undefined) {
    const label = canary.label;
    return targeted.filter((drone) => matchesLabels(drone, label));
  }
  const size = canarySize(canary, targeted.length);
  if (!canary.random && canary.spreadBy === undefined) return targeted.slice(0, size);
  let candidates = targeted;
  if (canary.random) {
    const seed = options.canarySeed;
    if (seed === undefined || seed === '') {
      throw new TypeError(
        `Expected \`canarySeed\` to be a non-empty string for a random canary, got \`${String(seed)}\``,
      );
    }
    candidates = seededShuffle(targeted, seed);
  }
  const chosen =
    canary.spreadBy === undefined ? candidates.slice(0, size) : spreadPick(candidates, size, canary.spreadBy);
  const ids = new Set(chosen.map((drone) => drone.id));
  return targeted.filter((drone) => ids.has(drone.id));
}

/** Problems that only show once the spec meets its inventory: nothing targeted, a canary that does not fit. */
export function checkFleetFit(
  spec: RolloutSpec,
  inventory: readonly Drone[],
  targeted: readonly Drone[],
  inventoryFile: string,
): PathProblem[] {
  const { selector } = spec.fleet;
  if (targeted.length === 0) {
    const description = selector === undefined ? 'the fleet' : `selector ${formatLabels(selector)}`;
    return [
      {
        path: ['fleet', 'selector'],
        message: `${description} matches no drone of ${inventory.length} in ${inventoryFile}`,
      },
    ];
  }
  const { canary } = spec;
  if (canary.drones !== undefined && canary.drones > targeted.length) {
    return [
      {
        path: ['canary', 'drones'],
        message: `asks for ${canary.drones} drones but only ${targeted.length} are targeted`,
      },
    ];
  }
  if (canary.label !== undefined && canaryDrones(canary, targeted).length === 0) {
    return [
      {
        path: ['canary', 'label'],
        message: `${formatLabels(canary.label)} matches none of the ${targeted.length} targeted drones`,
      },
    ];
  }
  return [];
}

/**
 * The canary (see `canaryDrones`), then each wave. A wave's percent is cumulative: it brings the total on
 * the new config to ceil(percent% of the targeted drones), taking the next drones in inventory order that
 * no earlier step took. Waves that would add nobody are left out; the last wave is 100, so every targeted
 * drone lands in exactly one step. Waves keep their spec number (`wave 2` stays `wave 2` when wave 1 is
 * left out).
 */
export function planSteps(spec: RolloutSpec, targeted: readonly Drone[], options: CanaryOptions = {}): PlanStep[] {
  const total = targeted.length;
  const canary = canaryDrones(spec.canary, targeted, options);
  const taken = new Set(canary.map((drone) => drone.id));
  const rest = targeted.filter((drone) => !taken.has(drone.id));
  const cumulativePercent = (count: number): number => (total === 0 ? 100 : (count * 100) / total);

  const steps: PlanStep[] = [
    {
      index: 0,
      kind: 'canary',
      name: 'canary',
      percent: cumulativePercent(canary.length),
      drones: canary.map((drone) => drone.id),
      bakeMs: spec.canary.bakeMs,
    },
  ];
  let done = canary.length;
  let next = 0;
  spec.waves.forEach((wave, waveIndex) => {
    const adding = rest.slice(next, next + Math.max(0, shareOf(wave.percent, total) - done));
    if (adding.length === 0) return;
    next += adding.length;
    done += adding.length;
    steps.push({
      index: steps.length,
      kind: 'wave',
      name: `wave ${waveIndex + 1}`,
      percent: cumulativePercent(done),
      drones: adding.map((drone) => drone.id),
      bakeMs: wave.bakeMs,
    });
  });
  return steps;
}
