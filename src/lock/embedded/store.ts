import { join } from 'node:path';
import { RolloutError } from '../../errors.js';
import { assertNonEmptyString, assertPositiveInteger } from '../../infra/argument-checks.js';
import { isPidAlive } from '../../infra/process.js';
import { assertAcquireOptions, assertKey, assertLease, assertOwner } from '../arguments.js';
import { describeHolder } from '../describe.js';
import { hostIdentity, type HostIdentity } from '../../infra/host.js';
import { highestFence, nextFence, type LockTable } from './lock-table.js';
import { isSameProcess, lockStatus, staleReason, type HostView } from '../staleness.js';
import { LockTableFile, type TableChange } from './table-file.js';
import type {
  AcquireOptions,
  AcquireResult,
  Lease,
  LockOwner,
  LockRecord,
  LockStatus,
  LockStore,
  StaleLock,
} from '../types.js';

export interface EmbeddedLockOptions {
  /** The state dir; the store keeps its files under `<dir>/locks/`. */
  readonly dir: string;
  /**
   * The clock for acquisitions, heartbeats and expiry. Waiting for a busy lock (`waitMs`, `pollMs`)
   * sleeps in real time whatever this returns.
   * @default Date.now
   */
  readonly now?: () => number;
  /** This host's name: only owners on this host can be judged by pid and boot id. @default os.hostname() */
  readonly host?: string;
  /** @default the kernel's boot id (see `hostIdentity`) */
  readonly bootId?: string;
  /** @default `isPidAlive` from `infra/process.ts` (signal 0) */
  readonly isPidAlive?: (pid: number) => boolean;
  /** How often a waiting `acquire` looks at a busy lock again, in milliseconds. @default 100 */
  readonly pollMs?: number;
}

/**
 * The default lock backend for one machine: `<dir>/locks/table.json`, no server, no native addon.
 * Every process on the machine that opens the same dir shares the locks.
 */
export function createEmbeddedLockStore(options: EmbeddedLockOptions): LockStore {
  return new EmbeddedLockStore(options);
}

class EmbeddedLockStore implements LockStore {
  readonly #file: LockTableFile;
  readonly #now: () => number;
  readonly #host: string;
  readonly #bootId: string;
  readonly #isPidAlive: (pid: number) => boolean;
  readonly #pollMs: number;
  /** Aborted by close() to wake acquires that are waiting for a busy lock. */
  readonly #closing = new AbortController();
  /** One operation at a time per store: they would only contend for the same critical section. */
  #queue: Promise<unknown> = Promise.resolve();
  #closed: Promise<void> | undefined;

  constructor(options: EmbeddedLockOptions) {
    assertNonEmptyString('dir', options.dir);
    const pollMs = options.pollMs ?? 100;
    assertPositiveInteger('pollMs', pollMs);
    const identity = identityOf(options);
    this.#file = new LockTableFile(join(options.dir, 'locks', 'table.json'));
    this.#now = options.now ?? Date.now;
    this.#host = identity.host;
    this.#bootId = identity.bootId;
    this.#isPidAlive = options.isPidAlive ?? isPidAlive;
    this.#pollMs = pollMs;
  }

  /** An abort of `options.signal` rejects with the signal's reason, as fetch does. */
  async acquire(key: string, owner: LockOwner, options: AcquireOptions): Promise<AcquireResult> {
    assertKey(key);
    assertOwner(owner);
    assertAcquireOptions(options);
    // Measured on the monotonic clock: the wait is real sleeping, and a wall-clock step must not stretch it.
    const deadline = performance.now() + options.waitMs;
    for (;;) {
      this.#throwIfStopped(options.signal);
      const result = await this.#change((table, view) => this.#take(table, view, key, owner, options));
      const remaining = deadline - performance.now();
      if (result.acquired || remaining <= 0) {
        return result;
      }
      await sleep(Math.min(this.#pollMs, remaining), [this.#closing.signal, options.signal]);
    }
  }

  /**
   * A lease is renewed while its fence is the table's, even after its TTL has run out: until another
   * owner reclaims the key nobody else can have written with a higher fence, so a holder that was only
   * slow (a GC pause, a suspended laptop) keeps its rollout instead of aborting it for nothing. A lease
   * whose owner process is dead, or was taken before this host rebooted, is not renewed: whoever holds
   * it now is not that owner, and must acquire again (a resumed rollout does, with a new fence).
   */
  async renew(lease: Lease): Promise<void> {
    assertLease(lease);
    await this.#change((table, view) => {
      const current = table.locks.get(lease.key);
      if (current === undefined) {
        throw leaseLost(lease, 'the lock is free (released or reclaimed)');
      }
      if (current.fence !== lease.fence || !isSameProcess(current.owner, lease.owner)) {
        const holder = lockStatus(current, view);
        throw leaseLost(lease, `the lock is now ${describeHolder(holder, view.now)} with fence ${holder.fence}`);
      }
      const reason = staleReason(current, view);
      if (reason === 'rebooted') {
        throw leaseLost(lease, `host ${lease.owner.host} rebooted since it was taken`);
      }
      if (reason === 'owner_dead') {
        throw leaseLost(lease, `its owner process ${lease.owner.pid} is dead`);
      }
      table.locks.set(lease.key, { ...current, heartbeatAt: view.now });
      return { result: undefined, changed: true };
    });
  }

