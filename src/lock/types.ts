/** The orchestrator's config lock: one lease per key across every orchestrator sharing a store. */

export interface LockOwner {
  readonly host: string;
  readonly pid: number;
  readonly rollout: string;
  /** The owner host's boot id: a reboot makes every lease taken before it stale. */
  readonly bootId: string;
}

export interface LockRecord {
  readonly key: string;
  readonly owner: LockOwner;
  /** Grows with every acquisition of the key, never reused, never lowered. */
  readonly fence: number;
  /** Epoch milliseconds. */
  readonly acquiredAt: number;
  readonly heartbeatAt: number;
  readonly ttlMs: number;
}

export type StaleReason = 'rebooted' | 'owner_dead' | 'expired';

export interface HeldLock extends LockRecord {
  readonly state: 'held';
  readonly staleReason?: undefined;
}

export interface StaleLock extends LockRecord {
  readonly state: 'stale';
  readonly staleReason: StaleReason;
}

export type LockStatus = HeldLock | StaleLock;

/** What a holder keeps: enough to renew, write with the fence, and release. */
export interface Lease {
  readonly key: string;
  readonly fence: number;
  readonly owner: LockOwner;
  readonly ttlMs: number;
}

export type AcquireResult =
  { readonly acquired: true; readonly lease: Lease } | { readonly acquired: false; readonly holder: LockStatus };

export interface AcquireOptions {
  readonly ttlMs: number;
  /** How long to wait for a busy lock before giving up; 0 tries once. */
  readonly waitMs: number;
  readonly signal?: AbortSignal;
  /**
   * The lowest fence this acquisition may hand out: the orchestrator passes one above the highest fence
   * the paused fleet reports, because a drone keeps one highest fence per file whichever store handed it
   * out. The fence is at least this and, as always, above every fence the store handed out for the key;
   * the store remembers it, so later fences are larger still.
   * @default 0
   */
  readonly minFence?: number;
}

export interface LockStore {
  /** Takes the key if it is free or stale (reclaiming it); never lowers a fence. */
  acquire(key: string, owner: LockOwner, options: AcquireOptions): Promise<AcquireResult>;
  /** Renews the heartbeat; throws a RolloutError `E_LEASE_LOST` when the lease is gone or held by another. */
  renew(lease: Lease): Promise<void>;
  /** Frees the key if this lease still holds it; a no-op otherwise. */
  release(lease: Lease): Promise<void>;
  list(): Promise<LockStatus[]>;
  /** The largest fence this store has handed out for the key, held or not; 0 if it never did. */
  highestFence(key: string): Promise<number>;
  /** Frees every stale lock and returns what it freed. */
  reclaimStale(): Promise<StaleLock[]>;
  /** Frees a lock by hand: refuses a live owner (`E_LOCK_OWNER_LIVE`) unless `force`; `E_LOCK_NOT_FOUND` if free. */
  forceRelease(key: string, options: { readonly force: boolean }): Promise<LockStatus>;
  close(): Promise<void>;
}
