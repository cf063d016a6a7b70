import { forEachDrone } from '../../fleet/for-each-drone.js';
import type { Drone } from '../../spec/types.js';
import type { RolloutRuntime } from '../context.js';
import type { StageOutcome } from '../machine-types.js';
import { FailureBudget, concurrency } from './stage-support.js';

export interface ConfirmInput {
  readonly fence: number;
  /** Asked before every confirm: false once the lease may have expired (see LeaseKeeper.isFresh). */
  readonly mayWrite: () => boolean;
}

/**
 * Step `stepIndex` has passed: confirms the trial config on each of its drones that took it, and on any
 * earlier drone whose confirm is still unanswered, so none reverts by itself.
 */
export async function confirmStep(
  runtime: RolloutRuntime,
  input: ConfirmInput & { readonly stepIndex: number },
  signal: AbortSignal,
): Promise<StageOutcome> {
  const { config, steps } = runtime.plan;
  const step = steps[input.stepIndex];
  if (!step) throw new RangeError(`step ${input.stepIndex} is not in the plan`);
  const inStep = new Set(step.drones);
  const taken = runtime.plan.drones.filter((drone) => {
    const progress = runtime.ledger.get(drone.id);
    const due = inStep.has(drone.id) || progress.unconfirmed === true;
    return due && progress.pushSent && progress.now?.sha256 === config.sha256;
  });
  return confirmDrones(runtime, taken, { ...input, label: step.name }, signal);
}

/**
 * Confirms the trial config on `drones`. A drone that already reverted (its trial lapsed first) is
 * `autoReverted` and no longer counts as updated; one whose confirm got no answer stays `unconfirmed`
 * (not updated) and is asked again at the next confirm. An agent that predates trials (no confirm
 * endpoint) has nothing to confirm. HOT and a breached failure budget stop the rollout, as in a push.
 */
export async function confirmDrones(
  runtime: RolloutRuntime,
  drones: readonly Drone[],
  input: ConfirmInput & { readonly label: string },
  signal: AbortSignal,
): Promise<StageOutcome> {
  const { config } = runtime.plan;
  const budget = new FailureBudget(runtime, 'confirm', `confirming ${input.label}`);
  const request = { rollout: runtime.rolloutId, fence: input.fence, sha256: config.sha256 };
  let done = 0;
  let reverted = 0;
  await forEachDrone(drones, { concurrency: concurrency(runtime), signal }, async (drone, s) => {
    if (!input.mayWrite()) {
      budget.leaseLapsed(input.fence);
      return 'stop';
    }
    const reply = await runtime.client.confirm(drone, config.file, request, s);
    runtime.observer.progress(`confirming ${input.label}`, ++done, drones.length);
    const progress = runtime.ledger.edit(drone.id);
    if (reply.ok) {
      delete progress.unconfirmed;
      runtime.recorder.audit('confirm', { drone: drone.id, ok: true, fence: input.fence });
      return 'continue';
    }
    if (reply.kind === 'cancelled') return 'stop';
    if (reply.kind === 'refused' && reply.code === 'trial_reverted') {
      reverted += 1;
      delete progress.unconfirmed;
      progress.autoReverted = true;
      progress.now = progress.before;
      progress.lastError = reply.message;
      runtime.recorder.audit('confirm', { drone: drone.id, ok: false, autoReverted: true, error: reply.message });
      runtime.logger.warn({ drone: drone.id, step: input.label }, reply.message);
      return 'continue';
    }
    if (reply.kind === 'refused' && (reply.code === 'method_not_allowed' || reply.code === 'not_found')) {
      // An agent that predates trials ignored trialMs: its push is no trial, and it stays.
      delete progress.unconfirmed;
      runtime.recorder.audit('confirm', { drone: drone.id, ok: true, trial: false });
      return 'continue';
    }
    // Unconfirmed, it reverts by itself at its deadline: not on the new config for good, unless a later
    // confirm reaches it in time.
    progress.unconfirmed = true;
    return budget.record(drone, reply) ? 'stop' : 'continue';
  });
  runtime.logger.info(
    { step: input.label, drones: drones.length, reverted, hot: budget.hot, abort: budget.reason },
    'step confirmed',
  );
  if (reverted > 0) {
    runtime.observer.note(
      `${reverted} drone${reverted === 1 ? '' : 's'} of ${input.label} reverted by itself before its trial was confirmed`,
    );
  }
  return budget.outcome();
}
