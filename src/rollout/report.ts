import type { RolloutOutput, RolloutResult } from './machine-types.js';
import type { Plan } from '../spec/types.js';
import type { DroneState, Ledger } from './ledger.js';
import type { WebhookCall } from '../signals/webhook.js';

/** The exit code a CI gate reads, one per result (README: "Exit codes"). */
export const EXIT_CODES: Readonly<Record<RolloutResult, number>> = {
  promoted: 0,
  rolled_back: 1,
  unchanged: 6,
  invalid: 2,
  lock_busy: 3,
  aborted_hot: 4,
  needs_attention: 5,
  interrupted: 130,
};

/** The one JSON object `rollout run --output json` prints. */
export interface RolloutReport {
  readonly id: string;
  readonly name: string;
  readonly result: RolloutResult;
  readonly exitCode: number;
  readonly config: { readonly file: string; readonly version: string; readonly sha256: string };
  readonly drones: Readonly<Record<string, { readonly state: DroneState; readonly version: string | null }>>;
  readonly hot: readonly string[];
  readonly attention: readonly string[];
  /** Drones the operational gate held back and never pushed (state `deferred`), with why; absent when none. */
  readonly deferred?: readonly { readonly drone: string; readonly reason: string }[];
  readonly reason: string;
  readonly verdicts: RolloutOutput['verdicts'];
  readonly started: string;
  readonly ended: string;
  /** Notification deliveries (target × event) this process made, after their retries. */
  readonly notifications?: { readonly sent: number; readonly failed: number };
  /** The post-rollout and rollback webhooks called at the end; a failed one never changes the result. */
  readonly webhooks?: readonly WebhookCall[];
}

export function buildReport(input: {
  readonly id: string;
  readonly plan: Plan;
  readonly ledger: Ledger;
  readonly output: RolloutOutput;
  readonly started: number;
  readonly ended: number;
}): RolloutReport {
  const { plan, ledger, output } = input;
  const drones: Record<string, { state: DroneState; version: string | null }> = {};
  const attention = new Set(output.attention);
  const deferred: { drone: string; reason: string }[] = [];
  for (const drone of plan.drones) {
    const progress = ledger.get(drone.id);
    const state = ledger.stateOf(drone.id, plan.config.sha256, attention);
    drones[drone.id] = { state, version: (progress.now ?? progress.before)?.version ?? null };
    if (state === 'deferred') deferred.push({ drone: drone.id, reason: progress.deferred?.reason ?? '' });
  }
  return {
    id: input.id,
    name: plan.spec.name,
    result: output.result,
    exitCode: EXIT_CODES[output.result],
    config: { file: plan.config.file, version: plan.config.version, sha256: plan.config.sha256 },
    drones,
    hot: output.hot,
    attention: output.attention,
    ...(deferred.length === 0 ? {} : { deferred }),
    reason: output.reason,
    verdicts: output.verdicts,
    started: new Date(input.started).toISOString(),
    ended: new Date(input.ended).toISOString(),
  };
}
