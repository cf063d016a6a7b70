import { forEachDrone } from '../../fleet/for-each-drone.js';
import { listIds } from '../../wording.js';
import type { RolloutRuntime } from '../context.js';
import type { StageOutcome } from '../machine-types.js';
import { concurrency } from './stage-support.js';
import type { VersionRef } from '../../protocol/v1.js';

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

/**
 * Whether the paused fleet is one a rollout can start on, judged once the lock is held. A fleet that already runs the new config
 * needs nothing. The rule for a fleet that another rollout left on other versions: drones that run neither the fleet's
 * current version nor the new one are named. With `fleet.mixed_versions: refuse` (the default) the
 * rollout stops before any push, releases the lock and ends needs_attention; with `adopt` it goes on, keeps them out
 * of the baseline, and a rollback returns each to the version it ran.
 */
export function checkFleetVersions(runtime: RolloutRuntime): StageOutcome {
  const { config, drones } = runtime.plan;
  if (drones.every((drone) => runtime.ledger.get(drone.id).before?.sha256 === config.sha256)) {
    return {
      hot: [],
      endsAs: 'promoted',
      abortReason: `nothing to do: every targeted drone already runs ${config.version}; nothing was pushed`,
    };
  }
  const versions = fleetVersions(runtime);
  // No current version means no drone ran any version besides the new config.
  if (versions.current === null || versions.others.size === 0) return { hot: [] };
  const named = describeOthers(versions);
  const off = [...offVersionDrones(versions)];
  runtime.recorder.audit('fleet.mixed', {
    current: versions.current.version,
    others: Object.fromEntries([...versions.others.values()].map((g) => [g.version, g.drones])),
  });
  if (runtime.plan.spec.fleet.mixedVersions === 'adopt') {
    runtime.logger.warn(
      { drones: off.length },
      `mixed fleet adopted: ${named}, while the rest run ${versions.current.version}; they are kept out of the baseline`,
    );
    runtime.observer.note(
      `mixed fleet: ${named} (the rest run ${versions.current.version}); adopted: they are not baseline, and a rollback returns each to its own version`,
    );
    return { hot: [] };
  }
  return {
    hot: [],
    endsAs: 'needs_attention',
    attention: off,
    abortReason:
      `the fleet runs more than one version besides ${runtime.plan.config.version}: ${named}, while the rest run ${versions.current.version}. ` +
      'Another rollout changed them, or ended halfway: finish or roll it back (`rollout status`, `rollout resume <id> --rollback`), ' +
      'or set fleet.mixed_versions: adopt to roll out over them; nothing was pushed',
  };
}

/**
 * Reads every targeted drone's version again (health), for a rollout that waited for the lock: whoever
 * held it may have changed drones since the pause. A drone that does not answer keeps what its pause said.
 */
export async function rereadVersions(runtime: RolloutRuntime, signal: AbortSignal): Promise<void> {
  const { config, drones } = runtime.plan;
  await forEachDrone(drones, { concurrency: concurrency(runtime), signal }, async (drone, s) => {
    if (runtime.ledger.get(drone.id).pushSent) return 'continue';
    const reply = await runtime.client.health(drone, s);
    const state = reply.ok ? reply.body.configs[config.file] : undefined;
    if (state) {
      const progress = runtime.ledger.edit(drone.id);
      progress.before = progress.now = runtime.ledger.ref(state.version, state.sha256);
    }
    return 'continue';
  });
}
