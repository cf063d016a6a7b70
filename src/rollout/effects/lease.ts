import { RolloutError } from '../../errors.js';
import { describeHolder } from '../../lock/describe.js';
import { keepLease, type LeaseKeeper } from '../../lock/lease-keeper.js';
import type { Lease, LockOwner, LockStore } from '../../lock/types.js';
import type { RolloutRuntime } from '../context.js';
import type { LockOutcome } from '../machine-types.js';

/**
 * The lease a resumed rollout re-took before its machine restarted, and whether it really holds it: a
 * lease another rollout had taken by then is never written with.
 */
export interface ResumedLease {
  readonly lease: Lease | null;
  readonly taken: boolean;
}

/** What a clean-up may write with: a lease it holds (`kept` by the running keeper), or why it holds none. */
export type CleanupLease = { readonly lease: Lease; readonly kept: boolean } | { readonly notHeld: string };

/**
 * The rollout's hold on the config lock: taking it above every fence the fleet has seen, keeping it alive,
 * checking it before a clean-up writes, and giving it back.
 */
export class RolloutLease {
  readonly #runtime: RolloutRuntime;
  readonly #locks: LockStore;
  readonly #owner: LockOwner;
  #lease: Lease | null;
  /** False while the lease held is one this process has not confirmed it owns (a resume that found it taken). */
  #confirmed: boolean;
  /** The highest fence the paused fleet reported. */
  #fleetFence = 0;
  #waited = false;
  #keeper: LeaseKeeper | null = null;

  constructor(runtime: RolloutRuntime, locks: LockStore, owner: LockOwner, resumed: ResumedLease | null) {
    this.#runtime = runtime;
    this.#locks = locks;
    this.#owner = owner;
    this.#lease = resumed?.lease ?? null;
    this.#confirmed = resumed === null || resumed.taken;
  }

  /** Whether the rollout waited for another holder: that holder may have changed drones since the pause. */
  get waitedForLock(): boolean {
    return this.#waited;
  }

  get confirmed(): boolean {
    return this.#confirmed;
  }

  /** Whether the running keeper still vouches for the lease by this process's clock. */
  isFresh(): boolean {
    return this.#keeper?.isFresh() ?? false;
  }

  noteFleetFence(fence: number): void {
    this.#fleetFence = Math.max(this.#fleetFence, fence);
  }

