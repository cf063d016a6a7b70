import { isHot } from '../../protocol/v1.js';
import { formatDuration } from '../../spec/duration.js';
import type { PushGate } from '../../spec/push-gate.js';
import type { Drone } from '../../spec/types.js';
import { listIds } from '../../wording.js';
import type { RolloutRuntime } from '../context.js';
import type { FailureBudget } from './stage-support.js';

/**
 * What the gate says of one drone right before its push: `push` it; `held` back (deferred, retried
 * later); `skip` it (it failed to answer, counted in the budget, or its deferral ran out); or `stop`
 * the stage (HOT, or the budget is spent).
 */
export type GateStep = 'push' | 'held' | 'skip' | 'stop';

/**
 * Asks the drone for its operational state right before the push (one health request more per drone:
 * a safety rule, since a state read at pause time may be minutes old when the push comes) and checks the
 * gate on it. A drone first held back is recorded as deferred until now + `gates.wait`.
 */
export async function checkGate(
  runtime: RolloutRuntime,
  gate: PushGate,
  drone: Drone,
  budget: FailureBudget,
  signal: AbortSignal,
): Promise<GateStep> {
  const { config, spec } = runtime.plan;
  const deferral = runtime.ledger.get(drone.id).deferred;
  if (deferral !== undefined && deferral.until <= runtime.now()) return 'skip';
  const reply = await runtime.client.health(drone, signal);
  if (!reply.ok) {
    if (reply.kind === 'cancelled') return 'stop';
    return budget.record(drone, reply) ? 'stop' : 'skip';
  }
  if (isHot(reply.body.configs, config.file)) {
    budget.record(drone, { ok: false, kind: 'hot', message: `lock mismatch: ${config.file} HOT` });
    return 'stop';
  }
  // Already on the new config (a resumed step, a rollout run again): its push changes nothing, so the
  // gate has nothing to hold back.
  if (reply.body.configs[config.file]?.sha256 === config.sha256) return 'push';
  const answer = gate.check({ id: drone.id, labels: drone.labels, operational: reply.body.operational });
  if (answer.pass) return 'push';
  const earlier = runtime.ledger.get(drone.id).deferred;
  // Only a change is persisted: a drone held back round after round is not rewritten every recheck.
  if (earlier?.reason === answer.reason) return 'held';
  const until = earlier?.until ?? runtime.now() + (spec.gates?.waitMs ?? 0);
  if (earlier === undefined) {
    runtime.recorder.audit('push.deferred', { drone: drone.id, reason: answer.reason, until });
    runtime.logger.info(
      { drone: drone.id, until: new Date(until).toISOString() },
      `${drone.id} held back by gates.push_when: ${answer.reason}`,
    );
  }
  runtime.ledger.edit(drone.id).deferred = { until, reason: answer.reason };
  return 'held';
}

/** Targeted drones the gate holds back whose deferral has not run out, in plan order. */
export function deferredDrones(runtime: RolloutRuntime): Drone[] {
  const now = runtime.now();
  return runtime.plan.drones.filter((drone) => {
    const deferred = runtime.ledger.get(drone.id).deferred;
    return deferred !== undefined && deferred.until > now;
  });
}

/** Targeted drones still held back by the gate once their deferral ran out. */
export function expiredDrones(runtime: RolloutRuntime): string[] {
  const now = runtime.now();
  return runtime.plan.drones
    .filter((drone) => {
      const deferred = runtime.ledger.get(drone.id).deferred;
      return deferred !== undefined && deferred.until <= now;
    })
    .map((drone) => drone.id);
}

/**
 * With `gates.on_timeout: rollback`, why the rollout must roll back now: drones the gate held back for
 * all of `gates.wait`. Undefined otherwise.
 */
export function gateTimeout(runtime: RolloutRuntime): string | undefined {
  const gates = runtime.plan.spec.gates;
  if (gates?.onTimeout !== 'rollback') return undefined;
  const expired = expiredDrones(runtime);
  const [first] = expired;
  if (first === undefined) return undefined;
  const reason = runtime.ledger.get(first).deferred?.reason ?? '';
  return `${listIds(expired)} still held back by gates.push_when after gates.wait (${formatDuration(gates.waitMs)}; on_timeout: rollback): ${first}: ${reason}`;
}
