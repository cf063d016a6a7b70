import { randomUUID } from 'node:crypto';
import { createEtcdLockStore, type EtcdLockOptions } from '../../src/lock/etcd/store.js';
import type { LockStore } from '../../src/lock/types.js';
import { BOOT_ID, HOST } from './embedded-harness.js';

export interface EtcdStores {
  /** `test-<uuid>/`: every store of the factory works under it, apart from every other test's. */
  readonly prefix: string;
  readonly open: (options?: Partial<EtcdLockOptions>) => LockStore;
  /** A function property, not a method: a harness hands it on as its `dispose`. */
  readonly closeAll: () => Promise<void>;
}

/** Stores over one fresh prefix of the etcd at `endpoint`, so that every test starts with no locks. */
export function etcdStores(endpoint: string, extra: Partial<EtcdLockOptions> = {}): EtcdStores {
  const prefix = `test-${randomUUID()}/`;
  const opened: LockStore[] = [];
  return {
    prefix,
    open: (options = {}) => {
      const identity = { host: HOST, bootId: BOOT_ID };
      const store = createEtcdLockStore({ endpoints: [endpoint], prefix, ...identity, ...extra, ...options });
      opened.push(store);
      return store;
    },
    closeAll: async () => {
      await Promise.all(opened.map((store) => store.close()));
    },
  };
}
