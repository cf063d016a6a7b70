import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createEmbeddedLockStore } from '../../src/lock/embedded/store.js';
import { hostIdentity } from '../../src/infra/host.js';
import type { LockOwner, LockStore } from '../../src/lock/types.js';
import { buildChildModule } from '../helpers/child-module.js';
import { expectFencesAboveFloors, raceForFences } from './fence-race.js';
import { makeStateDir } from './temp-dir.js';

/** Real files, real pids, real clock: the critical section must hold between stores and between processes. */

const identity = hostIdentity();
const ownerFor = (rollout: string): LockOwner => ({ ...identity, pid: process.pid, rollout });

describe('embedded lock store under real concurrency', () => {
  let stateDir: string;
  let removeStateDir: () => Promise<void>;

  beforeEach(async () => {
    ({ dir: stateDir, remove: removeStateDir } = await makeStateDir());
  });

  afterEach(async () => {
    await removeStateDir();
  });

  describe('stores in one process', () => {
    let stores: LockStore[];

    afterEach(async () => {
      await Promise.all(stores.map((store) => store.close()));
    });

    it.each([2, 8])('%i stores racing for one key: exactly one winner every round', async (count) => {
      stores = Array.from({ length: count }, () => createEmbeddedLockStore({ dir: stateDir }));
      const owners = stores.map((_, index) => ownerFor(`racer-${index}`));
      let lastFence = 0;
      for (let round = 0; round < 40; round += 1) {
        const results = await Promise.all(
          stores.map((store, index) =>
            store.acquire('aim_lock_config.conf', owners[index] ?? ownerFor('missing'), { ttlMs: 10_000, waitMs: 0 }),
          ),
        );
        const winners = results.flatMap((result) => (result.acquired ? [result.lease] : []));
        expect(winners).toHaveLength(1);
        const [winner] = winners;
        if (winner === undefined) return;
        for (const result of results) {
          if (!result.acquired) expect(result.holder.fence).toBe(winner.fence);
        }
        expect(winner.fence).toBeGreaterThan(lastFence);
        lastFence = winner.fence;
        await stores[0]?.release(winner);
      }
    });

    it('waiters queue up: every one of them gets the key in turn', async () => {
      stores = Array.from({ length: 4 }, () => createEmbeddedLockStore({ dir: stateDir, pollMs: 5 }));
      const fences = await Promise.all(
        stores.map(async (store, index) => {
          const result = await store.acquire('queue.conf', ownerFor(`waiter-${index}`), {
            ttlMs: 10_000,
            waitMs: 20_000,
          });
          if (!result.acquired) throw new Error('expected every waiter to get the key');
          await new Promise((resolve) => setTimeout(resolve, 10));
          await store.release(result.lease);
          return result.lease.fence;
        }),
      );
      expect(new Set(fences).size).toBe(4);
    });
  });

  describe('separate processes', () => {
    let lockModule: { readonly dir: string; remove: () => Promise<void> };

    beforeAll(async () => {
      lockModule = await buildChildModule('src/lock');
    });

    afterAll(async () => {
      await lockModule.remove();
    });

    it('4 processes take one key in turn, floors of their own: fences grow, none shared or below its floor', async () => {
      const holds = await raceForFences(lockModule.dir, `embedded:${stateDir}`, 4, 15);
      expectFencesAboveFloors(holds, 60);
      const store = createEmbeddedLockStore({ dir: stateDir });
      try {
        expect(await store.highestFence('fence.conf')).toBe(holds.at(-1)?.fence);
      } finally {
        await store.close();
      }
    });

    it('4 processes racing over 25 keys: exactly one winner per key, reclaimed once they exit', async () => {
      const keyCount = 25;
      const script = fileURLToPath(new URL('./acquire-child.mjs', import.meta.url));
      const children = Array.from({ length: 4 }, (_, index) =>
        spawn(process.execPath, [script, lockModule.dir, stateDir, `child-${index}`, String(keyCount)], {
          stdio: ['pipe', 'pipe', 'inherit'],
        }),
      );
      const outputs = children.map((child) => {
        let text = '';
        child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
          text += chunk;
        });
        return { child, text: () => text };
      });
      const allPrinted = (line: string): Promise<unknown> =>
        Promise.all(
          outputs.map(async ({ text }) => {
            while (!text().includes(line)) await new Promise((resolve) => setTimeout(resolve, 10));
          }),
        );
      await allPrinted('ready\n');
      for (const child of children) child.stdin.write('go\n');
      await allPrinted('done\n');
      for (const child of children) child.stdin.write('exit\n');
      const codes = await Promise.all(children.map(async (child) => (await once(child, 'exit'))[0] as number | null));
      expect(codes).toEqual([0, 0, 0, 0]);

      const attempts = outputs.flatMap(({ text }) =>
        text()
          .split('\n')
          .filter((line) => line.startsWith('{'))
          .map((line) => JSON.parse(line) as { key: string; rollout: string; acquired: boolean }),
      );
      expect(attempts).toHaveLength(4 * keyCount);
      const winnersByKey = new Map<string, string[]>();
      for (const attempt of attempts.filter((entry) => entry.acquired)) {
        winnersByKey.set(attempt.key, [...(winnersByKey.get(attempt.key) ?? []), attempt.rollout]);
      }
      expect(winnersByKey.size).toBe(keyCount);
      for (const winners of winnersByKey.values()) expect(winners).toHaveLength(1);

      const store = createEmbeddedLockStore({ dir: stateDir });
      try {
        const table = await store.list();
        expect(table.map((status) => [status.key, status.owner.rollout]).sort()).toEqual(
          [...winnersByKey].map(([key, [rollout]]) => [key, rollout]).sort(),
        );
        expect(table.every((status) => status.staleReason === 'owner_dead')).toBe(true);
        expect(await store.reclaimStale()).toHaveLength(keyCount);
        expect(await store.list()).toEqual([]);
      } finally {
        await store.close();
      }
    });
  });
});
