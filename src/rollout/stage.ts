import type { SnapshotFrom } from 'xstate';
import type { rolloutMachine } from './machine.js';
import type { StageKind, StageMeta } from './machine-types.js';

type RolloutSnapshot = SnapshotFrom<typeof rolloutMachine>;

const FIXED: Readonly<Partial<Record<StageKind, string>>> = {
  pausingFleet: 'pausing the fleet',
  acquiringLock: 'taking the config lock',
  checkingFleet: "checking the fleet's versions",
  gatingRollout: 'asking the pre-rollout webhooks',
  pushingDeferred: 'pushing the drones the operational gate held back, as they come to satisfy it',
  verifying: 'checking every drone runs the new config',
  rollingBack: 'rolling back',
  resumingFleet: 'resuming the fleet',
  releasingLock: 'releasing the config lock',
};

/** The stage the machine is in, from its states' `meta`: exactly one active state names a stage. */
export function stageOf(snapshot: RolloutSnapshot): StageKind | null {
  const named = Object.values(snapshot.getMeta()).filter((meta): meta is StageMeta => meta !== undefined);
  return named.at(-1)?.stage ?? null;
}

/**
 * A readable stage for people and the state store: `canary: pushing to 3 drones`, `rolling back`; `ended`
 * once the machine is done. Bake and analysis are one stage; their verdicts are reported on their own.
 */
export function stageLabel(snapshot: RolloutSnapshot): string {
  if (snapshot.status === 'done') return 'ended';
  const stage = stageOf(snapshot);
  if (stage === null)
    throw new Error(`the rollout machine is in ${JSON.stringify(snapshot.value)}, a state that names no stage`);
  const fixed = FIXED[stage];
  if (fixed !== undefined) return fixed;
  const { steps, stepIndex, rolloutId } = snapshot.context;
  const step = steps[stepIndex];
  const name = step?.name ?? 'step';
  switch (stage) {
    case 'pushing': {
      const drones = step?.droneCount ?? 0;
      return `${name}: pushing to ${drones} drone${drones === 1 ? '' : 's'}`;
    }
    case 'baking': {
      const intervals = step?.intervals ?? 0;
      return `${name}: baking ${intervals} analysis interval${intervals === 1 ? '' : 's'}`;
    }
    case 'awaitingApproval':
      return `waiting for \`rollout promote ${rolloutId}\``;
    case 'confirmingTrial': {
      const drones = step?.droneCount ?? 0;
      return `${name} passed: confirming the trial config on ${drones} drone${drones === 1 ? '' : 's'}`;
    }
    case 'confirmingPromotion':
      return `${name} passed: asking the confirm-promotion webhooks before ${steps[stepIndex + 1]?.name ?? 'the next step'}`;
    default:
      return `waiting for a human: the verdict was inconclusive (\`rollout promote ${rolloutId}\` or \`rollout abort ${rolloutId}\`)`;
  }
}
