import { randomUUID } from 'node:crypto';
import { assertPositiveInteger } from '../src/infra/argument-checks.js';
import { EtcdStoreClient } from '../src/store/etcd/client.js';
import { rolloutKeys } from '../src/store/etcd/keys.js';
import { createEtcdStateStore } from '../src/store/etcd/store.js';
import { benchFigures, timeBenchRollout, type StateStoreBench } from './store.js';

export interface EtcdStateStoreBench extends StateStoreBench {
  /** Keys the rollout left in etcd: record, snapshot, one per drone, the audit counter and chunks. */
  readonly keys: number;
}

/**
 * Persists the same simulated rollout as `benchStateStore` (store.ts) into the etcd cluster at
 * `endpoints`: per transition a record update, a ~3 KB snapshot and an audit event; per fleet stage a
 * progress batch and an audit batch covering every drone. Every write is a raft commit, so this mostly
 * measures etcd's disk sync. It works under a prefix of its own and deletes it afterwards.
 */
export async function benchEtcdStateStore(endpoints: readonly string[], drones: number): Promise<EtcdStateStoreBench> {
  assertPositiveInteger('drones', drones);
  const prefix = `fleet-rollout-bench/${randomUUID()}/`;
  const store = createEtcdStateStore({ endpoints, prefix });
  const inspector = new EtcdStoreClient(endpoints, 30_000);
  try {
    const { id, totalMs } = await timeBenchRollout(store, drones);
    const keys = rolloutKeys(prefix, id);
    if (keys === undefined) {
      throw new Error(`benchEtcdStateStore: ${id} is not a rollout id`);
    }
    const audit = await inspector.readPrefix(keys.audit, 64);
    const auditBytes = audit.reduce((sum, kv) => sum + kv.value.length, 0);
    const left = await inspector.readPrefix(keys.dir, 10_000, { keys_only: true });
    return { ...benchFigures(totalMs, auditBytes, drones), keys: left.length };
  } finally {
    await inspector.client
      .delete()
      .prefix(prefix)
      .catch(() => undefined);
    inspector.close();
  }
}
