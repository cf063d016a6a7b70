import type { VersionRef } from '../protocol/v1.js';
import { VersionRefs } from '../infra/version-refs.js';

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
  /** Its trial of the new config lapsed unconfirmed and it went back by itself (absent in older records). */
  autoReverted?: boolean;
  /** On the new config on trial, and no confirm of it has been answered yet (absent in older records). */
  unconfirmed?: boolean;
  /**
   * Held back by the operational gate (`gates.push_when`) and not pushed yet: why, and until when (epoch
   * ms) it may still be pushed. Cleared by its push (absent in older records).
   */
  deferred?: DeferredPush;
}

export interface DeferredPush {
  readonly until: number;
  readonly reason: string;
}

export type DroneState = 'updated' | 'rolled_back' | 'unchanged' | 'failed' | 'auto_reverted' | 'deferred';

/**
 * A new record of a drone not touched yet, as a literal: V8 keeps its six fields inside the object. A copy
 * of a frozen object by spread gets a second, out-of-object array for them: about 40 bytes more a drone,
 * 4 MB at 100,000 drones.
 */
function untouched(): DroneProgress {
  return { before: null, now: null, pauseSent: false, pushSent: false, rolledBack: false, lastError: null };
}

/** A drone the rollout has not touched yet. */
export const UNTOUCHED: Readonly<DroneProgress> = Object.freeze(untouched());

/**
 * Per-drone progress of one rollout, the ground truth for rollback, resume and the final report.
 * Changes go through `edit`, which remembers the drone so only changed drones are persisted.
 */
export class Ledger {
  readonly #drones = new Map<string, DroneProgress>();
  #dirty = new Set<string>();
  readonly #versions = new VersionRefs();

  /** The shared VersionRef of this version and sha256 (see VersionRefs). */
  ref(version: string, sha256: string): Readonly<VersionRef> {
    return this.#versions.ref(version, sha256);
  }

  /** `ref` of an answer's version, or null. */
  refOf(answered: Readonly<VersionRef> | null): Readonly<VersionRef> | null {
    return this.#versions.refOf(answered);
  }

  get(id: string): Readonly<DroneProgress> {
    return this.#drones.get(id) ?? UNTOUCHED;
  }

  /**
   * The drone's progress, to change in place; it is persisted with the next `takeChanged`. Call it again
   * after an await: once a flush has taken the changes, changes through an older reference are not seen.
   */
  edit(id: string): DroneProgress {
    let progress = this.#drones.get(id);
    if (!progress) {
      progress = untouched();
      this.#drones.set(id, progress);
    }
    this.#dirty.add(id);
    return progress;
  }

  /** Progress as persisted by an earlier process (resume). */
  load(records: Readonly<Record<string, Readonly<DroneProgress>>>): void {
    for (const [id, record] of Object.entries(records))
      this.#drones.set(id, { ...record, before: this.refOf(record.before), now: this.refOf(record.now) });
  }

  /** Whether a drone changed since the last `takeChanged`. */
  get hasChanged(): boolean {
    return this.#dirty.size > 0;
  }

  /** The drones changed since the last call, and forgets them. */
  takeChanged(): Record<string, Readonly<DroneProgress>> {
    const changed: Record<string, Readonly<DroneProgress>> = {};
    for (const id of this.#dirty) changed[id] = { ...(this.#drones.get(id) ?? UNTOUCHED) };
    this.#dirty = new Set();
    return changed;
  }

  /** Ids whose progress matches, in the order drones were first seen. */
  ids(predicate: (progress: Readonly<DroneProgress>) => boolean): string[] {
    const ids: string[] = [];
    for (const [id, progress] of this.#drones) if (predicate(progress)) ids.push(id);
    return ids;
  }

  /**
   * Where the drone ended: `deferred` if the operational gate kept it from its push and the rollout ended
   * for it on that (`attention`; after a rollback it is only `unchanged`), `failed` if the rollout left it where it should not be (`attention`), and
   * `updated` only if this rollout pushed to it.
   */
  stateOf(id: string, newSha256: string, attention: ReadonlySet<string>): DroneState {
    const progress = this.get(id);
    if (progress.autoReverted === true && progress.now?.sha256 !== newSha256) return 'auto_reverted';
    if (attention.has(id)) return progress.deferred !== undefined && !progress.pushSent ? 'deferred' : 'failed';
    if (progress.rolledBack) return 'rolled_back';
    return progress.pushSent && progress.now?.sha256 === newSha256 ? 'updated' : 'unchanged';
  }
}
