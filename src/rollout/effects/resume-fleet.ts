import { forEachDrone } from '../../fleet/for-each-drone.js';
import { count, listIds } from '../../wording.js';
import { dronesOf, type RolloutRuntime } from '../context.js';
import type { CleanupOutcome } from '../machine-types.js';
import { concurrency } from './stage-support.js';

/**
 * Resumes every drone a pause was sent to; drones that stay paused are listed for a human, with what
 * happened to them: a drone that never answered at all was never changed, only perhaps paused.
 */
export async function resumeFleet(runtime: RolloutRuntime, signal: AbortSignal): Promise<CleanupOutcome> {
  const ids = runtime.ledger.ids((p) => p.pauseSent);
  const incomplete: string[] = [];
  let done = 0;
  await forEachDrone(dronesOf(runtime, ids), { concurrency: concurrency(runtime), signal }, async (drone, s) => {
    const reply = await runtime.client.resume(drone, runtime.rolloutId, s);
    runtime.observer.progress('resuming', ++done, ids.length);
    if (!reply.ok) {
      runtime.ledger.edit(drone.id).lastError = reply.message;
      incomplete.push(drone.id);
      runtime.recorder.audit('resume', { drone: drone.id, ok: false, failure: reply.kind, error: reply.message });
      runtime.logger.error({ drone: drone.id, kind: reply.kind }, `resume failed: ${reply.message}`);
    } else {
      runtime.ledger.edit(drone.id).pauseSent = false;
      runtime.recorder.audit('resume', { drone: drone.id, ok: true, state: reply.body.state });
    }
    return 'continue';
  });
  if (incomplete.length === 0) return { incomplete };
  const neverAnswered = (id: string) => runtime.ledger.get(id).before === null && runtime.ledger.get(id).now === null;
  const silent = incomplete.filter(neverAnswered);
  const untouched = incomplete.filter((id) => !runtime.ledger.get(id).pushSent && !neverAnswered(id));
  const notes = [
    `${count(incomplete.length, 'drone')} could not be resumed and may still be paused: ${listIds(incomplete)}`,
  ];
  if (silent.length > 0)
    notes.push(
      `${count(silent.length, 'drone')} of them never answered this rollout at all (unreachable from the pause on): ${listIds(silent)}`,
    );
  if (untouched.length > 0)
    notes.push(`${count(untouched.length, 'drone')} of them never got the new config: ${listIds(untouched)}`);
  return { incomplete, note: notes.join('; ') };
}
