import { setTimeout as sleep } from 'node:timers/promises';
import { RolloutError } from '../errors.js';
import { DroneClient } from '../fleet/drone-client.js';
import type { DroneTls } from '../fleet/drone-tls.js';
import { forEachDrone } from '../fleet/for-each-drone.js';
import { describeHolder, formatDuration } from '../lock/describe.js';
import type { Lease, LockStore } from '../lock/types.js';
import type { Plan } from '../spec/types.js';
import type { DroneProgressRecord, RolloutOwner, RolloutRecord, StateStore } from '../store/types.js';
import { UNTOUCHED } from './ledger.js';
import type { ResumePoint } from './run.js';

/** Where `rollout resume` takes a rollout over from, or the result it reached while resume looked. */
export type ResumeStart = { readonly ended: RolloutRecord } | { readonly point: ResumePoint };

export interface PrepareResumeOptions {
  readonly plan: Plan;
  readonly record: RolloutRecord;
  readonly locks: LockStore;
  readonly store: StateStore;
  /** This process: the lease it re-takes is its own. */
  readonly owner: RolloutOwner;
  readonly token?: string;
  /** For `https://` drones: the CA to trust and our client certificate (loadDroneTls). */
  readonly tls?: DroneTls;
  /** What a person watching should know: waits for a lease, a lock another rollout holds. */
  readonly note: (text: string) => void;
}

/** The part of the machine's persisted snapshot that resume rewrites: the fence it holds. */
interface PersistedSnapshot {
  readonly context: { readonly fence: number | null } & Readonly<Record<string, unknown>>;
  readonly [field: string]: unknown;
}

/**
 * Reads every targeted drone's real version over HTTP and folds it into the persisted progress, so the
 * resumed rollout acts on what the drones run, not on what the dead process last wrote down.
 */
async function reread(
  plan: Plan,
  rolloutId: string,
  stored: Readonly<Record<string, DroneProgressRecord>>,
  client: DroneClient,
): Promise<{ progress: Record<string, DroneProgressRecord>; highestFence: number }> {
  const { file, sha256 } = plan.config;
  const merged: Record<string, DroneProgressRecord> = { ...stored };
  let highestFence = 0;
  const signal = new AbortController().signal;
  await forEachDrone(plan.drones, { concurrency: plan.spec.push.concurrency, signal }, async (drone) => {
    const before = stored[drone.id] ?? UNTOUCHED;
    const reply = await client.health(drone);
    if (!reply.ok) {
      merged[drone.id] = { ...before, pauseSent: true, lastError: reply.message };
      return 'continue';
    }
    const config = reply.body.configs[file];
    highestFence = Math.max(highestFence, config?.fence ?? 0);
    const now = config ? { version: config.version, sha256: config.sha256 } : null;
    const onNew = now?.sha256 === sha256;
    // Its trial of the new config lapsed while no process could confirm it: it went back by itself.
    const reverted = !onNew && config?.reverted?.rollout === rolloutId && config.reverted.sha256 === sha256;
    merged[drone.id] = {
      before: before.before ?? (onNew ? null : now),
      now,
      pauseSent: before.pauseSent || reply.body.state === 'paused',
      pushSent: before.pushSent || onNew,
      rolledBack: before.rolledBack && !onNew,
      lastError: null,
      ...(reverted || before.autoReverted === true ? { autoReverted: true } : {}),
      // Still on trial for this rollout: no confirm reached it before the process died.
      ...(onNew && config?.trial?.rollout === rolloutId ? { unconfirmed: true } : {}),
      // Still held back by the gate: the resumed rollout retries it until the same deadline.
      ...(!onNew && before.deferred !== undefined ? { deferred: before.deferred } : {}),
    };
    return 'continue';
  });
  return { progress: merged, highestFence };
}

interface RetakenLease {
  readonly lease: Lease;
  /** False when another rollout holds the lock: the lease is the old fence, kept only to be found lost. */
  readonly taken: boolean;
}

/** Beyond the holder's TTL: its last heartbeat may have landed just before this resume looked. */
const LEASE_GRACE_MS = 2_000;
/** etcd may keep a lease past its TTL (minimum TTL, a leader change): wait again while nobody renews it. */
const LEASE_WAITS = 3;

/**
 * Re-takes the rollout's lease if its snapshot held one, always with a new, larger fence. A dead owner
 * on this host is stale at once; one on another host (or a frozen one) holds its lease until the lease
 * runs out, so resume waits for that, and refuses if the lease is renewed meanwhile: that process is
 * alive, and two processes writing with one fence is what fences exist to prevent. If another rollout
 * holds the lock now, the old fence is kept: the lease keeper then reports it lost and the machine
 * rolls back what it can with it.
 */
