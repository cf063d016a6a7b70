import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { assertPositiveInteger } from './arguments.js';
import { summarize, type LatencySummary } from './bench.js';
import { createEtcdLockStore } from './etcd-store.js';
import { hostIdentity } from './host.js';

export interface EtcdLockBench {
  readonly acquireMs: LatencySummary;
  readonly releaseMs: LatencySummary;
}

/**
 * Times `rounds` uncontended acquire/release pairs against the etcd cluster at `endpoints`, in
 * milliseconds. An acquire is a lease grant and a transaction, a release a transaction and a lease
 * revoke: each a raft commit, so this mostly measures etcd's disk sync. It works under a prefix of its
 * own, so it never touches a real lock.
 */
export async function benchEtcdLock(endpoints: readonly string[], rounds: number): Promise<EtcdLockBench> {
  assertPositiveInteger('rounds', rounds);
  const store = createEtcdLockStore({ endpoints, prefix: `fleet-rollout-bench/${randomUUID()}/` });
  const owner = { ...hostIdentity(), pid: process.pid, rollout: 'bench' };
  const acquireMs: number[] = [];
  const releaseMs: number[] = [];
  try {
    for (let round = 0; round < rounds; round += 1) {
      const started = performance.now();
      const result = await store.acquire('bench.conf', owner, { ttlMs: 10_000, waitMs: 0 });
      const acquired = performance.now();
      if (!result.acquired) {
        throw new Error(`benchEtcdLock: bench.conf is held by rollout ${result.holder.owner.rollout}`);
      }
      await store.release(result.lease);
      releaseMs.push(performance.now() - acquired);
      acquireMs.push(acquired - started);
    }
  } finally {
    await store.close();
  }
  return { acquireMs: summarize(acquireMs), releaseMs: summarize(releaseMs) };
}
