import { hostname } from 'node:os';
import { writeLockRecord } from '../agent/local-lock.js';
import { WireError } from '../protocol/wire-errors.js';

/**
 * Fault injection for the simulated fleet, by drone id:
 *   hot        a LIVE foreign lock on the config: health says HOT, pushes and rollbacks get 409
 *   hotOnPush  healthy (lock free) until its first push arrives; that push plants the `hot` lock before
 *              it is handled, so it and everything after it meets the lock: a drone that turns HOT mid-rollout
 *   stale      a lock left by a dead owner: boot reclaims it (and logs it), then the drone works normally
 *   fail       pushes answer 500 config_write_failed
 *   slow       every answer is delayed by `slowMs`
 */
export interface SimFaults {
  readonly hot: ReadonlySet<string>;
  readonly hotOnPush: ReadonlySet<string>;
  readonly stale: ReadonlySet<string>;
  readonly fail: ReadonlySet<string>;
  readonly slow: ReadonlySet<string>;
}

/**
 * The `fail` fault, as the agent's `beforePushWrite` hook: a push that got past the checksum, lock and
 * fence checks answers 500 `config_write_failed` instead of writing.
 */
export function failWrite(droneId: string): (file: string) => void {
  return (file) => {
    throw new WireError(
      'config_write_failed',
      `could not write ${file} on ${droneId}: simulated write failure (fault injection)`,
    );
  };
}

/** A pid no system hands out (Linux caps pids at 2^22), so the owner reads as dead on this host. */
const DEAD_PID = 2_147_483_646;
const STALE_AGE_MS = 60 * 60 * 1000;

export type SimFaultLists = { readonly [name in keyof SimFaults]?: readonly string[] };

export function resolveFaults(lists: SimFaultLists, isDrone: (id: string) => boolean, fleetSize: number): SimFaults {
  const resolve = (name: string, ids: readonly string[] | undefined): ReadonlySet<string> => {
    for (const id of ids ?? []) {
      if (!isDrone(id))
        throw new TypeError(
          `Expected \`${name}\` to list drones of this fleet (drone-1 to drone-${fleetSize}), got ${JSON.stringify(id)}`,
        );
    }
    return new Set(ids);
  };
  return {
    hot: resolve('hot', lists.hot),
    hotOnPush: resolve('hotOnPush', lists.hotOnPush),
    stale: resolve('stale', lists.stale),
    fail: resolve('fail', lists.fail),
    slow: resolve('slow', lists.slow),
  };
}

/**
 * The HOT lock: owned by this very (live) process under host `sim`, so only its heartbeat can make it
 * stale — and the simulator's collector refreshes that heartbeat on every sweep.
 */
export async function plantHotLock(droneDir: string, file: string, acquired: number, now: number): Promise<void> {
  await writeLockRecord(droneDir, {
    file,
    owner: { pid: process.pid, host: 'sim', rollout: 'sim-hot' },
    fence: 0,
    acquired,
    heartbeat: now,
    token: 'sim-hot',
  });
}

/**
 * The HOT locks a simulator planted, kept live: each drone's lock is planted once (a request arriving
 * while it is being planted waits for the same planting; a failed one is tried again by the next), and
 * `refresh` rewrites every planted lock's heartbeat.
 */
export class HotLocks {
  readonly #file: string;
  readonly #dirOf: (id: string) => string;
  readonly #now: () => number;
  readonly #planting = new Map<string, Promise<void>>();
  /** drone → when its lock was planted, once it is. */
  readonly #acquired = new Map<string, number>();

  constructor(options: { readonly file: string; readonly dirOf: (id: string) => string; readonly now: () => number }) {
    this.#file = options.file;
    this.#dirOf = options.dirOf;
    this.#now = options.now;
  }

  plant(id: string): Promise<void> {
    let planting = this.#planting.get(id);
    if (planting === undefined) {
      const acquired = this.#now();
      planting = plantHotLock(this.#dirOf(id), this.#file, acquired, acquired).then(() => {
        this.#acquired.set(id, acquired);
      });
      this.#planting.set(id, planting);
      planting.catch(() => this.#planting.delete(id));
    }
    return planting;
  }

  /** The lock collector calls this before each sweep, so no planted lock ever looks stale. */
  async refresh(): Promise<void> {
    for (const id of this.#acquired.keys()) await this.refreshOne(id);
  }

  /** Renews one drone's planted lock, if it has one. */
  async refreshOne(id: string): Promise<void> {
    const acquired = this.#acquired.get(id);
    if (acquired !== undefined) await plantHotLock(this.#dirOf(id), this.#file, acquired, this.#now());
  }
}

/** The incident's leftover: a lock on this host whose owner pid is dead and whose heartbeat is an hour old. */
export async function plantStaleLock(droneDir: string, file: string, now: number): Promise<void> {
  await writeLockRecord(droneDir, {
    file,
    owner: { pid: DEAD_PID, host: hostname(), rollout: 'crashed-rollout' },
    fence: 0,
    acquired: now - STALE_AGE_MS,
    heartbeat: now - STALE_AGE_MS,
    token: 'sim-stale',
  });
}
