import { EtcdLeaseInvalidError, type IKeyValue, type ITxnResponse } from 'etcd3';
import { RolloutError } from '../../errors.js';
import { rangeEnd } from '../../infra/etcd-shared.js';
import { InFlight } from '../../infra/in-flight.js';
import { assertNonEmptyString, assertPositiveInteger } from '../../infra/argument-checks.js';
import { assertAcquireOptions, assertKey, assertLease, assertOwner } from '../arguments.js';
import { describeHolder } from '../describe.js';
import { EtcdConnection } from './connection.js';
import { nextEtcdFence, readLockAndCounter, takeRequest } from './fence.js';
import { decodeLock, encodeLockValue, lockKey, locksPrefix, type EtcdLock } from './record.js';
import { hostIdentity } from '../../infra/host.js';
import { isPidAlive } from '../../infra/process.js';
import { isSameProcess, lockStatus, type HostView } from '../staleness.js';
import type { AcquireOptions, AcquireResult, Lease, LockOwner, LockStatus, LockStore, StaleLock } from '../types.js';

export interface EtcdLockOptions {
  /** The cluster's client endpoints, `host:port` each, as `--store etcd://host:port[,host:port...]` names them. */
  readonly endpoints: readonly string[];
  /** Put verbatim before every key; the locks live under `<prefix>locks/`. @default 'fleet-rollout/' */
  readonly prefix?: string;
  /** This host's name: only owners on this host can be judged by pid and boot id. @default os.hostname() */
  readonly host?: string;
  /** @default the kernel's boot id (see `hostIdentity`) */
  readonly bootId?: string;
  /** @default `isPidAlive` from `infra/process.ts` (signal 0) */
  readonly isPidAlive?: (pid: number) => boolean;
  /** The clock for the times a lock records (`acquiredAt`, `heartbeatAt`). Expiry is etcd's, on its own clock. @default Date.now */
  readonly now?: () => number;
  /** How long one request to etcd may take before it fails with `E_LOCK_STORE`. @default 5000 */
  readonly requestTimeoutMs?: number;
}

const DEFAULT_ETCD_PREFIX = 'fleet-rollout/';

/**
 * The lock backend for many orchestrators on many machines: one etcd key per lock, attached to an etcd
 * lease of the lock's TTL, so that etcd itself deletes the lock of an owner that stops renewing. Fences
 * come from a counter per key that no lease deletes. See `record.ts` and `fence.ts` for the layout.
 *
 * TTLs: the etcd lease gets `ttlMs` rounded up to whole seconds (at least 1), and etcd raises a TTL below
 * its minimum to that minimum (1.5 election timeouts: 2 s with etcd's defaults) and sweeps expired leases
 * every 500 ms. So a lock with a TTL of a second or two can outlive it by up to about 2 s; the TTL the
 * lock records is the one asked for.
 */
export function createEtcdLockStore(options: EtcdLockOptions): LockStore {
  return new EtcdLockStore(options);
}

type TakeAttempt =
  | { readonly acquired: true; readonly lease: Lease }
  | { readonly acquired: false; readonly holder: EtcdLock; readonly revision: string };

class EtcdLockStore implements LockStore {
  readonly #etcd: EtcdConnection;
  readonly #endpoints: string;
  readonly #prefix: string;
  readonly #now: () => number;
  readonly #host: string;
  readonly #bootId: string;
  readonly #isPidAlive: (pid: number) => boolean;
  /** Aborted by close() to wake acquires that are watching a busy lock. */
  readonly #closing = new AbortController();
  readonly #inFlight = new InFlight();
  #closed: Promise<void> | undefined;

  constructor(options: EtcdLockOptions) {
    if (!Array.isArray(options.endpoints) || options.endpoints.length === 0) {
      throw new TypeError(
        `Expected \`endpoints\` to be a non-empty array of host:port, got \`${String(options.endpoints)}\``,
      );
    }
    options.endpoints.forEach((endpoint, index) => assertNonEmptyString(`endpoints[${index}]`, endpoint));
    const prefix = options.prefix ?? DEFAULT_ETCD_PREFIX;
    assertNonEmptyString('prefix', prefix);
    const requestTimeoutMs = options.requestTimeoutMs ?? 5_000;
    assertPositiveInteger('requestTimeoutMs', requestTimeoutMs);
    const local = options.host !== undefined && options.bootId !== undefined ? undefined : hostIdentity();
    this.#etcd = new EtcdConnection(options.endpoints, requestTimeoutMs);
    this.#endpoints = options.endpoints.join(',');
    this.#prefix = prefix;
    this.#now = options.now ?? Date.now;
    this.#host = options.host ?? local?.host ?? '';
    this.#bootId = options.bootId ?? local?.bootId ?? '';
    this.#isPidAlive = options.isPidAlive ?? isPidAlive;
  }