async function retakeLease(options: PrepareResumeOptions, fence: number, fleetFence: number): Promise<RetakenLease> {
  const { plan, record, locks, note } = options;
  const { host, pid, bootId } = options.owner;
  const owner = { host, pid, bootId, rollout: record.id };
  const key = plan.config.file;
  const ttlMs = plan.spec.lock.ttlMs;
  // Above its own old fence and every fence the fleet reports, whichever store hands it out.
  const minFence = Math.max(fence, fleetFence) + 1;
  let acquired = await locks.acquire(key, owner, { ttlMs, waitMs: 0, minFence });
  for (let round = 1; !acquired.acquired && acquired.holder.owner.rollout === record.id; round += 1) {
    const before = acquired.holder;
    if (round > LEASE_WAITS) {
      throw new RolloutError(
        'E_LOCK_BUSY',
        `the config lock ${key} is still ${describeHolder(before, Date.now())} after ${LEASE_WAITS} waits for its lease to run out; check that process, then \`rollout lock release ${key} --force\` and resume again`,
      );
    }
    const waitMs = before.ttlMs + LEASE_GRACE_MS;
    note(
      `the config lock is still ${describeHolder(before, Date.now())}; waiting up to ${formatDuration(waitMs)} for that lease to run out`,
    );
    acquired = await locks.acquire(key, owner, { ttlMs, waitMs, minFence });
    if (!acquired.acquired && acquired.holder.owner.rollout === record.id) {
      const now = acquired.holder;
      if (now.fence !== before.fence) {
        throw new RolloutError(
          'E_LOCK_BUSY',
          `rollout ${record.id} was resumed meanwhile by process ${now.owner.pid} on ${now.owner.host}; \`rollout status ${record.id}\` follows it`,
        );
      }
      if (now.heartbeatAt > before.heartbeatAt) {
        throw new RolloutError(
          'E_LOCK_BUSY',
          `the config lock ${key} is still being renewed by rollout ${record.id}'s process ${now.owner.pid} on ${now.owner.host}, so that process is alive: let it finish, or \`rollout abort ${record.id}\` to stop it`,
        );
      }
    }
  }
  if (acquired.acquired) return { lease: acquired.lease, taken: true };
  note(
    `the config lock is now held by another rollout; ${record.id} sends nothing more to any drone and ends needs_attention`,
  );
  return { lease: { key, fence, owner, ttlMs }, taken: false };
}

/** How long a rollout whose process showed life while resume waited may take to write that it ended. */
const ENDING_GRACE_MS = 3_000;

/**
 * The record again, once resume holds the lock: the process it took for dead may have finished (and
 * released the lock) or shown life while resume waited. Such a rollout is reported, never run twice.
 */
async function recheck(store: StateStore, seen: RolloutRecord): Promise<RolloutRecord | 'unchanged'> {
  const deadline = Date.now() + ENDING_GRACE_MS;
  for (;;) {
    const latest = await store.getRollout(seen.id);
    if (latest === null)
      throw new RolloutError(
        'E_ROLLOUT_NOT_FOUND',
        `rollout ${seen.id} was removed from the state store while resume waited`,
      );
    if (latest.result !== null) return latest;
    const alive =
      latest.heartbeat !== seen.heartbeat || latest.updated !== seen.updated || latest.owner.pid !== seen.owner.pid;
    if (!alive) return 'unchanged';
    if (Date.now() >= deadline) {
      throw new RolloutError(
        'E_LOCK_BUSY',
        `rollout ${seen.id} is still being driven by process ${latest.owner.pid} on ${latest.owner.host} (its record changed while resume waited: ${latest.stage}); let it finish, or \`rollout abort ${seen.id}\` to stop it`,
      );
    }
    await sleep(250);
  }
}

/**
 * Everything `rollout resume` does before the machine restarts: re-reads the fleet, re-takes the lease
 * the snapshot held (a larger fence, above the fleet's), then reads the record again. A rollout that
 * ended meanwhile comes back as `ended`, with any lease taken for it released.
 */
export async function prepareResume(options: PrepareResumeOptions): Promise<ResumeStart> {
  const { plan, record, locks, store } = options;
  const client = new DroneClient({
    timeoutMs: plan.spec.push.timeoutMs,
    retries: plan.spec.push.retries,
    ...(options.token === undefined ? {} : { token: options.token }),
    ...(options.tls === undefined ? {} : { tls: options.tls }),
  });
  let fleet: Awaited<ReturnType<typeof reread>>;
  try {
    fleet = await reread(plan, record.id, await store.loadProgress(record.id), client);
  } finally {
    client.close();
  }
  const persisted = (await store.loadSnapshot(record.id)) as PersistedSnapshot | null;
  let snapshot = persisted;
  let lease: Lease | null = null;
  let taken: Lease | null = null;
  const fence = persisted?.context.fence ?? null;
  if (persisted !== null && fence !== null) {
    const retaken = await retakeLease(options, fence, fleet.highestFence);
    lease = retaken.lease;
    if (retaken.taken) taken = retaken.lease;
    snapshot = { ...persisted, context: { ...persisted.context, fence: lease.fence } };
  }
  const latest = await recheck(store, record).catch(async (error: unknown) => {
    if (taken) await locks.release(taken);
    throw error;
  });
  if (latest !== 'unchanged') {
    if (taken) await locks.release(taken);
    return { ended: latest };
  }
  return { point: { snapshot, lease, leaseTaken: taken !== null, progress: fleet.progress } };
}
