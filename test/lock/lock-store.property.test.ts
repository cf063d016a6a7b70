import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { RolloutError } from '../../src/errors.js';
import { createEmbeddedLockStore } from '../../src/lock/embedded/store.js';
import type { Lease, LockOwner, LockStatus, LockStore } from '../../src/lock/types.js';
import { createFakeClock, createFakeProcesses } from './conformance.js';
import { makeStateDir } from './temp-dir.js';

/**
 * Random interleavings of four owners on two hosts over two keys, checked step by step against what the
 * table looked like just before each step (through the acting host's eyes, which decide staleness).
 */

const KEYS = ['a.conf', 'b.conf'] as const;
type Key = (typeof KEYS)[number];
interface HostView {
  readonly host: string;
  readonly bootId: string;
}
const HOST_A: HostView = { host: 'host-a', bootId: 'boot-a' };
const HOST_B: HostView = { host: 'host-b', bootId: 'boot-b' };

type Step =
  | {
      readonly type: 'acquire';
      readonly owner: number;
      readonly key: Key;
      readonly ttlMs: number;
      /** What the paused fleet reported, if anything. */
      readonly minFence?: number;
    }
  | { readonly type: 'renew'; readonly owner: number; readonly key: Key; readonly lease: number }
  | { readonly type: 'release'; readonly owner: number; readonly key: Key; readonly lease: number }
  | { readonly type: 'reclaim'; readonly host: number }
  | { readonly type: 'advance'; readonly ms: number }
  | { readonly type: 'kill'; readonly owner: number }
  | { readonly type: 'restart'; readonly owner: number };

const ownerIndex = fc.integer({ min: 0, max: 3 });
const key = fc.constantFrom(...KEYS);
/** Which of the owner's leases on the key, counted back from the newest: old leases must be harmless. */
const lease = fc.nat({ max: 3 });
const step: fc.Arbitrary<Step> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record(
      // A floor is what the paused fleet reported: often none, sometimes below the store's fences, sometimes above.
      {
        type: fc.constant('acquire'),
        owner: ownerIndex,
        key,
        ttlMs: fc.constantFrom(500, 2_000),
        minFence: fc.nat({ max: 40 }),
      },
      { requiredKeys: ['type', 'owner', 'key', 'ttlMs'] },
    ),
  },
  { weight: 3, arbitrary: fc.record({ type: fc.constant('renew'), owner: ownerIndex, key, lease }) },
  { weight: 2, arbitrary: fc.record({ type: fc.constant('release'), owner: ownerIndex, key, lease }) },
  { weight: 1, arbitrary: fc.record({ type: fc.constant('reclaim'), host: fc.integer({ min: 0, max: 1 }) }) },
  { weight: 2, arbitrary: fc.record({ type: fc.constant('advance'), ms: fc.integer({ min: 0, max: 1_500 }) }) },
  { weight: 1, arbitrary: fc.record({ type: fc.constant('kill'), owner: ownerIndex }) },
  { weight: 1, arbitrary: fc.record({ type: fc.constant('restart'), owner: ownerIndex }) },
);

interface Actor {
  owner: LockOwner;
  alive: boolean;
  /** Every lease this owner got per key, oldest first; a restarted rollout keeps them, as persisted state would. */
  readonly leases: Map<Key, Lease[]>;
  readonly store: LockStore;
}

function pickLease(actor: Actor, key: Key, back: number): Lease | undefined {
  const leases = actor.leases.get(key) ?? [];
  return leases[Math.max(0, leases.length - 1 - back)];
}

function sameProcess(a: LockOwner, b: LockOwner): boolean {
  return a.host === b.host && a.bootId === b.bootId && a.pid === b.pid && a.rollout === b.rollout;
}

async function tableOf(store: LockStore): Promise<Map<string, LockStatus>> {
  return new Map((await store.list()).map((status) => [status.key, status]));
}

/**
 * The test's own reading of staleness, so that a store wrong about it cannot pass by agreeing with itself:
 * `gone` when the viewer can tell the owner process is dead or from an earlier boot.
 */
function expectedStaleness(
  record: LockStatus,
  viewer: HostView,
  now: number,
  dead: ReadonlySet<number>,
): 'gone' | 'expired' | undefined {
  if (record.owner.host === viewer.host && (record.owner.bootId !== viewer.bootId || dead.has(record.owner.pid))) {
    return 'gone';
  }
  return now - record.heartbeatAt > record.ttlMs ? 'expired' : undefined;
}

