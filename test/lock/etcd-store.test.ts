import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { RolloutError } from '../../src/errors.js';
import { benchEtcdLock } from '../../bench/lock-etcd.js';
import type { EtcdLockOptions } from '../../src/lock/etcd/store.js';
import { keepLease } from '../../src/lock/lease-keeper.js';
import type { Lease, LockOwner, LockStore } from '../../src/lock/types.js';
import { etcdAvailable } from '../helpers/etcd.js';
import { expectUnansweredWhileStopped, useEtcd } from '../helpers/etcd-suite.js';
import { rejection } from '../helpers/rejection.js';
import { describeLockStoreConformance, type ConformanceHarness, type HostView } from './conformance.js';
import { BOOT_ID, HOST } from './embedded-harness.js';
import { etcdStores, type EtcdStores } from './etcd-harness.js';

const KEY = 'aim_lock_config.conf';
const alice: LockOwner = { host: HOST, bootId: BOOT_ID, pid: 101, rollout: 'aim-v43-a' };
const bob: LockOwner = { host: HOST, bootId: BOOT_ID, pid: 102, rollout: 'aim-v44-b' };

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe.skipIf(!etcdAvailable())('etcd lock store', () => {
  const etcd = useEtcd();

  const storeFactory = (extra: Partial<EtcdLockOptions> = {}): EtcdStores => etcdStores(etcd.server.endpoint, extra);

  describeLockStoreConformance(
    'etcd',
    async (context): Promise<ConformanceHarness> => {
      const stores = storeFactory({ now: context.clock.now, isPidAlive: context.processes.isPidAlive });
      return {
        host: HOST,
        bootId: BOOT_ID,
        store: stores.open(),
        open: async (view: HostView) => stores.open(view),
        dispose: stores.closeAll,
      };
    },
    // etcd's minimum lease TTL is 2 s with its default election timeout, and it sweeps expired leases
    // every 500 ms: a 1 s lease is gone within 2.5 s.
    { clock: 'real', shortLeaseExpiryMs: 3_500 },
  );

  describe('etcd specifics', () => {
    let stores: EtcdStores;
    let store: LockStore;

    beforeEach(() => {
      // The owners' pids are made up: on this host they would be dead, and their locks stale.
      stores = storeFactory({ isPidAlive: () => true });
      store = stores.open();
    });

    afterEach(async () => {
      await stores.closeAll();
    });

    async function take(who: LockOwner, ttlMs = 15_000, on = store): Promise<Lease> {
      const result = await on.acquire(KEY, who, { ttlMs, waitMs: 0 });
      if (!result.acquired) throw new Error(`expected to acquire ${KEY}, held by ${result.holder.owner.rollout}`);
      return result.lease;
    }

    const read = async (): Promise<
      { createRevision: number; lease: string; value: Record<string, unknown> } | undefined
    > => {
      const kv = (await etcd.inspector.kv.range({ key: Buffer.from(`${stores.prefix}locks/${KEY}`) })).kvs[0];
      return (
        kv && { createRevision: Number(kv.create_revision), lease: kv.lease, value: JSON.parse(kv.value.toString()) }
      );
    };

    const readCounter = async (): Promise<string | null> =>
      etcd.inspector.get(`${stores.prefix}fences/${KEY}`).string();

    it('keeps each lock under <prefix>locks/ on an etcd lease, and its highest fence in <prefix>fences/', async () => {
      const first = await take(alice);
      const stored = await read();
      expect(stored?.value).toEqual({
        owner: alice,
        fence: first.fence,
        acquiredAt: expect.any(Number),
        heartbeatAt: expect.any(Number),
        ttlMs: 15_000,
        leaseId: stored?.lease,
      });
      expect(await readCounter()).toBe(String(first.fence));
      const ttl = await etcd.inspector.leaseClient.leaseTimeToLive({ ID: stored?.lease ?? '0' });
      expect(Number(ttl.grantedTTL)).toBe(15);

      await store.release(first);
      expect(await read()).toBeUndefined();
      // Released means revoked too: no lease is left to expire later.
      expect(
        Number((await etcd.inspector.leaseClient.leaseTimeToLive({ ID: stored?.lease ?? '0' })).TTL),
      ).toBeLessThanOrEqual(0);
      // The counter has no lease: it outlives the lock.
      expect(await readCounter()).toBe(String(first.fence));

      const second = await take(bob);
      const third = await take(bob);
      expect([second.fence, third.fence]).toEqual([first.fence + 1, first.fence + 2]);
      expect((await read())?.value.fence).toBe(third.fence);
      expect(await readCounter()).toBe(String(third.fence));
    });

    it('two stores on two clients racing for one key: exactly one wins, every round', async () => {
      const other = stores.open();
      for (let round = 0; round < 25; round += 1) {
        const results = await Promise.all([
          store.acquire(KEY, { ...alice, rollout: `a-${round}` }, { ttlMs: 15_000, waitMs: 0 }),
          other.acquire(KEY, { ...bob, rollout: `b-${round}` }, { ttlMs: 15_000, waitMs: 0 }),
        ]);
        const winners = results.flatMap((result) => (result.acquired ? [result.lease] : []));
        expect(winners).toHaveLength(1);
        const loser = results.find((result) => !result.acquired);
        expect(loser).toMatchObject({ acquired: false, holder: { fence: winners[0]?.fence, state: 'held' } });
        await store.release(winners[0] as Lease);
      }
    });

    it('a holder that stops renewing loses the key when its etcd lease runs out; its renew then says so', async () => {
      const lease = await take(alice, 1_000);
      const started = performance.now();
      // Renewed, the 1 s lease lives well past its TTL...
      const lost: RolloutError[] = [];
      const keeper = keepLease(store, lease, { intervalMs: 300, onLost: (error) => lost.push(error) });
      await sleep(3_000);
      await keeper.stop();
      expect(lost).toEqual([]);
      expect((await read())?.createRevision).toBe(lease.fence);
      const stopped = performance.now();

      // ...and left alone, etcd deletes it: the minimum TTL (2 s) plus its 500 ms sweep.
      while ((await read()) !== undefined) await sleep(50);
      const goneAfter = performance.now() - stopped;
      expect(goneAfter).toBeGreaterThan(1_000);
      expect(goneAfter).toBeLessThan(3_500);
      expect(performance.now() - started).toBeGreaterThan(4_000);

      const freed = await rejection(store.renew(lease));
      expect(freed.code).toBe('E_LEASE_LOST');
      expect(freed.message).toMatch(/free/);

      await take(bob, 15_000, stores.open());
      const taken = await rejection(store.renew(lease));
      expect(taken.code).toBe('E_LEASE_LOST');
      expect(taken.message).toMatch(/aim-v44-b \(host orchestrator-1, pid 102\)/);
    });

    it('renew writes the heartbeat and keeps the key on its lease', async () => {
      let now = 1_000_000;
      const clocked = stores.open({ now: () => now });
      const lease = await take(alice, 15_000, clocked);
      const before = await read();
      now += 5_000;
      await clocked.renew(lease);
      const after = await read();
      expect(after?.value.heartbeatAt).toBe(1_005_000);
      expect(after?.value.acquiredAt).toBe(1_000_000);
      expect(after?.lease).toBe(before?.lease);
      expect(after?.createRevision).toBe(lease.fence);
    });

    it('a waiter watches the key: the release wakes it, long before its wait ends, without polling', async () => {
      const lease = await take(alice);
      const before = await grpcCalls(etcd.server.endpoint);
      const waiting = stores.open().acquire(KEY, bob, { ttlMs: 15_000, waitMs: 10_000 });
      await sleep(1_500);
      const during = await grpcCalls(etcd.server.endpoint);
      await store.release(lease);
      const releasedAt = performance.now();
      const result = await waiting;
      const latency = performance.now() - releasedAt;
      expect(result.acquired).toBe(true);
      // Woken by the watch, not by its 10 s wait running out (how fast is a benchmark's question, not a test's).
      expect(latency).toBeLessThan(2_000);
      // One lease grant, one transaction, one lease revoke before it starts to watch; nothing while it waits.
      expect(during - before).toBeLessThanOrEqual(4);
    });

    it('honours waitMs while watching, and an abort', async () => {
      await take(alice);
      const waiter = stores.open();
      const started = performance.now();
      const result = await waiter.acquire(KEY, bob, { ttlMs: 15_000, waitMs: 700 });
      const waited = performance.now() - started;
      expect(result).toMatchObject({ acquired: false, holder: { owner: alice, state: 'held' } });
      expect(waited).toBeGreaterThanOrEqual(690);
      expect(waited).toBeLessThan(1_200);

      const controller = new AbortController();
      const reason = new Error('operator aborted');
      setTimeout(() => controller.abort(reason), 200);
      await expect(waiter.acquire(KEY, bob, { ttlMs: 15_000, waitMs: 10_000, signal: controller.signal })).rejects.toBe(
        reason,
      );
    });

    it('close wakes a waiting acquire with E_LOCK_STORE', async () => {
      await take(alice);
      const waiter = stores.open();
      const waiting = rejection(waiter.acquire(KEY, bob, { ttlMs: 15_000, waitMs: 10_000 }));
      await sleep(100);
      const started = performance.now();
      await waiter.close();
      expect((await waiting).code).toBe('E_LOCK_STORE');
      expect(performance.now() - started).toBeLessThan(1_000);
    });

    it('reads a value it did not write as E_LOCK_STORE, naming the key', async () => {
      await etcd.inspector.put(`${stores.prefix}locks/${KEY}`).value('{"owner": 1}');
      const error = await rejection(store.list());
      expect(error.code).toBe('E_LOCK_STORE');
      expect(error.message).toContain(`${stores.prefix}locks/${KEY}`);
    });

    it('reports E_LOCK_STORE with the endpoints when etcd is down, and works again once it is back', async () => {
      const lease = await take(alice, 6_000);
      await expectUnansweredWhileStopped(etcd, 'E_LOCK_STORE', [
        () => store.list(),
        () => store.acquire('other.conf', bob, { ttlMs: 6_000, waitMs: 0 }),
        () => store.renew(lease),
      ]);
      // The outage was shorter than the TTL: the lease is still there and renews.
      await store.renew(lease);
      expect(await store.list()).toEqual([expect.objectContaining({ key: KEY, fence: lease.fence, state: 'held' })]);
    });

    it('a waiter whose watch etcd cuts (etcd stops) fails with E_LOCK_STORE instead of crashing the process', async () => {
      await take(alice);
      const waiting = rejection(stores.open().acquire(KEY, bob, { ttlMs: 15_000, waitMs: 10_000 }));
      await sleep(300);
      const started = performance.now();
      await etcd.server.stop();
      try {
        expect((await waiting).code).toBe('E_LOCK_STORE');
        expect(performance.now() - started).toBeLessThan(5_000);
      } finally {
        await etcd.server.start();
      }
    });

    it('a lease kept through a restart of etcd shorter than its TTL survives it', async () => {
      const lease = await take(alice, 6_000);
      const lost: RolloutError[] = [];
      const keeper = keepLease(store, lease, { intervalMs: 500, onLost: (error) => lost.push(error) });
      try {
        await etcd.server.stop();
        await sleep(1_500);
        await etcd.server.start();
        await sleep(1_500);
        expect(lost).toEqual([]);
        expect(keeper.isFresh()).toBe(true);
      } finally {
        await keeper.stop();
      }
      await store.renew(lease);
      expect((await read())?.createRevision).toBe(lease.fence);
    });

    it('benchEtcdLock reports p50 and p95 of acquire and release in milliseconds', async () => {
      const result = await benchEtcdLock([etcd.server.endpoint], 30);
      console.log(
        `etcd lock bench (30 rounds): acquire p50 ${result.acquireMs.p50} ms, p95 ${result.acquireMs.p95} ms; ` +
          `release p50 ${result.releaseMs.p50} ms, p95 ${result.releaseMs.p95} ms`,
      );
      for (const summary of [result.acquireMs, result.releaseMs]) {
        expect(summary.p50).toBeGreaterThan(0);
        expect(summary.p95).toBeGreaterThanOrEqual(summary.p50);
      }
      await expect(benchEtcdLock([etcd.server.endpoint], 0)).rejects.toThrow(/`rounds`/);
    });
  });
});

/** How many KV and lease requests etcd has served (its Prometheus counters). */
async function grpcCalls(endpoint: string): Promise<number> {
  const metrics = await (await fetch(`http://${endpoint}/metrics`)).text();
  let total = 0;
  for (const line of metrics.split('\n')) {
    const match =
      /^grpc_server_started_total\{grpc_method="(\w+)",grpc_service="etcdserverpb\.(?:KV|Lease)".*\} (\d+)/.exec(line);
    if (match) total += Number(match[2]);
  }
  return total;
}
