import type { VersionRef } from '../protocol/v1.js';
import { listIds } from '../wording.js';
import type { RolloutRuntime } from './context.js';

/** The versions the targeted drones ran when paused, besides the new config. */
export interface FleetVersions {
  /** The version most drones ran: the fleet's current config, the one a rollback returns to. */
  readonly current: VersionRef | null;
  /** Drones on any other version (not the new config): another rollout changed them, or one ended halfway. */
  readonly others: ReadonlyMap<string, { readonly version: string; readonly drones: readonly string[] }>;
}

/** Groups the targeted drones by the version they ran before this rollout, from the ledger. */
export function fleetVersions(runtime: RolloutRuntime): FleetVersions {
  const { sha256 } = runtime.plan.config;
  const groups = new Map<string, { version: string; drones: string[] }>();
  for (const drone of runtime.plan.drones) {
    const before = runtime.ledger.get(drone.id).before;
    if (before === null || before.sha256 === sha256) continue;
    let group = groups.get(before.sha256);
    if (!group) {
      group = { version: before.version, drones: [] };
      groups.set(before.sha256, group);
    }
    group.drones.push(drone.id);
  }
  let current: [string, { version: string; drones: string[] }] | undefined;
  for (const entry of groups) if (!current || entry[1].drones.length > current[1].drones.length) current = entry;
  if (!current) return { current: null, others: new Map() };
  const others = new Map(groups);
  others.delete(current[0]);
  return { current: { version: current[1].version, sha256: current[0] }, others };
}

/** `drone-2, drone-3 run v43` for each other version, at most five drones named per version. */
export function describeOthers(versions: FleetVersions): string {
  return [...versions.others.values()]
    .map(({ version, drones }) => {
      return `${listIds(drones)} ${drones.length === 1 ? 'runs' : 'run'} ${version}`;
    })
    .join('; ');
}

/** Drones that ran neither the fleet's current version nor the new one: never baseline. */
export function offVersionDrones(versions: FleetVersions): ReadonlySet<string> {
  return new Set([...versions.others.values()].flatMap((group) => group.drones));
}