async function run(steps: readonly Step[]): Promise<void> {
  const { dir, remove } = await makeStateDir();
  const clock = createFakeClock();
  const processes = createFakeProcesses();
  const open = (view: HostView): LockStore =>
    createEmbeddedLockStore({ dir, ...view, now: clock.now, isPidAlive: processes.isPidAlive });
  const stores = [open(HOST_A), open(HOST_B)] as const;
  let nextPid = 1_000;
  // Owners 0 and 2 run on host A, 1 and 3 on host B.
  const actors: Actor[] = [0, 1, 2, 3].map((index) => ({
    owner: { ...(index % 2 === 0 ? HOST_A : HOST_B), pid: (nextPid += 1), rollout: `rollout-${index}` },
    alive: true,
    leases: new Map(),
    store: index % 2 === 0 ? stores[0] : stores[1],
  }));
  const highestFence = new Map<string, number>();
  const dead = new Set<number>();

  try {
    for (const current of steps) {
      switch (current.type) {
        case 'advance':
          clock.advance(current.ms);
          break;
        case 'kill': {
          const actor = actors[current.owner];
          if (!actor?.alive) break;
          processes.kill(actor.owner.pid);
          dead.add(actor.owner.pid);
          actor.alive = false;
          break;
        }
        case 'restart': {
          const actor = actors[current.owner];
          if (actor === undefined || actor.alive) break;
          actor.owner = { ...actor.owner, pid: (nextPid += 1) };
          actor.alive = true;
          break;
        }
        case 'acquire': {
          const actor = actors[current.owner];
          if (!actor?.alive) break;
          const before = (await tableOf(actor.store)).get(current.key);
          const free =
            before === undefined ||
            expectedStaleness(before, actor.owner, clock.now(), dead) !== undefined ||
            sameProcess(before.owner, actor.owner);
          const { ttlMs, minFence } = current;
          const floor = minFence === undefined ? {} : { minFence };
          const result = await actor.store.acquire(current.key, actor.owner, { ttlMs, waitMs: 0, ...floor });
          expect(
            result.acquired,
            `acquire ${current.key} by ${actor.owner.rollout} over ${JSON.stringify(before)}`,
          ).toBe(free);
          if (result.acquired) {
            // The next fence up, or the floor if that is higher: never lower, never a gap it need not make.
            expect(result.lease.fence).toBe(Math.max((highestFence.get(current.key) ?? 0) + 1, minFence ?? 0));
            highestFence.set(current.key, result.lease.fence);
            actor.leases.set(current.key, [...(actor.leases.get(current.key) ?? []), result.lease]);
          } else {
            expect(result.holder.fence).toBe(before?.fence);
          }
          break;
        }
        case 'renew': {
          const actor = actors[current.owner];
          const lease = actor === undefined ? undefined : pickLease(actor, current.key, current.lease);
          if (actor === undefined || !actor.alive || lease === undefined) break;
          const before = (await tableOf(actor.store)).get(current.key);
          const outcome = await actor.store.renew(lease).then(
            () => 'renewed' as const,
            (error: unknown) => error,
          );
          // Renewable: still the table's fence, and its owner not known to be gone (a restarted rollout
          // must acquire again); an expired lease nobody reclaimed yet is still renewable.
          const renewable =
            before?.fence === lease.fence && expectedStaleness(before, actor.owner, clock.now(), dead) !== 'gone';
          if (outcome === 'renewed') {
            expect(renewable).toBe(true);
            const after = (await tableOf(actor.store)).get(current.key);
            expect(after).toMatchObject({ fence: lease.fence, heartbeatAt: clock.now(), state: 'held' });
          } else {
            expect(outcome).toBeInstanceOf(RolloutError);
            expect(outcome).toMatchObject({ code: 'E_LEASE_LOST' });
            expect(renewable).toBe(false);
          }
          break;
        }
        case 'release': {
          const actor = actors[current.owner];
          const lease = actor === undefined ? undefined : pickLease(actor, current.key, current.lease);
          if (actor === undefined || !actor.alive || lease === undefined) break;
          const before = (await tableOf(actor.store)).get(current.key);
          await actor.store.release(lease);
          const after = (await tableOf(actor.store)).get(current.key);
          expect(after).toEqual(before?.fence === lease.fence ? undefined : before);
          break;
        }
        case 'reclaim': {
          const store = current.host === 0 ? stores[0] : stores[1];
          const before = [...(await tableOf(store)).values()];
          const freed = await store.reclaimStale();
          expect(freed).toEqual(before.filter((status) => status.state === 'stale'));
          expect(await store.list()).toEqual(before.filter((status) => status.state === 'held'));
          break;
        }
      }
      await checkTable(
        actors,
        [
          { view: HOST_A, store: stores[0] },
          { view: HOST_B, store: stores[1] },
        ],
        clock.now(),
        dead,
      );
      for (const key of KEYS) {
        expect(await stores[1].highestFence(key), `highestFence(${key})`).toBe(highestFence.get(key) ?? 0);
      }
    }
  } finally {
    await Promise.all(stores.map((store) => store.close()));
    await remove();
  }
}

/**
 * Through every host's eyes: each lock has the state the test expects, and at most one living owner holds a
 * live lease on a key.
 */
async function checkTable(
  actors: readonly Actor[],
  hosts: readonly { readonly view: HostView; readonly store: LockStore }[],
  now: number,
  dead: ReadonlySet<number>,
): Promise<void> {
  for (const { view, store } of hosts) {
    const table = await tableOf(store);
    for (const record of table.values()) {
      const stale = expectedStaleness(record, view, now, dead) !== undefined;
      expect(record.state, `${record.key} seen from ${view.host}`).toBe(stale ? 'stale' : 'held');
    }
    for (const key of KEYS) {
      const record = table.get(key);
      const holders = actors.filter(
        (actor) =>
          actor.alive &&
          record?.state === 'held' &&
          (actor.leases.get(key) ?? []).some((held) => held.fence === record.fence),
      );
      expect(holders.length).toBeLessThanOrEqual(1);
    }
  }
}

describe('embedded lock store under random interleavings', () => {
  it('never two live holders, fences rise (to any floor asked), reclaims only stale locks, renews only holders', async () => {
    await fc.assert(fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 30 }), run), { numRuns: 200 });
  });
});
