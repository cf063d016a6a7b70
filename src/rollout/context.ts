import type { Logger } from 'pino';
import type { DroneClient } from '../fleet/drone-client.js';
import type { VerdictRecord } from './machine-types.js';
import type { Drone, Plan } from '../spec/types.js';
import type { Ledger } from './ledger.js';
import type { RolloutRecorder } from './recorder.js';
import type { RolloutSignals } from './signals.js';

/** What a rollout reports while it works, for the progress display. */
export interface RolloutObserver {
  /** A new stage began: `pausing the fleet`, `canary: pushing to 3 drones`, `rolling back`, … */
  stage(label: string): void;
  progress(stage: string, done: number, total: number): void;
  verdict(record: VerdictRecord, intervals: number): void;
  /** Something a person watching should know now: a mixed fleet adopted, a lock re-taken. */
  note(text: string): void;
}

/** Everything the effects of one rollout share. */
export interface RolloutRuntime {
  readonly rolloutId: string;
  readonly plan: Plan;
  readonly client: DroneClient;
  readonly ledger: Ledger;
  /** The state store's writer: audit events, progress, snapshots. */
  readonly recorder: RolloutRecorder;
  /** Webhooks and notifications. */
  readonly signals: RolloutSignals;
  readonly logger: Logger;
  readonly observer: RolloutObserver;
  readonly now: () => number;
  /** Targeted drones by id. */
  readonly drones: ReadonlyMap<string, Drone>;
  /** Per pushed drone: the first telemetry seq under the new config, where its push answer said. */
  readonly configSeq: Map<string, number>;
}

/** Drones by id, in the order given; an id missing from the map is a bug in the plan. */
export function dronesOf(runtime: RolloutRuntime, ids: readonly string[]): Drone[] {
  return ids.map((id) => {
    const drone = runtime.drones.get(id);
    if (!drone) throw new Error(`drone ${id} is in the plan but not among the targeted drones`);
    return drone;
  });
}
