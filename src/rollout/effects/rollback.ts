import { forEachDrone } from '../../fleet/for-each-drone.js';
import { count, listIds } from '../../wording.js';
import { dronesOf, type RolloutRuntime } from '../context.js';
import type { CleanupOutcome } from '../machine-types.js';
import { concurrency } from './stage-support.js';

/**
 * Rolls back every drone a push was sent to, answered or not: the agent restores the previous version
 * if this rollout installed the current one, and answers with the current version otherwise. Asks
 * `mayWrite` before every rollback, as a push does: a lease that may be gone sends nothing more.
 */
export async function rollBack(
  runtime: RolloutRuntime,
  input: { readonly fence: number; readonly mayWrite: () => boolean },
  signal: AbortSignal,
): Promise<CleanupOutcome> {
  const { config } = runtime.plan;
  const ids = runtime.ledger.ids((p) => p.pushSent && !p.rolledBack);
  runtime.recorder.audit('rollback.begin', { drones: ids.length, fence: input.fence });
  await runtime.recorder.flushOrLog('rolling back without the state store');
  const failed: string[] = [];
  const hot: string[] = [];
  const unsent: string[] = [];
  let done = 0;
  await forEachDrone(dronesOf(runtime, ids), { concurrency: concurrency(runtime), signal }, async (drone, s) => {
    if (!input.mayWrite()) {
      unsent.push(drone.id);
      return 'continue';
    }
    const reply = await runtime.client.rollback(drone, config.file, runtime.rolloutId, input.fence, s);
    const progress = runtime.ledger.edit(drone.id);
    runtime.observer.progress('rolling back', ++done, ids.length);
    if (!reply.ok) {
      progress.lastError = reply.message;
      (reply.kind === 'hot' ? hot : failed).push(drone.id);
      runtime.recorder.audit('rollback', { drone: drone.id, ok: false, failure: reply.kind, error: reply.message });
      runtime.logger.error({ drone: drone.id, kind: reply.kind }, `rollback failed: ${reply.message}`);
      return 'continue';
    }
    const { version, sha256 } = reply.body;
    runtime.recorder.audit('rollback', { drone: drone.id, ok: true, version, restored: reply.body.restored ?? null });
    progress.now = version === null || sha256 === null ? null : runtime.ledger.ref(version, sha256);
    const back =
      progress.before === null ? reply.body.sha256 !== config.sha256 : reply.body.sha256 === progress.before.sha256;
    if (back) {
      progress.rolledBack = true;
      progress.lastError = null;
    } else {
      progress.lastError =
        version === null ? `left without ${config.file} after rollback` : `still on ${version} after rollback`;
      failed.push(drone.id);
    }
    return 'continue';
  });
  runtime.logger.info(
    { drones: ids.length, failed: failed.length, hot: hot.length, unsent: unsent.length },
    'rolled back',
  );
  const notes: string[] = [];
  if (hot.length > 0) notes.push(`HOT lock mismatch during rollback on ${listIds(hot)}: left on the new config`);
  if (failed.length > 0)
    notes.push(`rollback did not complete on ${count(failed.length, 'drone')}: ${listIds(failed)}`);
  if (unsent.length > 0)
    notes.push(
      `no rollback sent to ${count(unsent.length, 'drone')} once the lease could no longer be trusted: ${listIds(unsent)}`,
    );
  const incomplete = [...hot, ...failed, ...unsent];
  return notes.length === 0 ? { incomplete } : { incomplete, hot, note: notes.join('; ') };
}
