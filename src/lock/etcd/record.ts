import type { IKeyValue } from 'etcd3';
import { z } from 'zod';
import { RolloutError } from '../../errors.js';
import type { LockOwner, LockRecord } from '../types.js';

/**
 * How a lock lives in etcd: the key `<prefix>locks/<lock key>`, attached to the holder's etcd lease, with
 * a JSON value. The fence is in the value, and the highest fence handed out per key is kept apart (see
 * `fence.ts`). A value without a fence was written before fences could be raised to a floor: its
 * fence is the key's create revision, as it was then.
 */
export interface EtcdLockValue {
  readonly owner: LockOwner;
  readonly fence: number;
  readonly acquiredAt: number;
  readonly heartbeatAt: number;
  readonly ttlMs: number;
  /** The etcd lease the key is attached to, in decimal (an int64), for an operator reading it with etcdctl. */
  readonly leaseId: string;
}

/** A lock read back from etcd, with the revisions its transactions compare against. */
export interface EtcdLock {
  readonly record: LockRecord;
  readonly leaseId: string;
  readonly etcdKey: Buffer;
  /** The key's first write: renew and release compare it, so they touch only the lock this lease took. */
  readonly createRevision: string;
  /** The key's last write: a delete compares it, so a holder that renewed meanwhile is left alone. */
  readonly modRevision: string;
}

const epochMs = z.number().int().nonnegative();

const valueSchema = z.object({
  owner: z.object({
    host: z.string().min(1),
    pid: z.number().int().positive(),
    rollout: z.string().min(1),
    bootId: z.string().min(1),
  }),
  fence: z.number().int().positive().optional(),
  acquiredAt: epochMs,
  heartbeatAt: epochMs,
  ttlMs: z.number().int().positive(),
  leaseId: z.string().regex(/^\d+$/),
});

export function locksPrefix(prefix: string): string {
  return `${prefix}locks/`;
}

export function lockKey(prefix: string, key: string): Buffer {
  return Buffer.from(`${locksPrefix(prefix)}${key}`);
}

export function encodeLockValue(value: EtcdLockValue): Buffer {
  const { owner } = value;
  return Buffer.from(
    JSON.stringify({
      owner: { host: owner.host, pid: owner.pid, rollout: owner.rollout, bootId: owner.bootId },
      fence: value.fence,
      acquiredAt: value.acquiredAt,
      heartbeatAt: value.heartbeatAt,
      ttlMs: value.ttlMs,
      leaseId: value.leaseId,
    }),
  );
}

/** Reads one lock key back; a value this store did not write fails with E_LOCK_STORE naming the key. */
export function decodeLock(kv: IKeyValue, prefix: string): EtcdLock {
  const etcdKey = kv.key.toString();
  let json: unknown;
  try {
    json = JSON.parse(kv.value.toString());
  } catch (error) {
    throw corruptLock(etcdKey, `not valid JSON (${(error as Error).message})`, error);
  }
  const parsed = valueSchema.safeParse(json);
  if (!parsed.success) {
    throw corruptLock(etcdKey, z.prettifyError(parsed.error).replaceAll('\n', '; '), parsed.error);
  }
  const fence = parsed.data.fence ?? Number(kv.create_revision);
  if (!Number.isSafeInteger(fence) || fence <= 0) {
    throw corruptLock(etcdKey, `its fence ${parsed.data.fence ?? kv.create_revision} is not a usable fence`);
  }
  const { owner, acquiredAt, heartbeatAt, ttlMs } = parsed.data;
  return {
    record: { key: etcdKey.slice(locksPrefix(prefix).length), owner, fence, acquiredAt, heartbeatAt, ttlMs },
    leaseId: kv.lease,
    etcdKey: kv.key,
    createRevision: kv.create_revision,
    modRevision: kv.mod_revision,
  };
}

function corruptLock(etcdKey: string, detail: string, cause?: unknown): RolloutError {
  return new RolloutError(
    'E_LOCK_STORE',
    `The lock at etcd key ${etcdKey} is unreadable: ${detail}. Nothing was changed. If no rollout holds it, ` +
      `delete it (etcdctl del '${etcdKey}'); fences do not go back, the fence counter keeps them.`,
    cause === undefined ? undefined : { cause },
  );
}
