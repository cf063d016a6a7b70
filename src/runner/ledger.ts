import type { VersionRef } from '../fleet/protocol.js';

/** What the rollout did to one drone. Kept small: a 10,000-drone rollout holds 10,000 of these. */
export interface DroneProgress {
  /** The version the drone had when it was paused (or first seen). */
  before: VersionRef | null;
  /** The version the drone answered with last. */
  now: VersionRef | null;
  /** A pause may have landed (sent, and not refused outright): resume it. */
  pauseSent: boolean;
  /** A push may have landed (sent, and not refused outright): roll it back on abort. */
  pushSent: boolean;
  rolledBack: boolean;
  lastError: string | null;
}

export type DroneState = 'updated' | 'rolled_back' | 'unchanged' | 'failed';

/** Per-drone progress of one rollout, the ground truth for rollback, resume and the final report. */
export class Ledger {
  readonly #drones = new Map<string, DroneProgress>();

  get(id: string): DroneProgress {
    let progress = this.#drones.get(id);
    if (!progress) {
      progress = { before: null, now: null, pauseSent: false, pushSent: false, rolledBack: false, lastError: null };
      this.#drones.set(id, progress);
    }
    return progress;
  }

  /** Ids whose progress matches, in the order drones were first seen. */
  ids(predicate: (progress: DroneProgress) => boolean): string[] {
    const ids: string[] = [];
    for (const [id, progress] of this.#drones) if (predicate(progress)) ids.push(id);
    return ids;
  }

  /** Where the drone ended: `failed` if the rollout left it where it should not be (`attention`). */
  stateOf(id: string, newSha256: string, attention: ReadonlySet<string>): DroneState {
    if (attention.has(id)) return 'failed';
    const progress = this.#drones.get(id);
    if (progress?.rolledBack) return 'rolled_back';
    return progress?.now?.sha256 === newSha256 ? 'updated' : 'unchanged';
  }
}
