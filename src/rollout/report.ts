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

export interface DroneOutcome {
  readonly state: DroneState;
  readonly version: string | null;
}

/**
 * The per-drone part of a large fleet's report, summarised: the counts, and the outcome most drones share
 * (`common`), which the report's `drones` then leaves out, listing every other drone by id.
 */
export interface DroneSummary {
  readonly total: number;
  readonly states: Readonly<Partial<Record<DroneState, number>>>;
  /** Drones by the version they run (`null`: no version known). */
  readonly versions: Readonly<Record<string, number>>;
  readonly common: DroneOutcome & { readonly drones: number };
}

/**
 * Up to this many targeted drones, `drones` lists every one; above it the report summarises them, so that
 * printing the report of 100,000 drones costs a few KB, not a 6 MB string and 100,000 objects at the
 * very end of the run (`rollout status <id>` and the state dir's progress still have every drone).
 */
export const FULL_DRONE_LIST_MAX = 10_000;

/** The one JSON object `rollout run --output json` prints. */
export interface RolloutReport {
  readonly id: string;
  readonly name: string;
  readonly result: RolloutResult;
  readonly exitCode: number;
  readonly config: { readonly file: string; readonly version: string; readonly sha256: string };
  /** Every targeted drone; above FULL_DRONE_LIST_MAX drones, only those outside `droneSummary.common`. */
  readonly drones: Readonly<Record<string, DroneOutcome>>;
  /** Above FULL_DRONE_LIST_MAX drones: how many drones ended in each state and on each version. */
  readonly droneSummary?: DroneSummary;
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
  const attention = new Set(output.attention);
  const outcomeOf = (id: string): DroneOutcome => {
    const progress = ledger.get(id);
    return {
      state: ledger.stateOf(id, plan.config.sha256, attention),
      version: (progress.now ?? progress.before)?.version ?? null,
    };
  };
  const deferred: { drone: string; reason: string }[] = [];
  for (const { id } of plan.drones) {
    const reason = ledger.get(id).deferred?.reason;
    if (reason !== undefined && ledger.stateOf(id, plan.config.sha256, attention) === 'deferred')
      deferred.push({ drone: id, reason });
  }
  const { drones, droneSummary } =
    plan.drones.length <= FULL_DRONE_LIST_MAX
      ? { drones: Object.fromEntries(plan.drones.map(({ id }) => [id, outcomeOf(id)])), droneSummary: undefined }
      : summarise(plan.drones, outcomeOf);
  return {
    id: input.id,
    name: plan.spec.name,
    result: output.result,
    exitCode: EXIT_CODES[output.result],
    config: { file: plan.config.file, version: plan.config.version, sha256: plan.config.sha256 },
    drones,
    ...(droneSummary === undefined ? {} : { droneSummary }),
    hot: output.hot,
    attention: output.attention,
    ...(deferred.length === 0 ? {} : { deferred }),
    reason: output.reason,
    verdicts: output.verdicts,
    started: new Date(input.started).toISOString(),
    ended: new Date(input.ended).toISOString(),
  };
}

/** Counts every drone's outcome, then lists the drones outside the most common one: two passes, no map of them all. */
function summarise(
  targeted: readonly { readonly id: string }[],
  outcomeOf: (id: string) => DroneOutcome,
): { drones: Record<string, DroneOutcome>; droneSummary: DroneSummary } {
  const states: Partial<Record<DroneState, number>> = {};
  const versions: Record<string, number> = {};
  const pairs = new Map<string, DroneOutcome & { drones: number }>();
  for (const { id } of targeted) {
    const outcome = outcomeOf(id);
    states[outcome.state] = (states[outcome.state] ?? 0) + 1;
    const version = String(outcome.version);
    versions[version] = (versions[version] ?? 0) + 1;
    const key = `${outcome.state} ${version}`;
    const pair = pairs.get(key) ?? { ...outcome, drones: 0 };
    pair.drones += 1;
    pairs.set(key, pair);
  }
  let common: DroneOutcome & { drones: number } = { state: 'unchanged', version: null, drones: 0 };
  for (const pair of pairs.values()) if (pair.drones > common.drones) common = pair;
  const drones: Record<string, DroneOutcome> = {};
  for (const { id } of targeted) {
    const outcome = outcomeOf(id);
    if (outcome.state !== common.state || outcome.version !== common.version) drones[id] = outcome;
  }
  return { drones, droneSummary: { total: targeted.length, states, versions, common } };
}