  async release(lease: Lease): Promise<void> {
    assertLease(lease);
    await this.#change((table) => {
      const current = table.locks.get(lease.key);
      const ours = current?.fence === lease.fence && isSameProcess(current.owner, lease.owner);
      if (ours) {
        table.locks.delete(lease.key);
      }
      return { result: undefined, changed: ours };
    });
  }

  async list(): Promise<LockStatus[]> {
    return this.#run(async () => {
      const table = await this.#file.read();
      const view = this.#view();
      return [...table.locks.values()].map((record) => lockStatus(record, view)).sort(byKey);
    });
  }

  async highestFence(key: string): Promise<number> {
    assertKey(key);
    return this.#run(async () => highestFence(await this.#file.read(), key));
  }

  async reclaimStale(): Promise<StaleLock[]> {
    return this.#change((table, view) => {
      const freed: StaleLock[] = [];
      for (const record of table.locks.values()) {
        const status = lockStatus(record, view);
        if (status.state === 'stale') {
          table.locks.delete(record.key);
          freed.push(status);
        }
      }
      return { result: freed.sort(byKey), changed: freed.length > 0 };
    });
  }

  async forceRelease(key: string, options: { readonly force: boolean }): Promise<LockStatus> {
    assertKey(key);
    return this.#change((table, view) => {
      const current = table.locks.get(key);
      if (current === undefined) {
        throw new RolloutError('E_LOCK_NOT_FOUND', `No lock is held on ${key} in ${this.#file.path}`);
      }
      const status = lockStatus(current, view);
      if (status.state === 'held' && !options.force) {
        throw new RolloutError(
          'E_LOCK_OWNER_LIVE',
          `Lock ${key} is ${describeHolder(status, view.now)}, and that owner is alive. If you are sure it ` +
            'must go, run again with --force: its next heartbeat then fails and it stops writing.',
        );
      }
      table.locks.delete(key);
      return { result: status, changed: true };
    });
  }

  /** Wakes waiting acquires (they fail with E_LOCK_STORE) and waits for operations in flight. */
  close(): Promise<void> {
    this.#closed ??= (async () => {
      this.#closing.abort();
      await this.#queue;
    })();
    return this.#closed;
  }

  #take(
    table: LockTable,
    view: HostView,
    key: string,
    owner: LockOwner,
    options: AcquireOptions,
  ): TableChange<AcquireResult> {
    const { ttlMs } = options;
    const current = table.locks.get(key);
    if (current !== undefined) {
      const holder = lockStatus(current, view);
      // A stale lock is reclaimed by whoever asks, the owner's own rollout resuming under a new pid
      // included; a live one only by the very process holding it (an acquire it retried).
      if (holder.state === 'held' && !isSameProcess(current.owner, owner)) {
        return { result: { acquired: false, holder }, changed: false };
      }
    }
    const record: LockRecord = {
      key,
      owner: { host: owner.host, pid: owner.pid, rollout: owner.rollout, bootId: owner.bootId },
      fence: nextFence(table, key, options.minFence ?? 0),
      acquiredAt: view.now,
      heartbeatAt: view.now,
      ttlMs,
    };
    table.locks.set(key, record);
    table.fences.set(key, record.fence);
    return {
      result: { acquired: true, lease: { key, fence: record.fence, owner: record.owner, ttlMs } },
      changed: true,
    };
  }

  #change<T>(change: (table: LockTable, view: HostView) => TableChange<T>): Promise<T> {
    // The clock is read inside the critical section so that time only moves forward along the table's history.
    return this.#run(() => this.#file.update((table) => change(table, this.#view())));
  }

  #run<T>(operation: () => Promise<T>): Promise<T> {
    this.#throwIfStopped();
    const result = this.#queue.then(operation);
    this.#queue = result.catch(() => undefined);
    return result;
  }

  #view(): HostView {
    return { now: this.#now(), host: this.#host, bootId: this.#bootId, isPidAlive: this.#isPidAlive };
  }

  #throwIfStopped(signal?: AbortSignal): void {
    signal?.throwIfAborted();
    if (this.#closed !== undefined) {
      throw new RolloutError('E_LOCK_STORE', `The lock store on ${this.#file.path} is closed`);
    }
  }
}

function identityOf(options: EmbeddedLockOptions): HostIdentity {
  if (options.host !== undefined && options.bootId !== undefined) {
    return { host: options.host, bootId: options.bootId };
  }
  const local = hostIdentity();
  return { host: options.host ?? local.host, bootId: options.bootId ?? local.bootId };
}

function leaseLost(lease: Lease, why: string): RolloutError {
  return new RolloutError(
    'E_LEASE_LOST',
    `Rollout ${lease.owner.rollout} lost its lease on ${lease.key} (fence ${lease.fence}): ${why}`,
  );
}

function byKey(a: LockStatus, b: LockStatus): number {
  return a.key < b.key ? -1 : a.key > b.key ? 1 : 0;
}

/** Resolves after `ms` or as soon as any signal aborts; the caller then looks at why it woke. */
function sleep(ms: number, signals: readonly (AbortSignal | undefined)[]): Promise<void> {
  return new Promise((resolve) => {
    if (signals.some((signal) => signal?.aborted === true)) {
      resolve();
      return;
    }
    const wake = (): void => {
      clearTimeout(timer);
      for (const signal of signals) {
        signal?.removeEventListener('abort', wake);
      }
      resolve();
    };
    const timer = setTimeout(wake, ms);
    for (const signal of signals) {
      signal?.addEventListener('abort', wake, { once: true });
    }
  });
}
