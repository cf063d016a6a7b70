import { hostIdentity } from '../infra/host.js';
import { isPidAlive } from '../infra/process.js';
import type { RolloutLiveness } from '../report/rollout-view.js';
import type { RolloutRecord } from '../store/types.js';

/** A running rollout's record is refreshed this often (runner HEARTBEAT_MS); three misses mean it is gone. */
const HEARTBEAT_GRACE_MS = 6_000;

/** `running`, `ended`, or `gone`: its process died before it ended. */
export type Liveness = RolloutLiveness;

/**
 * Whether the process running a rollout is still there: on this host by its pid and boot id, on another
 * host by the age of its heartbeat. A rollout that is `gone` can be taken over with `rollout resume`.
 */
export function livenessOf(record: RolloutRecord, now: number): Liveness {
  if (record.result !== null) return 'ended';
  const here = hostIdentity();
  if (record.owner.host === here.host) {
    return record.owner.bootId === here.bootId && isPidAlive(record.owner.pid) ? 'running' : 'gone';
  }
  return now - record.heartbeat <= HEARTBEAT_GRACE_MS ? 'running' : 'gone';
}
