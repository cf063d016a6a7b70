import type { IKeyValue, ITxnRequest } from 'etcd3';
import { RolloutError } from '../../errors.js';
import type { EtcdConnection } from './connection.js';
import { decodeLock, lockKey, type EtcdLock } from './record.js';

/**
 * The highest fence handed out per lock key lives at `<prefix>fences/<lock key>`, a decimal with no etcd
 * lease, so that it outlives every release, reclaim and expiry of the lock. An acquisition puts the lock
 * and its new fence in one transaction that compares this key's mod revision with the one it read: two
 * orchestrators racing on one etcd never hand out the same fence, nor a lower one.
 */
export interface FenceCounter {
  readonly etcdKey: Buffer;
  /** Undefined while the key was never acquired since fence counters exist. */
  readonly highest: number | undefined;
  /** The counter key's last write, '0' while it does not exist. */
  readonly modRevision: string;
}

/** A lock key as one revision of etcd shows it. */
export interface LockAndCounter {
  readonly lock: EtcdLock | undefined;
  readonly counter: FenceCounter;
  readonly revision: string;
}

export function fenceKey(prefix: string, key: string): Buffer {
  return Buffer.from(`${prefix}fences/${key}`);
}

/** The lock on `key` and its fence counter, read in one transaction so that both are of one revision. */
export async function readLockAndCounter(etcd: EtcdConnection, prefix: string, key: string): Promise<LockAndCounter> {
  const counterKey = fenceKey(prefix, key);
  const answer = await etcd.client.kv.txn(
    {
      compare: [],
      success: [{ request_range: { key: lockKey(prefix, key) } }, { request_range: { key: counterKey } }],
    },
    etcd.options(),
  );
  const lockKv = answer.responses[0]?.response_range.kvs[0];
  return {
    lock: lockKv === undefined ? undefined : decodeLock(lockKv, prefix),
    counter: readFenceCounter(counterKey, answer.responses[1]?.response_range.kvs[0]),
    revision: answer.header.revision,
  };
}

function readFenceCounter(etcdKey: Buffer, kv: IKeyValue | undefined): FenceCounter {
  if (kv === undefined) {
    return { etcdKey, highest: undefined, modRevision: '0' };
  }
  const text = kv.value.toString();
  const highest = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(highest)) {
    throw new RolloutError(
      'E_LOCK_STORE',
      `The fence counter at etcd key ${etcdKey.toString()} is unreadable: \`${text}\` is not a whole number. ` +
        'Nothing was changed. Put back a number at least as high as the highest fence any drone reports for ' +
        `that file (etcdctl put '${etcdKey.toString()}' <n>).`,
    );
  }
  return { etcdKey, highest, modRevision: kv.mod_revision };
}

/**
 * The next fence for a key whose counter reads `counter`, at etcd revision `revision`. A key with no
 * counter may have been locked before counters existed, when a fence was the lock key's create revision:
 * none of those is above the current revision, so the first counted fence starts past it.
 */
export function nextEtcdFence(counter: FenceCounter, revision: string, minFence: number): number {
  const floor = counter.highest ?? Number(revision);
  return Math.max(floor + 1, minFence);
}

/**
 * Puts the lock under its etcd lease and raises the counter to its fence, if the lock key does not exist
 * and the counter is still the one the fence was computed from; else reads the lock key.
 */
export function takeRequest(
  lock: Buffer,
  value: Buffer,
  leaseId: string,
  counter: FenceCounter,
  fence: number,
): ITxnRequest {
  return {
    compare: [
      { key: lock, target: 'Create', result: 'Equal', create_revision: 0 },
      counter.highest === undefined
        ? { key: counter.etcdKey, target: 'Create', result: 'Equal', create_revision: 0 }
        : { key: counter.etcdKey, target: 'Mod', result: 'Equal', mod_revision: counter.modRevision },
    ],
    success: [
      { request_put: { key: lock, value, lease: leaseId } },
      { request_put: { key: counter.etcdKey, value: Buffer.from(String(fence)) } },
    ],
    failure: [{ request_range: { key: lock } }],
  };
}
