import type { Drone, Labels } from './types.js';

/** True when the drone carries every label of the selector with the same value. */
export function matchesLabels(drone: Drone, selector: Labels): boolean {
  return Object.entries(selector).every(([name, value]) => drone.labels[name] === value);
}

/** The drones a selector targets, in inventory order; no selector targets them all. */
export function selectDrones(drones: readonly Drone[], selector: Labels | undefined): readonly Drone[] {
  return selector === undefined ? drones : drones.filter((drone) => matchesLabels(drone, selector));
}

/** `{group: patrol, zone: zone-a}`, as a selector is written in YAML. */
export function formatLabels(selector: Labels): string {
  return `{${Object.entries(selector)
    .map(([name, value]) => `${name}: ${value}`)
    .join(', ')}}`;
}
