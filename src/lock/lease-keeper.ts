import { RolloutError } from '../errors.js';
import { assertPositiveInteger } from '../infra/argument-checks.js';
import { assertLease } from './arguments.js';
import { formatDuration } from './describe.js';
import type { Lease, LockStore } from './types.js';

export interface KeepLeaseOptions {
  /**
   * Called at most once, when the lease is gone; the keeper has stopped by then. It must not throw: it
   * runs from a timer, where nobody could catch it.
   */
  readonly onLost: (error: RolloutError) => void;
  /** Time between the end of one renewal and the start of the next. Below the TTL. @default lease.ttlMs / 3 */
  readonly intervalMs?: number;
  /** The clock that decides when failed renewals have outlasted the TTL. @default Date.now */
  readonly now?: () => number;
}

export interface LeaseKeeper {
  /** Stops renewing and waits for a renewal in flight; `onLost` is not called afterwards. */
  stop(): Promise<void>;
  /**
   * Whether the lease is certainly still ours by this process's clock: not lost, and a renewal that
   * succeeded began less than a TTL ago. A process frozen past its TTL (SIGSTOP, a laptop lid) wakes
   * with this false before its next renewal can tell it the lease is gone, so it must not write.
   */
  isFresh(): boolean;
}

/**
 * Renews `lease` until stopped. The lease counts as lost when the store says so (`E_LEASE_LOST`) or when
 * renewals have failed for a whole TTL since the last success: by then another owner may reclaim it.
 * Transient failures before that are retried at the next interval.
 */
export function keepLease(store: LockStore, lease: Lease, options: KeepLeaseOptions): LeaseKeeper {
  assertLease(lease);
  const intervalMs = options.intervalMs ?? Math.max(1, Math.floor(lease.ttlMs / 3));
  assertPositiveInteger('intervalMs', intervalMs);
  if (intervalMs >= lease.ttlMs) {
    throw new TypeError(
      `Expected \`intervalMs\` to be below the lease's TTL (${lease.ttlMs}), got \`${intervalMs}\` (number)`,
    );
  }
  return new Keeper(store, lease, intervalMs, options.onLost, options.now ?? Date.now);
}

class Keeper implements LeaseKeeper {
  readonly #store: LockStore;
  readonly #lease: Lease;
  readonly #intervalMs: number;
  readonly #onLost: (error: RolloutError) => void;
  readonly #now: () => number;
  #lastRenewedAt: number;
  #timer: NodeJS.Timeout | undefined;
  #renewal: Promise<void> | undefined;
  #stopped = false;
  #lost = false;

  constructor(
    store: LockStore,
    lease: Lease,
    intervalMs: number,
    onLost: (error: RolloutError) => void,
    now: () => number,
  ) {
    this.#store = store;
    this.#lease = lease;
    this.#intervalMs = intervalMs;
    this.#onLost = onLost;
    this.#now = now;
    this.#lastRenewedAt = now();
    this.#schedule();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#renewal;
  }

  isFresh(): boolean {
    return !this.#lost && this.#now() - this.#lastRenewedAt < this.#lease.ttlMs;
  }

  /** The next renewal is scheduled only once the previous one settled, so renewals never overlap. */
  #schedule(): void {
    this.#timer = setTimeout(() => {
      this.#renewal = this.#renew();
    }, this.#intervalMs);
  }

  async #renew(): Promise<void> {
    // The lease is good for a TTL from when the renewal was sent, not from when its answer came back.
    const sentAt = this.#now();
    try {
      await this.#store.renew(this.#lease);
      this.#lastRenewedAt = sentAt;
    } catch (error) {
      if (this.#stopped) {
        return;
      }
      if (error instanceof RolloutError && error.code === 'E_LEASE_LOST') {
        this.#lose(error);
        return;
      }
      const failingFor = this.#now() - this.#lastRenewedAt;
      if (failingFor >= this.#lease.ttlMs) {
        this.#lose(
          new RolloutError(
            'E_LEASE_LOST',
            `Rollout ${this.#lease.owner.rollout} could not renew its lease on ${this.#lease.key} ` +
              `(fence ${this.#lease.fence}) for ${formatDuration(failingFor)}, longer than its TTL: ` +
              (error instanceof Error ? error.message : String(error)),
            { cause: error },
          ),
        );
        return;
      }
    }
    if (!this.#stopped) {
      this.#schedule();
    }
  }

  #lose(error: RolloutError): void {
    this.#stopped = true;
    this.#lost = true;
    this.#onLost(error);
  }
}
