import type { DroneFailure } from '../../fleet/drone-client.js';
import { forEachDrone } from '../../fleet/for-each-drone.js';
import { signPush, type SigningKey } from '../../protocol/push-signature.js';
import type { PushRequest } from '../../protocol/v1.js';
import type { PushGate } from '../../spec/push-gate.js';
import type { Drone } from '../../spec/types.js';
import { dronesOf, type RolloutRuntime } from '../context.js';
import type { StageOutcome } from '../machine-types.js';
import { awaitFirstOfStep } from './deferred.js';
import { checkGate, deferredDrones, gateTimeout } from './operational-gate.js';
import { FailureBudget, landedMaybe, concurrency } from './stage-support.js';

export interface PushInput {
  readonly fence: number;
  /** Asked before every push: false once the lease may have expired (see LeaseKeeper.isFresh). */
  readonly mayWrite: () => boolean;
  /** `gates.push_when`, checked on each drone right before its push; absent: every drone is pushed. */
  readonly gate?: PushGate;
  /** The spec's signing key (`config.sign`), read once per rollout; absent: pushes go unsigned. */
  readonly signingKey?: SigningKey;
}

/** A round of pushes: `quiet` ones (retries of held-back drones) leave no `push.begin` in the audit log. */
type RoundInput = PushInput & { readonly label: string; readonly quiet?: boolean };

/**
 * Pushes the new config to one step's drones with the fence; a HOT answer or a breached budget stops it.
 * With an operational gate, drones it held back in earlier steps go first, and a drone it holds back now
 * is deferred (not pushed) and retried later, within `gates.wait`.
 */
export async function pushStep(
  runtime: RolloutRuntime,
  input: PushInput & { readonly stepIndex: number },
  signal: AbortSignal,
): Promise<StageOutcome> {
  const step = runtime.plan.steps[input.stepIndex];
  if (!step) throw new RangeError(`step ${input.stepIndex} is not in the plan`);
  let drones = dronesOf(runtime, step.drones);
  if (input.gate !== undefined) {
    const timedOut = gateTimeout(runtime);
    if (timedOut !== undefined) return { hot: [], abortReason: timedOut };
    const inStep = new Set(step.drones);
    drones = [...deferredDrones(runtime).filter((drone) => !inStep.has(drone.id)), ...drones];
  }
  const outcome = await pushDrones(runtime, drones, { ...input, label: step.name }, signal);
  runtime.logger.info(
    { step: step.name, drones: step.drones.length, deferred: outcome.deferred, hot: outcome.stage.hot },
    'step pushed',
  );
  const { stage } = outcome;
  if (input.gate === undefined || stage.hot.length > 0 || stage.abortReason !== undefined) return stage;
  // A bake needs some of its own drones on the new config: one whose drones the gate all held back waits.
  const inStep = new Set(step.drones);
  if (step.bakeMs === 0 || outcome.pushed.some((drone) => inStep.has(drone.id))) return stage;
  if (!step.drones.some((id) => runtime.ledger.get(id).deferred !== undefined)) return stage;
  return awaitFirstOfStep(
    runtime,
    { ...input, gate: input.gate, stepDrones: step.drones, stepName: step.name },
    signal,
  );
}

/** What one round of pushes ended with, and how many drones the gate held back in it. */
export interface PushRound {
  readonly stage: StageOutcome;
  readonly deferred: number;
  readonly pushed: readonly Drone[];
}

/**
 * Pushes to `drones` (a step's, or the gate's deferred ones), each after the gate passes it. Drones the
 * gate held back past `gates.wait` are not asked again.
 */
export async function pushDrones(
  runtime: RolloutRuntime,
  drones: readonly Drone[],
  input: RoundInput,
  signal: AbortSignal,
): Promise<PushRound> {
  const { config } = runtime.plan;
  const budget = new FailureBudget(runtime, 'push', `pushing ${input.label}`);
  const trialMs = runtime.plan.spec.push.confirmWithinMs;
  const signed = { rollout: runtime.rolloutId, version: config.version, sha256: config.sha256, fence: input.fence };
  // Frozen: the client serializes a push request once, at its first push.
  const request: PushRequest = Object.freeze({
    ...signed,
    content: config.content,
    ...(trialMs === undefined ? {} : { trialMs }),
    // One signature for the whole round: it covers the config, the rollout and the fence, not the drone.
    ...(input.signingKey === undefined
      ? {}
      : { signature: signPush(input.signingKey, { file: config.file, ...signed }) }),
  });
  if (input.quiet !== true) {
    runtime.recorder.audit('push.begin', {
      step: input.label,
      drones: drones.length,
      fence: input.fence,
      version: config.version,
    });
    await runtime.recorder.flush();
  }
  let done = 0;
  let deferred = 0;
  const pushed: Drone[] = [];
  // The drones' telemetry seq at their push is read only by the analysis of a step with a bake.
  const keepsSeq = runtime.plan.steps.some((step) => step.bakeMs > 0);
  await forEachDrone(drones, { concurrency: concurrency(runtime), signal }, async (drone, s) => {
    if (!input.mayWrite()) {
      budget.leaseLapsed(input.fence);
      return 'stop';
    }
    if (input.gate !== undefined) {
      const gate = await checkGate(runtime, input.gate, drone, budget, s);
      if (gate !== 'push') {
        if (gate === 'held') deferred += 1;
        runtime.observer.progress(input.label, ++done, drones.length);
        return gate === 'stop' ? 'stop' : 'continue';
      }
      // The health read may have taken a while: the lease must still be fresh for the write itself.
      if (!input.mayWrite()) {
        budget.leaseLapsed(input.fence);
        return 'stop';
      }
    }
    const sending = runtime.ledger.edit(drone.id);
    sending.pushSent = true;
    // Sent, it is no longer held back: whatever its answer, it is reported as pushed (or failed), never deferred.
    delete sending.deferred;
    const reply = await runtime.client.push(drone, config.file, request, s);
    // Edited again: a flush of the store while the push was in flight has taken the edit above.
    const progress = runtime.ledger.edit(drone.id);
    runtime.observer.progress(input.label, ++done, drones.length);
    if (!reply.ok) {
      progress.pushSent = landedMaybe(reply);
      if (reply.kind === 'cancelled') return 'stop';
      return budget.record(drone, signatureRefused(drone, reply)) ? 'stop' : 'continue';
    }
    progress.before ??= runtime.ledger.refOf(reply.body.previous);
    progress.now = runtime.ledger.ref(reply.body.version, reply.body.sha256);
    // On trial until a confirm answers: the next confirm asks it, whichever step it was pushed in.
    if (reply.body.trial !== undefined) progress.unconfirmed = true;
    if (keepsSeq && reply.body.seq !== undefined) runtime.configSeq.set(drone.id, reply.body.seq);
    progress.lastError = null;
    pushed.push(drone);
    runtime.recorder.audit('push', {
      drone: drone.id,
      ok: true,
      fence: input.fence,
      previous: reply.body.previous?.version ?? null,
    });
    return 'continue';
  });
  return { stage: budget.outcome(), deferred, pushed };
}

/**
 * A drone that refused the push's signature (403 `bad_signature`) said no as any drone refusing a push
 * does: it counts against `abort.max_push_failures`, and the reason names it and says "signature
 * refused". The caller has already noted that the push did not land.
 */
function signatureRefused(drone: Drone, failure: DroneFailure): DroneFailure {
  if (failure.kind !== 'refused' || failure.code !== 'bad_signature') return failure;
  return { ...failure, message: `signature refused by ${drone.id}: ${failure.message}` };
}
