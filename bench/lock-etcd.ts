import { randomUUID } from 'node:crypto';
import { assertPositiveInteger } from '../src/infra/argument-checks.js';
import { createEtcdLockStore } from '../src/lock/etcd/store.js';
import { benchLockStore, type LockBench } from './lock.js';

/**
 * Times `rounds` uncontended acquire/release pairs against the etcd cluster at `endpoints`, in
 * milliseconds. An acquire is a read, a lease grant and a transaction, a release a read, a transaction
 * and a lease revoke: the writes are raft commits, so this mostly measures etcd's disk sync. It works
 * under a prefix of its own, so it never touches a real lock.
 */
export async function benchEtcdLock(endpoints: readonly string[], rounds: number): Promise<LockBench> {
  assertPositiveInteger('rounds', rounds);
  const prefix = `fleet-rollout-bench/${randomUUID()}/`;
  return benchLockStore(createEtcdLockStore({ endpoints, prefix }), rounds, `bench.conf under ${prefix}`);
}
