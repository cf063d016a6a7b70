import { spread } from '../fleet/for-each-drone.js';
import { labelTuple } from '../spec/canary-pick.js';
import type { Drone } from '../spec/types.js';

/**
 * The baseline drones one analysis interval reads: up to `max` of `candidates` (targeted drones not pushed
 * yet), spread evenly over them. With `spreadBy`, drones whose values of those labels match one of the
 * step's drones' come first, so the canary is compared with drones like it; the others fill the places
 * left when there are not enough of them. Ids in candidate order.
 */
export function baselineDrones(
  candidates: readonly Drone[],
  step: readonly Drone[],
  spreadBy: readonly string[] | undefined,
  max: number,
): string[] {
  if (spreadBy === undefined) return spread(candidates, max).map((drone) => drone.id);
  const tuples = new Set(step.map((drone) => labelTuple(drone, spreadBy)));
  const alike = candidates.filter((drone) => tuples.has(labelTuple(drone, spreadBy)));
  const others = candidates.filter((drone) => !tuples.has(labelTuple(drone, spreadBy)));
  const chosen = new Set(
    [...spread(alike, max), ...spread(others, Math.max(0, max - alike.length))].map((drone) => drone.id),
  );
  return candidates.filter((drone) => chosen.has(drone.id)).map((drone) => drone.id);
}
