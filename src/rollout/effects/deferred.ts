import { setTimeout as delay } from 'node:timers/promises';
import { formatDuration } from '../../spec/duration.js';
import type { PushGate } from '../../spec/push-gate.js';
import type { Drone } from '../../spec/types.js';
import { count } from '../../wording.js';
import type { RolloutRuntime } from '../context.js';
import type { StageOutcome } from '../machine-types.js';
import { confirmDrones } from './confirm.js';
import { deferredDrones, gateTimeout } from './operational-gate.js';
import { pushDrones, type PushInput } from './push.js';

const LABEL = 'held-back drones';

type GatedInput = PushInput & { readonly gate: PushGate };

function stops(outcome: StageOutcome): boolean {
  return outcome.hot.length > 0 || outcome.abortReason !== undefined;
}

/**
 * Every step has passed: pushes the drones the gate held back as each comes to satisfy it, checking
 * again every `gates.recheck`, until none is left or each one's `gates.wait` has run out. With trials,
 * a drone pushed here is confirmed in the same round (the whole fleet's analysis has passed by now), and
 * so is any earlier drone whose confirm is still unanswered. On timeout, `skip` ends the stage (the
 * drones stay on the old config, listed as deferred); `rollback` stops the rollout.
 */
export async function pushDeferred(
  runtime: RolloutRuntime,
  input: GatedInput,
  signal: AbortSignal,
): Promise<StageOutcome> {
  const gates = runtime.plan.spec.gates;
  if (gates === undefined) return { hot: [] };
  const waiting = deferredDrones(runtime);
  if (waiting.length > 0) {
    runtime.observer.note(
      `${count(waiting.length, 'drone')} held back by gates.push_when: checking again every ${formatDuration(gates.recheckMs)}, each until gates.wait (${formatDuration(gates.waitMs)}) from when it was first held back`,
    );
  }
  const stopped = await retryHeldBack(
    runtime,
    input,
    () => deferredDrones(runtime),
    () => false,
    signal,
  );
  if (stopped !== undefined) return stopped;
  // A drone whose wait ran out during the last round.
  const timedOut = gateTimeout(runtime);
  return timedOut === undefined ? { hot: [] } : { hot: [], abortReason: timedOut };
}

/**
 * A step with a bake whose drones the gate all held back has nothing to judge: it waits, checking again
 * every `gates.recheck`, until one of them is pushed. If every one's wait runs out first, the rollout
 * stops, saying so.
 */
export async function awaitFirstOfStep(
  runtime: RolloutRuntime,
  input: GatedInput & { readonly stepDrones: readonly string[]; readonly stepName: string },
  signal: AbortSignal,
): Promise<StageOutcome> {
  const inStep = new Set(input.stepDrones);
  runtime.observer.note(
    `gates.push_when holds back every drone of ${input.stepName} that was not pushed: waiting for one to satisfy it before the bake`,
  );
  let pushed = 0;
  const stopped = await retryHeldBack(
    runtime,
    input,
    () => deferredDrones(runtime).filter((drone) => inStep.has(drone.id)),
    (round) => (pushed += round) > 0,
    signal,
  );
  if (stopped !== undefined) return stopped;
  if (pushed > 0) return { hot: [] };
  const [first] = input.stepDrones;
  const reason = first === undefined ? '' : (runtime.ledger.get(first).deferred?.reason ?? '');
  return {
    hot: [],
    abortReason: `every drone of ${input.stepName} was held back by gates.push_when until gates.wait ran out, so it has nothing to bake (${first ?? ''}: ${reason})`,
  };
}

/**
 * Rounds over `waiting()` every `gates.recheck` (or sooner, at the next deadline) until it is empty or
 * `enough` says so after a round; the outcome of a round that stops the rollout, else undefined.
 */
async function retryHeldBack(
  runtime: RolloutRuntime,
  input: GatedInput,
  waiting: () => Drone[],
  enough: (pushedThisRound: number) => boolean,
  signal: AbortSignal,
): Promise<StageOutcome | undefined> {
  const recheckMs = runtime.plan.spec.gates?.recheckMs ?? 0;
  for (;;) {
    const timedOut = gateTimeout(runtime);
    if (timedOut !== undefined) return { hot: [], abortReason: timedOut };
    const drones = waiting();
    if (drones.length === 0) return undefined;
    const round = await pushDrones(runtime, drones, { ...input, label: LABEL, quiet: true }, signal);
    if (stops(round.stage)) return round.stage;
    const confirmed = await confirmUnanswered(runtime, input, signal);
    if (confirmed !== undefined && stops(confirmed)) return confirmed;
    await runtime.recorder.flush();
    if (enough(round.pushed.length)) return undefined;
    const still = waiting();
    if (still.length === 0) return undefined;
    const now = runtime.now();
    const nearest = still.reduce(
      (soonest, drone) => Math.min(soonest, runtime.ledger.get(drone.id).deferred?.until ?? now),
      Number.POSITIVE_INFINITY,
    );
    await delay(Math.max(0, Math.min(recheckMs, nearest - now)), undefined, { signal });
  }
}

/** With trials, confirms every drone on the new config whose confirm is still unanswered (pushed here, or found so by `resume`). */
async function confirmUnanswered(
  runtime: RolloutRuntime,
  input: GatedInput,
  signal: AbortSignal,
): Promise<StageOutcome | undefined> {
  if (runtime.plan.spec.push.confirmWithinMs === undefined) return undefined;
  const { sha256 } = runtime.plan.config;
  const due = runtime.plan.drones.filter((drone) => {
    const progress = runtime.ledger.get(drone.id);
    return progress.unconfirmed === true && progress.pushSent && progress.now?.sha256 === sha256;
  });
  return due.length === 0 ? undefined : confirmDrones(runtime, due, { ...input, label: LABEL }, signal);
}
