import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Lease, LockOwner, LockStore } from '../../src/lock/types.js';
import { rejection } from '../helpers/rejection.js';

/**
 * The behaviour every LockStore backend owes the rollout machine. A backend's test file calls
 * `describeLockStoreConformance` with a factory; the suite supplies the clock and the process table so
 * that expiry and dead owners are decided by the test, not by waiting.
 *
 * A backend whose leases expire on a clock the suite cannot advance (etcd expires them on the server)
 * declares `{ clock: 'real' }`. It still records times by the suite's clock, so timestamps are exact; but
 * where a case needs a short lease (a TTL of 1 s or less) to run out, the suite waits real time, and it
 * expects an expired lock to be gone from the table rather than listed as stale. Skipped for it, because
 * only a clock the test moves can show them:
 * - "a lease is held up to the very millisecond its TTL runs out": a server's expiry is not that sharp.
 */

// Function properties, not methods: stores take `clock.now` and `processes.isPidAlive` on their own.
export interface FakeClock {
  readonly now: () => number;
  readonly advance: (ms: number) => void;
}

export interface FakeProcesses {
  readonly isPidAlive: (pid: number) => boolean;
  readonly kill: (pid: number) => void;
}

export interface ConformanceContext {
  readonly clock: FakeClock;
  readonly processes: FakeProcesses;
}

/** The machine a store believes it runs on. */
export interface HostView {
  readonly host: string;
  readonly bootId: string;
}

export interface ConformanceHarness extends HostView {
  /** A store running on `host` under `bootId`, reading the context's clock and process table. */
  readonly store: LockStore;
  /** Another store over the same locks, running on the machine `view` (another host, or after a reboot). */
  open(view: HostView): Promise<LockStore>;
  /** Closes every store it opened and removes what it created. */
  dispose(): Promise<void>;
}

export function createFakeClock(start = Date.parse('2026-11-26T10:00:00Z')): FakeClock {
  let now = start;
  return {
    now: () => now,
    advance: (ms) => {
      now += ms;
    },
  };
}

export function createFakeProcesses(): FakeProcesses {
  const dead = new Set<number>();
  return { isPidAlive: (pid) => !dead.has(pid), kill: (pid) => void dead.add(pid) };
}

/** How the backend under test decides that a lease ran out. */
export type ExpiryClock =
  /** By the context's clock: the suite advances it, and an expired lock is listed as stale until reclaimed. */
  | { readonly clock: 'fake' }
  /**
   * On its own real clock, deleting an expired lock; `shortLeaseExpiryMs` after taking a lease of 1 s or
   * less, it has surely done so.
   */
  | { readonly clock: 'real'; readonly shortLeaseExpiryMs: number };

