import type { RolloutRuntime } from '../context.js';
import type { CleanupOutcome } from '../machine-types.js';

/**
 * Targeted drones that do not run the new config for good: a push that failed within the abort budget,
 * a trial whose confirm went unanswered (it reverts at its deadline), or a drone the operational gate
 * held back until its wait ran out (`deferred`, listed apart).
 */
export async function verifyPromotion(runtime: RolloutRuntime): Promise<CleanupOutcome> {
  const { sha256 } = runtime.plan.config;
  const incomplete = runtime.plan.drones
    .map((d) => d.id)
    .filter((id) => {
      const progress = runtime.ledger.get(id);
      return progress.now?.sha256 !== sha256 || progress.unconfirmed === true;
    });
  const deferred = incomplete.filter((id) => runtime.ledger.get(id).deferred !== undefined);
  return deferred.length === 0 ? { incomplete } : { incomplete, deferred };
}
