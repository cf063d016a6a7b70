import type { RolloutRuntime } from '../context.js';
import type { CleanupOutcome } from '../machine-types.js';

/** Targeted drones that do not run the new config (a push that failed within the abort budget). */
export async function verifyPromotion(runtime: RolloutRuntime): Promise<CleanupOutcome> {
  const { sha256 } = runtime.plan.config;
  const incomplete = runtime.plan.drones.map((d) => d.id).filter((id) => runtime.ledger.get(id).now?.sha256 !== sha256);
  return { incomplete };
}