export function describeLockStoreConformance(
  name: string,
  makeHarness: (context: ConformanceContext) => Promise<ConformanceHarness>,
  expiry: ExpiryClock = { clock: 'fake' },
): void {
  const fakeClockOnly = it.skipIf(expiry.clock === 'real');

  describe(`LockStore conformance: ${name}`, () => {
    const KEY = 'aim_lock_config.conf';
    const TTL = 15_000;
    let clock: FakeClock;
    let processes: FakeProcesses;
    let harness: ConformanceHarness;
    let store: LockStore;

    const ownerOn = (view: HostView, pid: number, rollout: string): LockOwner => ({
      host: view.host,
      bootId: view.bootId,
      pid,
      rollout,
    });
    const owner = (pid: number, rollout: string): LockOwner => ownerOn(harness, pid, rollout);

    /** Moves the clock by `ms`, past the TTL of the short leases (1 s or less) a case took, so that they run out. */
    async function expireShortLeases(ms: number): Promise<void> {
      clock.advance(ms);
      if (expiry.clock === 'real') {
        await new Promise((resolve) => setTimeout(resolve, expiry.shortLeaseExpiryMs));
      }
    }

    /** What the table shows of locks whose TTL ran out: stale until reclaimed, or nothing once a server deleted them. */
    const expiredLocks = <T>(...shown: T[]): T[] => (expiry.clock === 'real' ? [] : shown);

    async function take(key: string, who: LockOwner, ttlMs = TTL): Promise<Lease> {
      const result = await store.acquire(key, who, { ttlMs, waitMs: 0 });
      if (!result.acquired) {
        throw new Error(`expected to acquire ${key}, held by ${result.holder.owner.rollout}`);
      }
      return result.lease;
    }

    beforeEach(async () => {
      clock = createFakeClock();
      processes = createFakeProcesses();
      harness = await makeHarness({ clock, processes });
      store = harness.store;
    });

    afterEach(async () => {
      await harness.dispose();
    });

    describe('acquire', () => {
      it('takes a free key and hands out a lease with a positive fence', async () => {
        const alice = owner(101, 'aim-v43-a');
        const result = await store.acquire(KEY, alice, { ttlMs: TTL, waitMs: 0 });
        expect(result.acquired).toBe(true);
        if (!result.acquired) return;
        expect(result.lease).toMatchObject({ key: KEY, owner: alice, ttlMs: TTL });
        expect(result.lease.fence).toBeGreaterThan(0);
      });

      it('returns the live holder of a busy key without waiting when waitMs is 0', async () => {
        const lease = await take(KEY, owner(101, 'aim-v43-a'));
        const result = await store.acquire(KEY, owner(102, 'aim-v44-b'), { ttlMs: TTL, waitMs: 0 });
        expect(result).toEqual({
          acquired: false,
          holder: expect.objectContaining({ key: KEY, owner: lease.owner, fence: lease.fence, state: 'held' }),
        });
      });

      it('keys are independent', async () => {
        await take('a.conf', owner(101, 'aim-v43-a'));
        await expect(take('b.conf', owner(102, 'aim-v44-b'))).resolves.toMatchObject({ key: 'b.conf' });
      });

      it('waits for a busy key and takes it once the holder releases it', async () => {
        const lease = await take(KEY, owner(101, 'aim-v43-a'));
        const started = performance.now();
        const waiting = store.acquire(KEY, owner(102, 'aim-v44-b'), { ttlMs: TTL, waitMs: 10_000 });
        await new Promise((resolve) => setTimeout(resolve, 150));
        await store.release(lease);
        const result = await waiting;
        expect(result.acquired).toBe(true);
        expect(performance.now() - started).toBeLessThan(5_000);
        if (result.acquired) expect(result.lease.fence).toBeGreaterThan(lease.fence);
      });

      it('gives up after waitMs and reports the holder', async () => {
        await take(KEY, owner(101, 'aim-v43-a'));
        const started = performance.now();
        const result = await store.acquire(KEY, owner(102, 'aim-v44-b'), { ttlMs: TTL, waitMs: 300 });
        expect(result.acquired).toBe(false);
        expect(performance.now() - started).toBeGreaterThanOrEqual(250);
      });

      it('rejects with the reason of an aborted signal while waiting', async () => {
        await take(KEY, owner(101, 'aim-v43-a'));
        const controller = new AbortController();
        const reason = new Error('operator aborted');
        setTimeout(() => controller.abort(reason), 100);
        const started = performance.now();
        await expect(
          store.acquire(KEY, owner(102, 'aim-v44-b'), { ttlMs: TTL, waitMs: 10_000, signal: controller.signal }),
        ).rejects.toBe(reason);
        expect(performance.now() - started).toBeLessThan(5_000);
      });

      it('takes over a stale key at once, whoever held it', async () => {
        const old = await take(KEY, owner(101, 'aim-v43-a'), 1_000);
        await expireShortLeases(1_001);
        const lease = await take(KEY, owner(102, 'aim-v44-b'));
        expect(lease.fence).toBeGreaterThan(old.fence);
      });

      it('lets the same process take its own live lease again, with a larger fence', async () => {
        const alice = owner(101, 'aim-v43-a');
        const first = await take(KEY, alice);
        const second = await take(KEY, alice);
        expect(second.fence).toBeGreaterThan(first.fence);
      });

      it('lets a resumed rollout (new pid) reclaim its own lease once the old process is dead', async () => {
        const first = await take(KEY, owner(101, 'aim-v43-a'));
        const resumed = owner(201, 'aim-v43-a');
        await expect(store.acquire(KEY, resumed, { ttlMs: TTL, waitMs: 0 })).resolves.toMatchObject({
          acquired: false,
        });
        processes.kill(101);
        const second = await take(KEY, resumed);
        expect(second.fence).toBeGreaterThan(first.fence);
      });
    });

    describe('fences', () => {
      it('grow strictly across acquire, release, reclaim, expiry and force release', async () => {
        const fences: number[] = [];
        const a = await take(KEY, owner(101, 'r1'));
        fences.push(a.fence);
        await store.release(a);

        const b = await take(KEY, owner(102, 'r2'));
        fences.push(b.fence);
        processes.kill(102);
        await store.reclaimStale();

        const c = await take(KEY, owner(103, 'r3'));
        fences.push(c.fence);
        await store.forceRelease(KEY, { force: true });

        const d = await take(KEY, owner(104, 'r4'), 1_000);
        fences.push(d.fence);
        await expireShortLeases(5_000);

        const e = await take(KEY, owner(105, 'r5'));
        fences.push(e.fence);
        expect(fences).toEqual([...fences].sort((x, y) => x - y));
        expect(new Set(fences).size).toBe(fences.length);
      });
    });

    describe('fence floors (minFence) and highestFence', () => {
      const takeAbove = async (who: LockOwner, minFence: number, on = store): Promise<Lease> => {
        const result = await on.acquire(KEY, who, { ttlMs: TTL, waitMs: 0, minFence });
        if (!result.acquired) throw new Error(`expected to acquire ${KEY}, held by ${result.holder.owner.rollout}`);
        return result.lease;
      };

      it('highestFence is 0 for a key never taken, then the last fence handed out, held or released', async () => {
        expect(await store.highestFence(KEY)).toBe(0);
        const a = await take(KEY, owner(101, 'r1'));
        expect(await store.highestFence(KEY)).toBe(a.fence);
        await store.release(a);
        expect(await store.highestFence(KEY)).toBe(a.fence);
        expect(await store.highestFence('other.conf')).toBe(0);
      });

      it('a minFence above the highest fence is the fence, and the next acquisition goes on from it', async () => {
        const a = await take(KEY, owner(101, 'r1'));
        await store.release(a);
        const floor = a.fence + 1_000;
        const b = await takeAbove(owner(102, 'r2'), floor);
        expect(b.fence).toBe(floor);
        expect(await store.highestFence(KEY)).toBe(floor);
        await store.release(b);
        const c = await take(KEY, owner(103, 'r3'));
        expect(c.fence).toBe(floor + 1);
      });

      it('a minFence at or below the highest fence is ignored', async () => {
        const a = await takeAbove(owner(101, 'r1'), 500);
        await store.release(a);
        const b = await takeAbove(owner(102, 'r2'), a.fence);
        expect(b.fence).toBe(a.fence + 1);
        await store.release(b);
        const c = await takeAbove(owner(103, 'r3'), 1);
        expect(c.fence).toBe(b.fence + 1);
      });

      it('a refused acquisition leaves the fences alone, whatever its minFence', async () => {
        const a = await take(KEY, owner(101, 'r1'));
        const minFence = a.fence + 1_000;
        const refused = await store.acquire(KEY, owner(102, 'r2'), { ttlMs: TTL, waitMs: 0, minFence });
        expect(refused).toMatchObject({ acquired: false, holder: { fence: a.fence } });
        expect(await store.highestFence(KEY)).toBe(a.fence);
      });

      it('a raised fence survives reclaim, force release, expiry and a store opened afresh', async () => {
        const first = await take(KEY, owner(100, 'r0'));
        await store.release(first);
        const floor = first.fence + 10_000;
        const a = await takeAbove(owner(101, 'r1'), floor);
        processes.kill(101);
        await store.reclaimStale();
        const b = await take(KEY, owner(102, 'r2'));
        expect(b.fence).toBe(floor + 1);
        await store.forceRelease(KEY, { force: true });
        const c = await take(KEY, owner(103, 'r3'), 1_000);
        expect(c.fence).toBe(floor + 2);
        await expireShortLeases(5_000);
        await store.close();

        const reopened = await harness.open({ host: harness.host, bootId: harness.bootId });
        expect(await reopened.highestFence(KEY)).toBe(floor + 2);
        const d = await takeAbove(owner(104, 'r4'), a.fence, reopened);
        expect(d.fence).toBe(floor + 3);
      });

      it('rejects a minFence that is not an integer from 0 up with a TypeError, taking nothing', async () => {
        for (const minFence of [-1, 1.5, Number.NaN, Number.MAX_SAFE_INTEGER + 1, '7' as unknown as number]) {
          const error = await store.acquire(KEY, owner(101, 'r1'), { ttlMs: TTL, waitMs: 0, minFence }).then(
            () => undefined,
            (reason: unknown) => reason,
          );
          expect(error, String(minFence)).toBeInstanceOf(TypeError);
          expect((error as Error).message).toMatch(/`minFence`/);
        }
        expect(await store.list()).toEqual([]);
        expect(await store.highestFence(KEY)).toBe(0);
      });

      it('rejects an empty key in highestFence with a TypeError', async () => {
        await expect(store.highestFence('')).rejects.toThrow(TypeError);
      });
    });

    describe('renew', () => {
      it('moves the heartbeat forward', async () => {
        const lease = await take(KEY, owner(101, 'aim-v43-a'));
        clock.advance(5_000);
        await store.renew(lease);
        const [status] = await store.list();
        expect(status?.heartbeatAt).toBe(clock.now());
        clock.advance(TTL - 1);
        expect((await store.list())[0]?.state).toBe('held');
      });

      it('throws E_LEASE_LOST once another owner took the key over', async () => {
        const lease = await take(KEY, owner(101, 'aim-v43-a'), 1_000);
        await expireShortLeases(2_000);
        await take(KEY, owner(102, 'aim-v44-b'));
        expect((await rejection(store.renew(lease))).code).toBe('E_LEASE_LOST');
      });

      it("throws E_LEASE_LOST for a lease with the holder's fence but another process as owner, and leaves the lock alone", async () => {
        const held = await take(KEY, owner(101, 'aim-v43-a'));
        const impostor = { ...held, owner: owner(102, 'aim-v43-a') };
        expect((await rejection(store.renew(impostor))).code).toBe('E_LEASE_LOST');
        await store.release(impostor);
        expect(await store.list()).toEqual([
          expect.objectContaining({ fence: held.fence, owner: held.owner, state: 'held' }),
        ]);
      });

      it('throws E_LEASE_LOST after the lease was released or reclaimed', async () => {
        const released = await take(KEY, owner(101, 'aim-v43-a'));
        await store.release(released);
        expect((await rejection(store.renew(released))).code).toBe('E_LEASE_LOST');

        const reclaimed = await take(KEY, owner(102, 'aim-v44-b'));
        processes.kill(102);
        await store.reclaimStale();
        expect((await rejection(store.renew(reclaimed))).code).toBe('E_LEASE_LOST');
      });
    });

    describe('release', () => {
      it('frees the key', async () => {
        const lease = await take(KEY, owner(101, 'aim-v43-a'));
        await store.release(lease);
        expect(await store.list()).toEqual([]);
      });

      it('is a no-op for a lease that no longer holds the key', async () => {
        const old = await take(KEY, owner(101, 'aim-v43-a'));
        await store.release(old);
        const current = await take(KEY, owner(102, 'aim-v44-b'));
        await store.release(old);
        await store.release(old);
        expect(await store.list()).toEqual([expect.objectContaining({ fence: current.fence, state: 'held' })]);
      });
    });

    describe('staleness', () => {
      fakeClockOnly('a lease is held up to the very millisecond its TTL runs out', async () => {
        await take(KEY, owner(101, 'aim-v43-a'), 1_000);
        clock.advance(1_000);
        expect((await store.list())[0]).toMatchObject({ state: 'held' });
        clock.advance(1);
        expect((await store.list())[0]).toMatchObject({ state: 'stale', staleReason: 'expired' });
      });

      it('a lease whose heartbeat is older than its TTL is stale (expired), from any host', async () => {
        await take(KEY, owner(101, 'aim-v43-a'), 1_000);
        await expireShortLeases(1_001);
        const expired = expiredLocks(expect.objectContaining({ key: KEY, state: 'stale', staleReason: 'expired' }));
        expect(await store.list()).toEqual(expired);
        const elsewhere = await harness.open({ host: 'ci-7', bootId: 'boot-ci-7' });
        expect(await elsewhere.list()).toEqual(expired);
      });

      it('a lease of a dead process on this host is stale (owner_dead); another host cannot tell', async () => {
        await take(KEY, owner(101, 'aim-v43-a'));
        processes.kill(101);
        expect((await store.list())[0]).toMatchObject({ state: 'stale', staleReason: 'owner_dead' });
        const elsewhere = await harness.open({ host: 'ci-7', bootId: 'boot-ci-7' });
        expect((await elsewhere.list())[0]).toMatchObject({ state: 'held' });
      });

      it('a lease taken before this host rebooted is stale (rebooted)', async () => {
        await take(KEY, owner(101, 'aim-v43-a'));
        const afterReboot = await harness.open({ host: harness.host, bootId: `${harness.bootId}-next` });
        expect((await afterReboot.list())[0]).toMatchObject({ state: 'stale', staleReason: 'rebooted' });
        expect((await store.list())[0]).toMatchObject({ state: 'held' });
      });
    });

    describe('reclaimStale', () => {
      it('frees only stale locks, returns them, and leaves live ones alone', async () => {
        const live = await take('live.conf', owner(101, 'live'));
        await take('expired.conf', owner(102, 'expired'), 1_000);
        await take('dead.conf', owner(103, 'dead'));
        await expireShortLeases(2_000);
        processes.kill(103);

        const freed = await store.reclaimStale();
        expect(freed.map((status) => [status.key, status.state, status.staleReason])).toEqual([
          ['dead.conf', 'stale', 'owner_dead'],
          ...expiredLocks(['expired.conf', 'stale', 'expired']),
        ]);
        expect(await store.list()).toEqual([expect.objectContaining({ key: 'live.conf', fence: live.fence })]);
        expect(await store.reclaimStale()).toEqual([]);
      });
    });

    describe('forceRelease', () => {
      it('E_LOCK_NOT_FOUND when nothing holds the key', async () => {
        expect((await rejection(store.forceRelease(KEY, { force: true }))).code).toBe('E_LOCK_NOT_FOUND');
      });

      it('refuses a live owner with E_LOCK_OWNER_LIVE unless forced', async () => {
        const lease = await take(KEY, owner(4123, 'aim-v43-x1y2'));
        const refused = await rejection(store.forceRelease(KEY, { force: false }));
        expect(refused.code).toBe('E_LOCK_OWNER_LIVE');
        expect(refused.message).toMatch(/aim-v43-x1y2/);
        expect(refused.message).toMatch(/4123/);
        expect(refused.message).toMatch(/--force/);

        const freed = await store.forceRelease(KEY, { force: true });
        expect(freed).toMatchObject({ key: KEY, fence: lease.fence, state: 'held' });
        expect(await store.list()).toEqual([]);
        expect((await rejection(store.renew(lease))).code).toBe('E_LEASE_LOST');
      });

      it('frees a stale lock without force', async () => {
        await take(KEY, owner(101, 'aim-v43-a'));
        processes.kill(101);
        await expect(store.forceRelease(KEY, { force: false })).resolves.toMatchObject({
          state: 'stale',
          staleReason: 'owner_dead',
        });
        expect(await store.list()).toEqual([]);
      });
    });

    describe('list', () => {
      it('shows every lock with owner, fence, times and state, sorted by key', async () => {
        const start = clock.now();
        const b = await take('b.conf', owner(102, 'r-b'));
        clock.advance(1_000);
        const a = await take('a.conf', owner(101, 'r-a'), 500);
        await expireShortLeases(600);
        expect(await store.list()).toEqual([
          ...expiredLocks({
            key: 'a.conf',
            owner: a.owner,
            fence: a.fence,
            acquiredAt: start + 1_000,
            heartbeatAt: start + 1_000,
            ttlMs: 500,
            state: 'stale',
            staleReason: 'expired',
          }),
          {
            key: 'b.conf',
            owner: b.owner,
            fence: b.fence,
            acquiredAt: start,
            heartbeatAt: start,
            ttlMs: TTL,
            state: 'held',
          },
        ]);
      });

      it('is shared by every store over the same locks', async () => {
        const other = await harness.open({ host: harness.host, bootId: harness.bootId });
        const lease = await take(KEY, owner(101, 'aim-v43-a'));
        expect(await other.list()).toEqual([expect.objectContaining({ fence: lease.fence })]);
        const result = await other.acquire(KEY, owner(102, 'aim-v44-b'), { ttlMs: TTL, waitMs: 0 });
        expect(result.acquired).toBe(false);
      });
    });
  });
}