  /**
   * The lease the rollout holds. A resumed rollout re-took its lease with a larger fence, while the
   * steps restored from its snapshot still carry the old one: the lease held is what counts.
   */
  heldFor(fence: number): Lease {
    if (!this.#lease || this.#lease.fence < fence)
      throw new Error(`no lease with fence ${fence} is held by this rollout`);
    return this.#lease;
  }

  async acquire(signal: AbortSignal): Promise<LockOutcome> {
    const { spec, config } = this.#runtime.plan;
    // Above every fence the paused fleet reports, whichever store hands it out and whatever it saw before.
    const options = { ttlMs: spec.lock.ttlMs, signal, minFence: this.#fleetFence + 1 };
    let result = await this.#locks.acquire(config.file, this.#owner, { ...options, waitMs: 0 });
    if (!result.acquired && spec.lock.waitMs > 0) {
      this.#waited = true;
      result = await this.#locks.acquire(config.file, this.#owner, { ...options, waitMs: spec.lock.waitMs });
    }
    if (!result.acquired) {
      const holder = describeHolder(result.holder, this.#runtime.now());
      this.#runtime.recorder.audit('lock.busy', { key: config.file, holder });
      return { acquired: false, holder };
    }
    if (signal.aborted) {
      // The rollout stopped waiting (abort, SIGINT) while the store granted the lease: give it back now.
      await this.#locks.release(result.lease);
      return { acquired: false, holder: 'not taken: the rollout was stopped while acquiring it' };
    }
    this.#lease = result.lease;
    this.#confirmed = true;
    this.#runtime.recorder.audit('lock.acquired', { key: result.lease.key, fence: result.lease.fence });
    this.#runtime.logger.info({ key: result.lease.key, fence: result.lease.fence }, 'config lock acquired');
    return { acquired: true, fence: result.lease.fence };
  }

  /** Renews the lease until the returned function is called; `onLost` is told once if it is lost. */
  keep(fence: number, onLost: (reason: string) => void): () => void {
    const key = this.#runtime.plan.config.file;
    const kept = keepLease(this.#locks, this.heldFor(fence), {
      onLost: (error) => {
        this.#runtime.recorder.audit('lock.lost', { key, fence, reason: error.message });
        onLost(error.message);
      },
    });
    this.#keeper = kept;
    return () => {
      if (this.#keeper === kept) this.#keeper = null;
      void kept.stop();
    };
  }

  /** Keeps a lease alive while a clean-up writes with it, when no machine keeper does. */
  keepForCleanup(lease: Lease): LeaseKeeper {
    const key = this.#runtime.plan.config.file;
    return keepLease(this.#locks, lease, {
      onLost: (error) => this.#runtime.recorder.audit('lock.lost', { key, fence: lease.fence, reason: error.message }),
    });
  }

  /**
   * The lease a rollback may write with, checked with the store first: a run that was frozen, or whose
   * renewals failed, may have lost its lock to another rollout, and then it must send nothing more to
   * any drone. A lease that merely expired, with nobody holding the lock now, is re-taken with a larger
   * fence. A store that cannot answer leaves the lease usable only while it is fresh by this process's
   * clock (renewed less than a TTL ago).
   */
  async forCleanup(fence: number): Promise<CleanupLease> {
    const { spec, config } = this.#runtime.plan;
    const current = this.heldFor(fence);
    try {
      await this.#locks.renew(current);
      return { lease: current, kept: this.isFresh() };
    } catch (error) {
      if (!(error instanceof RolloutError && error.code === 'E_LEASE_LOST')) {
        if (this.isFresh()) return { lease: current, kept: true };
        return this.#giveUp(
          `the lock store cannot confirm this rollout still holds the config lock (${errorText(error)})`,
        );
      }
    }
    let retaken;
    try {
      const minFence = Math.max(current.fence, this.#fleetFence) + 1;
      retaken = await this.#locks.acquire(config.file, this.#owner, { ttlMs: spec.lock.ttlMs, waitMs: 0, minFence });
    } catch (error) {
      return this.#giveUp(
        `the lease was lost and the lock store cannot be asked who holds it now (${errorText(error)})`,
      );
    }
    if (!retaken.acquired) {
      return this.#giveUp(`the config lock is now ${describeHolder(retaken.holder, this.#runtime.now())}`);
    }
    const lease = retaken.lease;
    this.#lease = lease;
    this.#confirmed = true;
    this.#runtime.recorder.audit('lock.retaken', { key: lease.key, fence: lease.fence, previous: current.fence });
    this.#runtime.logger.warn(
      { key: lease.key, fence: lease.fence },
      'lease lost with nobody holding the lock: re-taken with a larger fence to roll back',
    );
    return { lease, kept: false };
  }

  async release(fence: number): Promise<void> {
    const held = this.heldFor(fence);
    await this.#locks.release(held);
    this.#lease = null;
    const key = this.#runtime.plan.config.file;
    this.#runtime.recorder.audit('lock.released', { key, fence: held.fence });
    this.#runtime.logger.info({ key, fence: held.fence }, 'config lock released');
  }

  #giveUp(why: string): { notHeld: string } {
    const key = this.#runtime.plan.config.file;
    this.#lease = null;
    this.#runtime.recorder.audit('lock.given_up', { key, reason: why });
    this.#runtime.logger.error({ key }, `${why}: no rollback is sent`);
    return { notHeld: why };
  }
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
