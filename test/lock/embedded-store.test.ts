import { mkdir, readFile, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { RolloutError } from '../../src/errors.js';
import { createEmbeddedLockStore } from '../../src/lock/embedded/store.js';
import type { LockOwner, LockStore } from '../../src/lock/types.js';
import {
  createFakeClock,
  createFakeProcesses,
  describeLockStoreConformance,
  type ConformanceHarness,
  type FakeClock,
  type FakeProcesses,
} from './conformance.js';
import { BOOT_ID, HOST, makeEmbeddedHarness } from './embedded-harness.js';

describeLockStoreConformance('embedded', (context) => makeEmbeddedHarness(context));

describe('embedded lock store', () => {
  const KEY = 'aim_lock_config.conf';
  const alice: LockOwner = { host: HOST, bootId: BOOT_ID, pid: 101, rollout: 'aim-v43-a' };
  const bob: LockOwner = { host: HOST, bootId: BOOT_ID, pid: 102, rollout: 'aim-v44-b' };
  let clock: FakeClock;
  let processes: FakeProcesses;
  let harness: ConformanceHarness & { readonly dir: string };
  let store: LockStore;
  let tableFile: string;

  beforeEach(async () => {
    clock = createFakeClock();
    processes = createFakeProcesses();
    harness = await makeEmbeddedHarness({ clock, processes });
    store = harness.store;
    tableFile = join(harness.dir, 'locks', 'table.json');
  });

  afterEach(async () => {
    await harness.dispose();
  });

  it('keeps one JSON table with the fence counters apart from the locks', async () => {
    const first = await store.acquire(KEY, alice, { ttlMs: 15_000, waitMs: 0 });
    if (!first.acquired) throw new Error('expected to acquire');
    await store.release(first.lease);
    const second = await store.acquire(KEY, bob, { ttlMs: 15_000, waitMs: 0 });
    expect(second.acquired).toBe(true);
    expect(JSON.parse(await readFile(tableFile, 'utf8'))).toEqual({
      version: 1,
      fences: { [KEY]: 2 },
      locks: {
        [KEY]: { key: KEY, owner: bob, fence: 2, acquiredAt: clock.now(), heartbeatAt: clock.now(), ttlMs: 15_000 },
      },
    });
  });

  it('never lowers a fence, even when the counter was removed from the file by hand', async () => {
    const first = await store.acquire(KEY, alice, { ttlMs: 15_000, waitMs: 0 });
    if (!first.acquired) throw new Error('expected to acquire');
    const table = JSON.parse(await readFile(tableFile, 'utf8')) as { fences: Record<string, number> };
    table.fences = {};
    await writeFile(tableFile, JSON.stringify(table));
    const again = await store.acquire(KEY, alice, { ttlMs: 15_000, waitMs: 0 });
    expect(again.acquired && again.lease.fence).toBe(first.lease.fence + 1);
  });

  it('renews its own lease after the TTL ran out as long as nobody reclaimed it', async () => {
    const result = await store.acquire(KEY, alice, { ttlMs: 1_000, waitMs: 0 });
    if (!result.acquired) throw new Error('expected to acquire');
    clock.advance(5_000);
    expect((await store.list())[0]?.state).toBe('stale');
    await store.renew(result.lease);
    expect((await store.list())[0]).toMatchObject({ state: 'held', heartbeatAt: clock.now() });
  });

  it('does not renew a lease whose owner process died or whose host rebooted: that caller must acquire again', async () => {
    const dead = await store.acquire('dead.conf', alice, { ttlMs: 15_000, waitMs: 0 });
    const rebooted = await store.acquire('rebooted.conf', bob, { ttlMs: 15_000, waitMs: 0 });
    if (!dead.acquired || !rebooted.acquired) throw new Error('expected to acquire');
    processes.kill(alice.pid);
    await expect(store.renew(dead.lease)).rejects.toMatchObject({
      code: 'E_LEASE_LOST',
      message: /process 101 is dead/,
    });
    const afterReboot = await harness.open({ host: HOST, bootId: 'boot-0002' });
    await expect(afterReboot.renew(rebooted.lease)).rejects.toMatchObject({
      code: 'E_LEASE_LOST',
      message: /rebooted/,
    });
  });

  it('names the holder in E_LEASE_LOST', async () => {
    const result = await store.acquire(KEY, alice, { ttlMs: 1_000, waitMs: 0 });
    if (!result.acquired) throw new Error('expected to acquire');
    clock.advance(2_000);
    await store.acquire(KEY, bob, { ttlMs: 15_000, waitMs: 0 });
    await expect(store.renew(result.lease)).rejects.toMatchObject({
      code: 'E_LEASE_LOST',
      message: expect.stringMatching(/aim-v44-b \(host orchestrator-1, pid 102\)/),
    });
  });

  describe('a corrupt table', () => {
    it.each([
      ['not JSON', '{"version": 1, "fences": '],
      ['a wrong shape', JSON.stringify({ version: 1, fences: { a: -1 }, locks: {} })],
      ['an unknown version', JSON.stringify({ version: 2, fences: {}, locks: {} })],
      [
        'a record under the wrong key',
        JSON.stringify({
          version: 1,
          fences: { a: 1 },
          locks: { a: { key: 'b', owner: alice, fence: 1, acquiredAt: 0, heartbeatAt: 0, ttlMs: 1 } },
        }),
      ],
    ])('fails with E_LOCK_STORE naming the file and what to do: %s', async (_, content) => {
      await mkdir(join(harness.dir, 'locks'), { recursive: true });
      await writeFile(tableFile, content);
      for (const operation of [
        store.list(),
        store.acquire(KEY, alice, { ttlMs: 1_000, waitMs: 0 }),
        store.reclaimStale(),
      ]) {
        const error = await operation.then(
          () => undefined,
          (reason: unknown) => reason,
        );
        expect(error).toBeInstanceOf(RolloutError);
        expect(error).toMatchObject({ code: 'E_LOCK_STORE' });
        expect((error as Error).message).toContain(tableFile);
        expect((error as Error).message).toMatch(/no rollout is running/);
      }
      expect(await readFile(tableFile, 'utf8')).toBe(content);
    });
  });

  it('breaks a critical-section marker left behind by a killed process', async () => {
    await mkdir(`${tableFile}.lock`, { recursive: true });
    const longAgo = new Date(Date.now() - 60_000);
    await utimes(`${tableFile}.lock`, longAgo, longAgo);
    await expect(store.acquire(KEY, alice, { ttlMs: 1_000, waitMs: 0 })).resolves.toMatchObject({ acquired: true });
  });

  it('close wakes a waiting acquire with E_LOCK_STORE and refuses later calls', async () => {
    await store.acquire(KEY, alice, { ttlMs: 15_000, waitMs: 0 });
    const waiting = store.acquire(KEY, bob, { ttlMs: 15_000, waitMs: 60_000 });
    await new Promise((resolve) => setTimeout(resolve, 50));
    const started = performance.now();
    await store.close();
    await expect(waiting).rejects.toMatchObject({ code: 'E_LOCK_STORE' });
    expect(performance.now() - started).toBeLessThan(1_000);
    await expect(store.list()).rejects.toMatchObject({ code: 'E_LOCK_STORE' });
  });

  it('rejects bad arguments at once, saying what it got', async () => {
    await expect(store.acquire('', alice, { ttlMs: 1_000, waitMs: 0 })).rejects.toThrow(/`key`.*got `` \(string\)/);
    await expect(store.acquire(KEY, alice, { ttlMs: 0, waitMs: 0 })).rejects.toThrow(/`ttlMs`.*got `0` \(number\)/);
    await expect(store.acquire(KEY, alice, { ttlMs: 1_000, waitMs: -1 })).rejects.toThrow(/`waitMs`/);
    await expect(store.acquire(KEY, { ...alice, pid: 0 }, { ttlMs: 1_000, waitMs: 0 })).rejects.toThrow(/`owner.pid`/);
    expect(() => createEmbeddedLockStore({ dir: harness.dir, pollMs: 0 })).toThrow(/`pollMs`/);
    expect(() => createEmbeddedLockStore({ dir: '' })).toThrow(/`dir`/);
  });

  it('defaults to this host, its boot id, the real clock and real pids', async () => {
    const real = createEmbeddedLockStore({ dir: harness.dir });
    try {
      const { hostIdentity } = await import('../../src/infra/host.js');
      const me: LockOwner = { ...hostIdentity(), pid: process.pid, rollout: 'me' };
      const result = await real.acquire('real.conf', me, { ttlMs: 60_000, waitMs: 0 });
      expect(result.acquired).toBe(true);
      const status = (await real.list()).find((entry) => entry.key === 'real.conf');
      expect(status?.state).toBe('held');
      expect(Math.abs((status?.acquiredAt ?? 0) - Date.now())).toBeLessThan(5_000);
    } finally {
      await real.close();
    }
  });
});
