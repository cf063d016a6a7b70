import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { RolloutError } from '../../src/errors.js';
import { keepLease } from '../../src/lock/lease-keeper.js';
import type { Lease, LockStore } from '../../src/lock/types.js';

const lease: Lease = {
  key: 'aim_lock_config.conf',
  fence: 7,
  ttlMs: 3_000,
  owner: { host: 'ci-7', pid: 4123, rollout: 'aim-v43-x1y2', bootId: 'boot' },
};

/** A store whose renew runs the test's script; the keeper uses nothing else. */
function storeRenewingWith(renew: () => Promise<void>): LockStore & { renewals: number } {
  const unused = (): Promise<never> => Promise.reject(new Error('not used by the lease keeper'));
  const store = {
    renewals: 0,
    renew: async () => {
      store.renewals += 1;
      await renew();
    },
    acquire: unused,
    release: unused,
    list: unused,
    highestFence: unused,
    reclaimStale: unused,
    forceRelease: unused,
    close: unused,
  };
  return store;
}

describe('keepLease', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });

  afterEach(() => {
    vi.useRealTimers();
  });

  it('renews every third of the TTL by default', async () => {
    const store = storeRenewingWith(async () => undefined);
    const onLost = vi.fn();
    const keeper = keepLease(store, lease, { onLost });
    await vi.advanceTimersByTimeAsync(999);
    expect(store.renewals).toBe(0);
    await vi.advanceTimersByTimeAsync(1);
    expect(store.renewals).toBe(1);
    await vi.advanceTimersByTimeAsync(9_000);
    expect(store.renewals).toBe(10);
    await keeper.stop();
    await vi.advanceTimersByTimeAsync(10_000);
    expect(store.renewals).toBe(10);
    expect(onLost).not.toHaveBeenCalled();
  });

  it('calls onLost once and stops when the store says the lease is lost', async () => {
    const lost = new RolloutError('E_LEASE_LOST', 'taken over');
    const store = storeRenewingWith(() => Promise.reject(lost));
    const onLost = vi.fn();
    keepLease(store, lease, { onLost, intervalMs: 500 });
    await vi.advanceTimersByTimeAsync(5_000);
    expect(store.renewals).toBe(1);
    expect(onLost).toHaveBeenCalledTimes(1);
    expect(onLost).toHaveBeenCalledWith(lost);
  });

  it('rides out other failures, then gives the lease up once they last a whole TTL', async () => {
    const failure = new RolloutError('E_LOCK_STORE', 'disk full');
    let failing = true;
    const store = storeRenewingWith(() => (failing ? Promise.reject(failure) : Promise.resolve()));
    const onLost = vi.fn();
    keepLease(store, lease, { onLost });

    await vi.advanceTimersByTimeAsync(2_000);
    expect(store.renewals).toBe(2);
    failing = false;
    await vi.advanceTimersByTimeAsync(1_000);
    failing = true;
    // Last success at 3 s: failures at 4 s and 5 s are retried, the one at 6 s has lasted a TTL.
    await vi.advanceTimersByTimeAsync(2_000);
    expect(onLost).not.toHaveBeenCalled();
    await vi.advanceTimersByTimeAsync(1_000);
    expect(onLost).toHaveBeenCalledTimes(1);
    const error = onLost.mock.calls[0]?.[0] as RolloutError;
    expect(error.code).toBe('E_LEASE_LOST');
    expect(error.cause).toBe(failure);
    await vi.advanceTimersByTimeAsync(10_000);
    expect(store.renewals).toBe(6);
    expect(onLost).toHaveBeenCalledTimes(1);
  });

  it('never starts a renewal while one is in flight', async () => {
    let inFlight = 0;
    let most = 0;
    const store = storeRenewingWith(async () => {
      inFlight += 1;
      most = Math.max(most, inFlight);
      await new Promise((resolve) => setTimeout(resolve, 2_500));
      inFlight -= 1;
    });
    const keeper = keepLease(store, lease, { onLost: vi.fn(), intervalMs: 100 });
    await vi.advanceTimersByTimeAsync(10_000);
    expect(most).toBe(1);
    expect(store.renewals).toBe(4);
    const stopping = keeper.stop();
    await vi.advanceTimersByTimeAsync(2_500);
    await stopping;
    expect(inFlight).toBe(0);
  });

  it('stop waits for the renewal in flight and silences a loss it reports', async () => {
    let reject: (error: Error) => void = () => undefined;
    const store = storeRenewingWith(
      () =>
        new Promise<void>((_, fail) => {
          reject = fail;
        }),
    );
    const onLost = vi.fn();
    const keeper = keepLease(store, lease, { onLost });
    await vi.advanceTimersByTimeAsync(1_000);
    let stopped = false;
    const stopping = keeper.stop().then(() => {
      stopped = true;
    });
    await vi.advanceTimersByTimeAsync(0);
    expect(stopped).toBe(false);
    reject(new RolloutError('E_LEASE_LOST', 'released by hand'));
    await stopping;
    expect(onLost).not.toHaveBeenCalled();
  });

  it('is fresh while renewals succeed, and not once the clock jumps past the TTL (a frozen process) or the lease is lost', async () => {
    let clock = 0;
    const store = storeRenewingWith(async () => undefined);
    const keeper = keepLease(store, lease, { onLost: vi.fn(), now: () => clock });
    expect(keeper.isFresh()).toBe(true);
    clock = 2_999;
    expect(keeper.isFresh()).toBe(true);
    clock = 3_000;
    expect(keeper.isFresh()).toBe(false);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(keeper.isFresh()).toBe(true);
    await keeper.stop();

    const lostStore = storeRenewingWith(() => Promise.reject(new RolloutError('E_LEASE_LOST', 'taken over')));
    const lostKeeper = keepLease(lostStore, lease, { onLost: vi.fn(), now: () => clock });
    await vi.advanceTimersByTimeAsync(1_000);
    expect(lostKeeper.isFresh()).toBe(false);
  });

  it('refuses an interval that would let the lease expire between renewals', () => {
    const store = storeRenewingWith(async () => undefined);
    expect(() => keepLease(store, lease, { onLost: vi.fn(), intervalMs: 3_000 })).toThrow(/`intervalMs`.*3000/);
    expect(() => keepLease(store, lease, { onLost: vi.fn(), intervalMs: 0 })).toThrow(/`intervalMs`/);
  });
});