  /** An abort of `options.signal` rejects with the signal's reason, as fetch does. */
  async acquire(key: string, owner: LockOwner, options: AcquireOptions): Promise<AcquireResult> {
    assertKey(key);
    assertOwner(owner);
    assertAcquireOptions(options);
    return this.#run(async () => {
      const etcdKey = lockKey(this.#prefix, key);
      // Measured on the monotonic clock: a wall-clock step must not stretch the wait.
      const deadline = performance.now() + options.waitMs;
      for (;;) {
        this.#throwIfStopped(options.signal);
        const attempt = await this.#etcd.run(`acquire ${key}`, () => this.#take(key, owner, options));
        if (attempt.acquired) {
          return attempt;
        }
        const holder = this.#status(attempt.holder);
        // A stale lock is reclaimed by whoever asks; a live one only by the very process holding it (an
        // acquire it retried), which gets a new, larger fence. etcd refuses a delete and a put of one key in
        // one transaction, so this deletes (if nothing changed since the read) and takes the key afresh.
        if (holder.state === 'stale' || isSameProcess(holder.owner, owner)) {
          await this.#etcd.run(`reclaim ${key}`, () => this.#delete(attempt.holder));
          continue;
        }
        const remaining = deadline - performance.now();
        if (remaining <= 0) {
          return { acquired: false, holder };
        }
        // Watched from the revision after the read, so a release between the read and the watch still wakes it.
        await this.#etcd.waitForDelete(etcdKey, String(Number(attempt.revision) + 1), remaining, [
          this.#closing.signal,
          options.signal,
        ]);
      }
    });
  }

  /**
   * Loss is decided by etcd's answers, never by a local timer: the key must still exist with this lease's
   * create revision, and a keepalive of its etcd lease must come back with time left.
   */
  async renew(lease: Lease): Promise<void> {
    assertLease(lease);
    return this.#run(() =>
      this.#etcd.run(`renew the lease on ${lease.key}`, async () => {
        const etcdKey = lockKey(this.#prefix, lease.key);
        const current = await this.#read(etcdKey);
        this.#assertHeldBy(lease, current);
        const reason = this.#status(current).staleReason;
        if (reason === 'rebooted') {
          throw leaseLost(lease, `host ${lease.owner.host} rebooted since it was taken`);
        }
        if (reason === 'owner_dead') {
          throw leaseLost(lease, `its owner process ${lease.owner.pid} is dead`);
        }
        const secondsLeft = await this.#etcd.keepAliveOnce(current.leaseId);
        if (secondsLeft <= 0) {
          throw leaseLost(lease, `etcd says its lease ${current.leaseId} has expired`);
        }
        const { record } = current;
        let answer: ITxnResponse;
        try {
          answer = await this.#etcd.client.kv.txn(
            {
              compare: [{ key: etcdKey, target: 'Create', result: 'Equal', create_revision: current.createRevision }],
              success: [
                {
                  request_put: {
                    key: etcdKey,
                    value: encodeLockValue({ ...record, heartbeatAt: this.#now(), leaseId: current.leaseId }),
                    lease: current.leaseId,
                  },
                },
              ],
              failure: [{ request_range: { key: etcdKey } }],
            },
            this.#etcd.options(),
          );
        } catch (error) {
          if (error instanceof EtcdLeaseInvalidError) {
            throw leaseLost(lease, `etcd says its lease ${current.leaseId} has expired`);
          }
          throw error;
        }
        if (!answer.succeeded) {
          this.#assertHeldBy(lease, this.#decodeFirst(answer.responses[0]?.response_range.kvs));
        }
      }),
    );
  }

  async release(lease: Lease): Promise<void> {
    assertLease(lease);
    return this.#run(() =>
      this.#etcd.run(`release ${lease.key}`, async () => {
        const etcdKey = lockKey(this.#prefix, lease.key);
        // A key keeps the owner and fence it was created with (renewals rewrite only the heartbeat), so once
        // the lock read here is this lease's, comparing its create revision is enough to delete only it.
        const current = await this.#read(etcdKey);
        if (current?.record.fence !== lease.fence || !isSameProcess(current.record.owner, lease.owner)) return;
        const answer = await this.#etcd.client.kv.txn(
          {
            compare: [{ key: etcdKey, target: 'Create', result: 'Equal', create_revision: current.createRevision }],
            success: [{ request_delete_range: { key: etcdKey, prev_kv: true } }],
          },
          this.#etcd.options(),
        );
        const deleted = answer.succeeded ? answer.responses[0]?.response_delete_range.prev_kvs[0] : undefined;
        if (deleted !== undefined) {
          await this.#revoke(deleted.lease);
        }
      }),
    );
  }

  async list(): Promise<LockStatus[]> {
    return this.#run(() =>
      this.#etcd.run('list the locks', async () => (await this.#readAll()).map((lock) => this.#status(lock))),
    );
  }

  async highestFence(key: string): Promise<number> {
    assertKey(key);
    return this.#run(() =>
      this.#etcd.run(`read the fences of ${key}`, async () => {
        const { lock, counter } = await readLockAndCounter(this.#etcd, this.#prefix, key);
        return Math.max(counter.highest ?? 0, lock?.record.fence ?? 0);
      }),
    );
  }

  async reclaimStale(): Promise<StaleLock[]> {
    return this.#run(() =>
      this.#etcd.run('reclaim stale locks', async () => {
        const freed: StaleLock[] = [];
        for (const lock of await this.#readAll()) {
          const status = this.#status(lock);
          // A holder that renewed since the read changed the mod revision, and keeps its lock.
          if (status.state === 'stale' && (await this.#delete(lock))) {
            freed.push(status);
          }
        }
        return freed;
      }),
    );
  }

  async forceRelease(key: string, options: { readonly force: boolean }): Promise<LockStatus> {
    assertKey(key);
    return this.#run(() =>
      this.#etcd.run(`release ${key}`, async () => {
        const etcdKey = lockKey(this.#prefix, key);
        for (;;) {
          const current = await this.#read(etcdKey);
          if (current === undefined) {
            throw new RolloutError(
              'E_LOCK_NOT_FOUND',
              `No lock is held on ${key} in etcd at ${this.#endpoints} (under ${locksPrefix(this.#prefix)})`,
            );
          }
          const status = this.#status(current);
          if (status.state === 'held' && !options.force) {
            throw new RolloutError(
              'E_LOCK_OWNER_LIVE',
              `Lock ${key} is ${describeHolder(status, this.#now())}, and that owner is alive. If you are sure it ` +
                'must go, run again with --force: its next heartbeat then fails and it stops writing.',
            );
          }
          // Changed between the read and the delete (renewed, or taken afresh): judge it again.
          if (await this.#delete(current)) {
            return status;
          }
        }
      }),
    );
  }

  /** Wakes waiting acquires (they fail with E_LOCK_STORE), waits for operations in flight, closes the client. */
  close(): Promise<void> {
    this.#closed ??= (async () => {
      this.#closing.abort();
      await this.#inFlight.drain();
      this.#etcd.close();
    })();
    return this.#closed;
  }

  /**
   * Takes the key if it does not exist, with the next fence (see `fence.ts`); else reads the holder.
   * The lock and the fence counter are read first, so a busy lock costs one request and no etcd lease.
   */
  async #take(key: string, owner: LockOwner, options: AcquireOptions): Promise<TakeAttempt> {
    const { ttlMs } = options;
    for (;;) {
      const seen = await readLockAndCounter(this.#etcd, this.#prefix, key);
      if (seen.lock !== undefined) {
        return { acquired: false, holder: seen.lock, revision: seen.revision };
      }
      const fence = nextEtcdFence(seen.counter, seen.revision, options.minFence ?? 0);
      const grant = await this.#etcd.client.leaseClient.leaseGrant({ TTL: leaseSeconds(ttlMs) }, this.#etcd.options());
      const now = this.#now();
      const value = encodeLockValue({ owner, fence, acquiredAt: now, heartbeatAt: now, ttlMs, leaseId: grant.ID });
      let answer: ITxnResponse;
      try {
        answer = await this.#etcd.client.kv.txn(
          takeRequest(lockKey(this.#prefix, key), value, grant.ID, seen.counter, fence),
          this.#etcd.options(),
        );
      } catch (error) {
        await this.#revoke(grant.ID);
        throw error;
      }
      if (answer.succeeded) {
        const held = { host: owner.host, pid: owner.pid, rollout: owner.rollout, bootId: owner.bootId };
        return { acquired: true, lease: { key, fence, owner: held, ttlMs } };
      }
      await this.#revoke(grant.ID);
      const holder = this.#decodeFirst(answer.responses[0]?.response_range.kvs);
      if (holder !== undefined) {
        return { acquired: false, holder, revision: answer.header.revision };
      }
      // Only the counter moved: another acquisition took the key and let it go meanwhile. Count again.
    }
  }

  /** Deletes the lock if nothing wrote it since it was read, and revokes its etcd lease. */
  async #delete(lock: EtcdLock): Promise<boolean> {
    const answer = await this.#etcd.client.kv.txn(
      {
        compare: [{ key: lock.etcdKey, target: 'Mod', result: 'Equal', mod_revision: lock.modRevision }],
        success: [{ request_delete_range: { key: lock.etcdKey } }],
      },
      this.#etcd.options(),
    );
    if (answer.succeeded) {
      await this.#revoke(lock.leaseId);
    }
    return answer.succeeded;
  }

  /** Best effort: a lease nobody keeps alive expires by itself within its TTL. */
  async #revoke(leaseId: string): Promise<void> {
    try {
      await this.#etcd.client.leaseClient.leaseRevoke({ ID: leaseId }, this.#etcd.options());
    } catch {
      // Already expired or revoked, or etcd went away: the next request that matters reports that.
    }
  }

  async #read(etcdKey: Buffer): Promise<EtcdLock | undefined> {
    const answer = await this.#etcd.client.kv.range({ key: etcdKey }, this.#etcd.options());
    return this.#decodeFirst(answer.kvs);
  }

  /** Every lock, sorted by key (etcd returns a range in key order). */
  async #readAll(): Promise<EtcdLock[]> {
    const prefix = Buffer.from(locksPrefix(this.#prefix));
    const answer = await this.#etcd.client.kv.range({ key: prefix, range_end: rangeEnd(prefix) }, this.#etcd.options());
    return answer.kvs.map((kv) => decodeLock(kv, this.#prefix));
  }

  #decodeFirst(kvs: readonly IKeyValue[] | undefined): EtcdLock | undefined {
    const kv = kvs?.[0];
    return kv === undefined ? undefined : decodeLock(kv, this.#prefix);
  }

  #assertHeldBy(lease: Lease, current: EtcdLock | undefined): asserts current is EtcdLock {
    if (current === undefined) {
      throw leaseLost(lease, 'the lock is free (released, reclaimed, or its etcd lease expired)');
    }
    if (current.record.fence !== lease.fence || !isSameProcess(current.record.owner, lease.owner)) {
      const holder = this.#status(current);
      throw leaseLost(lease, `the lock is now ${describeHolder(holder, this.#now())} with fence ${holder.fence}`);
    }
  }

  /**
   * The embedded store's rules less expiry: etcd deletes a key when its lease runs out, so a key that is
   * still there has not expired, whatever its heartbeat's age says (and a heartbeat stamped by another
   * host's clock says little). Judged as of the heartbeat, only the host rules remain.
   */
  #status(lock: EtcdLock): LockStatus {
    const view: HostView = {
      now: lock.record.heartbeatAt,
      host: this.#host,
      bootId: this.#bootId,
      isPidAlive: this.#isPidAlive,
    };
    return lockStatus(lock.record, view);
  }

  #run<T>(operation: () => Promise<T>): Promise<T> {
    return this.#inFlight.run(operation, () => this.#closedError());
  }

  #throwIfStopped(signal?: AbortSignal): void {
    signal?.throwIfAborted();
    if (this.#closing.signal.aborted) {
      throw this.#closedError();
    }
  }
  #closedError(): RolloutError {
    return new RolloutError('E_LOCK_STORE', `The lock store on etcd at ${this.#endpoints} is closed`);
  }
}

/** etcd leases count whole seconds. */
function leaseSeconds(ttlMs: number): number {
  return Math.max(1, Math.ceil(ttlMs / 1000));
}

function leaseLost(lease: Lease, why: string): RolloutError {
  return new RolloutError(
    'E_LEASE_LOST',
    `Rollout ${lease.owner.rollout} lost its lease on ${lease.key} (fence ${lease.fence}): ${why}`,
  );
}
