import { GRPCDeadlineExceededError, KVClient } from 'etcd3';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Lease, LockOwner, LockStore } from '../../src/lock/types.js';
import { etcdAvailable } from '../helpers/etcd.js';
import { useEtcd } from '../helpers/etcd-suite.js';
import { rejection } from '../helpers/rejection.js';
import { buildChildModule } from '../helpers/child-module.js';
import { BOOT_ID, HOST } from './embedded-harness.js';
import { etcdStores, type EtcdStores } from './etcd-harness.js';
import { expectFencesAboveFloors, raceForFences } from './fence-race.js';

/** The etcd store's fence counter: old data, a damaged counter, many processes, and answers etcd sent too late. */

const KEY = 'aim_lock_config.conf';
const alice: LockOwner = { host: HOST, bootId: BOOT_ID, pid: 101, rollout: 'aim-v43-a' };
const bob: LockOwner = { host: HOST, bootId: BOOT_ID, pid: 102, rollout: 'aim-v44-b' };

interface StoredLock {
  readonly createRevision: number;
  readonly lease: string;
  readonly value: Record<string, unknown>;
}

/** The transaction that takes a lock: the only one that puts a key under an etcd lease and a fence counter. */
const isTake = (request: Parameters<KVClient['txn']>[0]): boolean =>
  (request.success ?? []).filter((op) => op.request_put).length === 2;

describe.skipIf(!etcdAvailable())('etcd lock store: fence counters', () => {
  const etcd = useEtcd();
  let stores: EtcdStores;
  let store: LockStore;

  beforeEach(() => {
    // The owners' pids are made up: on this host they would be dead, and their locks stale.
    stores = etcdStores(etcd.server.endpoint, { isPidAlive: () => true });
    store = stores.open();
  });

  afterEach(async () => {
    vi.restoreAllMocks();
    await stores.closeAll();
  });

  const lockKey = (): string => `${stores.prefix}locks/${KEY}`;
  const read = async (): Promise<StoredLock | undefined> => {
    const kv = (await etcd.inspector.kv.range({ key: Buffer.from(lockKey()) })).kvs[0];
    if (kv === undefined) return undefined;
    return { createRevision: Number(kv.create_revision), lease: kv.lease, value: JSON.parse(kv.value.toString()) };
  };
  const leaseSecondsLeft = async (id: string | undefined): Promise<number> =>
    Number((await etcd.inspector.leaseClient.leaseTimeToLive({ ID: id ?? '0' })).TTL);

  async function take(who: LockOwner, on = store): Promise<Lease> {
    const result = await on.acquire(KEY, who, { ttlMs: 15_000, waitMs: 0 });
    if (!result.acquired) throw new Error(`expected to acquire ${KEY}, held by ${result.holder.owner.rollout}`);
    return result.lease;
  }

  it('reads a lock from before counters: its create revision is its fence; later fences pass every revision', async () => {
    const etcdLease = etcd.inspector.lease(15, { autoKeepAlive: false });
    const leaseId = await etcdLease.grant();
    const now = Date.now();
    const legacyValue = { owner: alice, acquiredAt: now, heartbeatAt: now, ttlMs: 15_000, leaseId };
    await etcdLease.put(lockKey()).value(JSON.stringify(legacyValue));
    const legacyFence = (await read())?.createRevision ?? 0;
    expect(await store.list()).toEqual([
      expect.objectContaining({ key: KEY, owner: alice, fence: legacyFence, state: 'held' }),
    ]);
    expect(await store.highestFence(KEY)).toBe(legacyFence);

    const lease: Lease = { key: KEY, fence: legacyFence, owner: alice, ttlMs: 15_000 };
    await store.renew(lease);
    await store.release(lease);
    expect(await read()).toBeUndefined();

    // Before counters a fence was a create revision: any revision up to now may have been handed out for this key.
    const revision = Number((await etcd.inspector.put(`${stores.prefix}unrelated`).value('x').exec()).header.revision);
    expect((await take(bob)).fence).toBeGreaterThan(revision);
  });

  it('reports a counter it cannot read as E_LOCK_STORE naming its key, and takes nothing', async () => {
    await etcd.inspector.put(`${stores.prefix}fences/${KEY}`).value('seven');
    // One call at a time: a second promise made up front would reject before anything awaits it.
    for (const operation of [
      () => store.acquire(KEY, alice, { ttlMs: 15_000, waitMs: 0 }),
      () => store.highestFence(KEY),
    ]) {
      const error = await rejection(operation());
      expect(error.code).toBe('E_LOCK_STORE');
      expect(error.message).toContain(`${stores.prefix}fences/${KEY}`);
    }
    expect(await read()).toBeUndefined();
  });

  it('4 processes take one key in turn, floors of their own: fences grow, none shared or below its floor', async () => {
    const lockModule = await buildChildModule('src/lock');
    try {
      const holds = await raceForFences(lockModule.dir, `etcd:${etcd.server.endpoint}:${stores.prefix}`, 4, 15);
      expectFencesAboveFloors(holds, 60);
      expect(await store.highestFence('fence.conf')).toBe(holds.at(-1)?.fence);
    } finally {
      await lockModule.remove();
    }
  });

  describe('an acquire that etcd applied but answered too late', () => {
    it('sent again (etcd3 retries by default): it holds the lock once, with a fence above the lost one', async () => {
      // eslint-disable-next-line @typescript-eslint/unbound-method -- the original, for the mock to call with its own client as `this` (txn.call(this, …))
      const txn = KVClient.prototype.txn;
      let lostFence = 0;
      vi.spyOn(KVClient.prototype, 'txn').mockImplementation(async function (this: KVClient, request, options) {
        if (lostFence === 0 && isTake(request)) {
          await txn.call(this, request, options);
          lostFence = Number(await etcd.inspector.get(`${stores.prefix}fences/${KEY}`).string());
        }
        return txn.call(this, request, options);
      });
      const lease = await take(alice);
      vi.restoreAllMocks();

      expect(lostFence).toBeGreaterThan(0);
      expect(lease.fence).toBe(lostFence + 1);
      const stored = await read();
      expect(stored?.value).toMatchObject({ owner: alice, fence: lease.fence });
      expect(await leaseSecondsLeft(stored?.lease)).toBeGreaterThan(0);
      await store.renew(lease);
      expect(await stores.open().acquire(KEY, bob, { ttlMs: 15_000, waitMs: 0 })).toMatchObject({
        acquired: false,
        holder: { fence: lease.fence, owner: alice },
      });
      await store.release(lease);
      expect(await read()).toBeUndefined();
    });

    it('not sent again: E_LOCK_STORE, no lock left behind, and the next fence is above the lost one', async () => {
      // eslint-disable-next-line @typescript-eslint/unbound-method -- the original, for the mock to call with its own client as `this` (txn.call(this, …))
      const txn = KVClient.prototype.txn;
      vi.spyOn(KVClient.prototype, 'txn').mockImplementation(async function (this: KVClient, request, options) {
        const answer = await txn.call(this, request, options);
        if (isTake(request)) throw new GRPCDeadlineExceededError('4 DEADLINE_EXCEEDED: Deadline exceeded');
        return answer;
      });
      expect((await rejection(take(alice))).code).toBe('E_LOCK_STORE');
      vi.restoreAllMocks();

      expect(await read()).toBeUndefined();
      const lostFence = await store.highestFence(KEY);
      expect((await take(bob)).fence).toBe(lostFence + 1);
    });
  });
});
