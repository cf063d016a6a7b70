import { hostname } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startFleetSim, writeInventory, type RunningFleet } from '../../src/simulator/fleet-sim.js';
import { writeLockRecord } from '../../src/agent/local-lock.js';
import { createEmbeddedLockStore } from '../../src/lock/embedded/store.js';
import type { LockStore } from '../../src/lock/types.js';
import type { VerdictRecord } from '../../src/rollout/machine-types.js';
import { runRollout, type RunningRollout } from '../../src/rollout/run.js';
import { createEmbeddedStateStore } from '../../src/store/embedded/store.js';
import type { StateStore } from '../../src/store/types.js';
import { loadPlan } from '../../src/spec/load-plan.js';
import { shippedConfig, tempDir } from '../helpers/cli.js';
import { writeFile } from 'node:fs/promises';

const FILE = 'aim_lock_config.conf';

interface Health {
  state: string;
  configs: Record<string, { version: string; sha256: string; lock: string; fence: number }>;
}

/** Records what the runner reports, so a test can wait for a stage. */
class StageLog {
  readonly stages: string[] = [];
  readonly verdicts: VerdictRecord[] = [];
  #waiters: { match: (s: string) => boolean; done: () => void }[] = [];

  stage(label: string): void {
    this.stages.push(label);
    this.#waiters = this.#waiters.filter((w) => (w.match(label) ? (w.done(), false) : true));
  }

  progress(): void {
    // Progress counts are not what these tests look at.
  }

  /** `canary 2/2`: each verdict with the number of intervals the observer was told its step has. */
  readonly counted: string[] = [];

  verdict(record: VerdictRecord, intervals: number): void {
    this.verdicts.push(record);
    this.counted.push(`${record.step} ${record.interval}/${intervals}`);
  }

  readonly notes: string[] = [];

  note(text: string): void {
    this.notes.push(text);
  }

  until(match: (stage: string) => boolean): Promise<void> {
    if (this.stages.some(match)) return Promise.resolve();
    return new Promise((done) => this.#waiters.push({ match, done }));
  }
}

describe('a rollout over real HTTP against real agents', () => {
  /** Set by startFleet, which each test calls; undefined before that, or if it failed. */
  let fleet: RunningFleet | undefined;
  let work: { path: string; remove(): Promise<void> };
  let locks: LockStore;
  let store: StateStore;
  let inventory: string;

  async function health(id: string): Promise<Health> {
    return (await (
      await fetch(`${fleet!.url}/d/${id}/v1/health`, { headers: token ? { authorization: `Bearer ${token}` } : {} })
    ).json()) as Health;
  }

  let token: string | undefined;

  async function startFleet(drones: number, options: { token?: string } = {}): Promise<void> {
    token = options.token;
    fleet = await startFleetSim({
      drones,
      dir: join(work.path, 'fleet'),
      logger: pino({ level: 'silent' }),
      ...(options.token ? { token: options.token } : {}),
    });
    inventory = join(work.path, 'fleet.yaml');
    await writeInventory(inventory, fleet.drones);
  }

  async function spec(name: string, lines: string[], config = 'aim_lock_config.conf'): Promise<string> {
    const path = join(work.path, `${name}.yaml`);
    await writeFile(
      path,
      [
        `name: ${name}`,
        `config: { file: ${FILE}, source: ${await shippedConfig(work.path, config)} }`,
        `fleet: { inventory: ${inventory} }`,
        ...lines,
      ].join('\n'),
    );
    return path;
  }

  async function start(specPath: string, log: StageLog, options: { token?: string } = {}): Promise<RunningRollout> {
    const plan = await loadPlan(specPath);
    return runRollout({
      plan,
      locks,
      store,
      owner: { host: hostname(), pid: process.pid, bootId: 'test-boot', user: 'tester' },
      specDigest: 'test',
      logger: pino({ level: 'silent' }),
      observer: log,
      ...(options.token ? { token: options.token } : {}),
    });
  }

  /** Starts a rollout and waits until it reports a stage that starts with `prefix`. */
  async function startUntil(specPath: string, prefix: string): Promise<{ running: RunningRollout; log: StageLog }> {
    const log = new StageLog();
    const running = await start(specPath, log);
    await log.until((stage) => stage.startsWith(prefix));
    return { running, log };
  }

  beforeEach(async () => {
    work = await tempDir('rollout-int-');
    locks = createEmbeddedLockStore({ dir: join(work.path, 'state'), bootId: 'test-boot' });
    store = createEmbeddedStateStore({ dir: join(work.path, 'state') });
  });

  afterEach(async () => {
    expect(await locks.list()).toEqual([]);
    await locks.close();
    await store.close();
    await fleet?.close();
    fleet = undefined;
    await work.remove();
  });

  it('writes every config with the lease fence; the next rollout carries a larger one', async () => {
    await startFleet(6);
    const path = await spec('fenced', ['canary: { drones: 2, bake: 0s }', 'waves: [{ percent: 100, bake: 0s }]']);
    const first = await (await start(path, new StageLog())).done;
    expect(first.result).toBe('promoted');
    const fences = await Promise.all(fleet!.drones.map(async (d) => (await health(d.id)).configs[FILE]?.fence));
    expect(new Set(fences).size).toBe(1);
    const fence = fences[0] as number;
    expect(fence).toBeGreaterThan(0);

    const next = await spec(
      'fenced-next',
      ['canary: { drones: 2, bake: 0s }', 'waves: [{ percent: 100, bake: 0s }]'],
      'aim_lock_config.bad.conf',
    );
    const second = await (await start(next, new StageLog())).done;
    expect(second.result).toBe('promoted');
    expect((await health('drone-1')).configs[FILE]?.fence).toBe(fence + 1);

    // The same config again: the fleet already runs it, so the run ends at once, promoted, pushing nothing.
    const again = await (await start(next, new StageLog())).done;
    expect(again).toMatchObject({
      result: 'promoted',
      exitCode: 0,
      reason: expect.stringMatching(/^nothing to do: every targeted drone already runs/),
    });
    expect((await health('drone-1')).configs[FILE]?.fence).toBe(fence + 1);
  });

  it("reports each verdict against its own step's intervals, also the last one before the next step", async () => {
    await startFleet(4);
    const path = await spec('counted', [
      'canary: { drones: 2, bake: 1s }',
      'analysis: { interval: 500ms, min_samples: 1, metrics: [{ name: heart_rate, max: 200 }] }',
      'waves: [{ percent: 100, bake: 500ms }]',
    ]);
    const log = new StageLog();
    const report = await (await start(path, log)).done;
    expect(report.result, report.reason).toBe('promoted');
    expect(log.counted).toEqual(['canary 1/2', 'canary 2/2', 'wave 1 1/1']);
  });

  it('takes a fence above every fence the paused fleet reports, from a fresh lock store', async () => {
    await startFleet(3);
    const path = await spec('first', ['canary: { drones: 1, bake: 0s }']);
    expect((await (await start(path, new StageLog())).done).result).toBe('promoted');
    const seen = (await health('drone-1')).configs[FILE]?.fence ?? 0;
    // Another team's state dir: its lock table has never handed out a fence for this config.
    await locks.close();
    locks = createEmbeddedLockStore({ dir: join(work.path, 'other-state'), bootId: 'test-boot' });
    const next = await spec('second', ['canary: { drones: 1, bake: 0s }'], 'aim_lock_config.bad.conf');
    const second = await (await start(next, new StageLog())).done;
    expect(second.result, second.reason).toBe('promoted');
    expect(second.hot).toEqual([]);
    expect((await health('drone-1')).configs[FILE]?.fence).toBe(seen + 1);
  });

  async function plantForeignLock(id: string): Promise<void> {
    const now = Date.now();
    await writeLockRecord(join(work.path, 'fleet', id), {
      file: FILE,
      owner: { pid: process.pid, host: hostname(), rollout: 'someone-else' },
      fence: 0,
      acquired: now,
      heartbeat: now + 60_000,
      token: 'planted',
    });
  }

  async function expectFleetOnV42(): Promise<void> {
    for (const drone of fleet!.drones) {
      const h = await health(drone.id);
      expect(h.state).toBe('active');
      expect(h.configs[FILE]?.version).toBe('v42');
    }
  }

  it('aborts when a drone turns HOT during a wave push: no push after the HOT answer, every pushed drone rolled back', async () => {
    await startFleet(12);
    const path = await spec('turns-hot', [
      'canary: { drones: 2, bake: 0s }',
      'waves: [{ percent: 100, bake: 0s }]',
      'push: { concurrency: 1, timeout: 5s, retries: 0 }',
    ]);
    const { running } = await startUntil(path, 'canary: pushing');
    // Another owner (alive: this very process) takes drone-10's local lock as the wave starts.
    await plantForeignLock('drone-10');
    const report = await running.done;
    expect(report).toMatchObject({ result: 'aborted_hot', hot: ['drone-10'], exitCode: 4 });
    // Concurrency 1 in inventory order: drones 1 … 9 took the config before drone-10 said HOT; 11 and 12 never got a push.
    for (let i = 1; i <= 9; i += 1) expect(report.drones[`drone-${i}`]?.state).toBe('rolled_back');
    expect(report.drones['drone-10']?.state).toBe('unchanged');
    for (const id of ['drone-11', 'drone-12']) {
      expect(report.drones[id]?.state).toBe('unchanged');
      expect((await health(id)).configs[FILE]?.fence).toBe(0);
    }
    await expectFleetOnV42();
  });

  it('aborts when telemetry shows a HOT lock during a bake, before the next push', async () => {
    await startFleet(8);
    const path = await spec('hot-in-bake', [
      'canary: { drones: 2, bake: 2s }',
      'analysis: { interval: 500ms, min_samples: 1, metrics: [{ name: heart_rate, max: 200 }] }',
      'waves: [{ percent: 100, bake: 0s }]',
    ]);
    const { running, log } = await startUntil(path, 'canary: baking');
    await plantForeignLock('drone-6');
    const report = await running.done;
    expect(report).toMatchObject({ result: 'aborted_hot', hot: ['drone-6'] });
    expect(report.drones['drone-1']?.state).toBe('rolled_back');
    expect(report.drones['drone-3']?.state).toBe('unchanged');
    expect(log.stages.some((s) => s.startsWith('wave'))).toBe(false);
    await expectFleetOnV42();
  });

  /** A rollout of 2 canaries out of 5 drones with a 600 ms lease, once its canary bakes, and its lock. */
  async function bakingWithShortLease(name: string) {
    await startFleet(5);
    const path = await spec(name, [
      'lock: { ttl: 600ms }',
      'canary: { drones: 2, bake: 5s }',
      'analysis: { interval: 500ms, min_samples: 1, metrics: [{ name: heart_rate, max: 200 }] }',
    ]);
    const { running } = await startUntil(path, 'canary: baking');
    return { running, held: (await locks.list())[0] };
  }

  it('whose lease another rollout took mid-bake sends no rollback: its drones are left to the holder, needs_attention', async () => {
    const { running, held } = await bakingWithShortLease('loses-lease');
    expect(held?.state).toBe('held');
    await locks.forceRelease(FILE, { force: true });
    const other = await locks.acquire(
      FILE,
      { host: 'other-host', pid: 1, rollout: 'other', bootId: 'b' },
      { ttlMs: 60_000, waitMs: 0 },
    );
    expect(other.acquired).toBe(true);
    const report = await running.done;
    expect(report.result).toBe('needs_attention');
    expect(report.reason).toMatch(/lease lost.*the config lock is now held by rollout other/);
    expect([...report.attention].sort()).toEqual(['drone-1', 'drone-2']);
    if (other.acquired) {
      expect(other.lease.fence).toBeGreaterThan(held?.fence ?? Infinity);
      // The holder's lock is still the holder's: the run that lost it released nothing.
      expect((await locks.list()).map((l) => l.owner.rollout)).toEqual(['other']);
      await locks.release(other.lease);
    }
    for (const drone of fleet!.drones) {
      const state = await health(drone.id);
      expect(state.state).toBe('active');
      expect(state.configs[FILE]?.version).toBe(report.attention.includes(drone.id) ? report.config.version : 'v42');
    }
  });

  it('whose lease was freed with nobody taking it re-takes the lock with a larger fence and rolls back', async () => {
    const { running, held } = await bakingWithShortLease('retakes-lease');
    await locks.forceRelease(FILE, { force: true });
    const report = await running.done;
    expect(report.result).toBe('rolled_back');
    expect(report.reason).toMatch(/lease lost/);
    const rollbackFences = await Promise.all(
      ['drone-1', 'drone-2'].map(async (id) => (await health(id)).configs[FILE]?.fence ?? 0),
    );
    for (const fence of rollbackFences) expect(fence).toBeGreaterThan(held?.fence ?? Infinity);
    for (const drone of fleet!.drones) expect((await health(drone.id)).configs[FILE]?.version).toBe('v42');
    expect(await locks.list()).toEqual([]);
  });

  it('talks to agents that require a token, and stops at once without it', async () => {
    await startFleet(4, { token: 's3cret' });
    const path = await spec('tokened', ['canary: { drones: 1, bake: 0s }']);
    const refused = await (await start(path, new StageLog())).done;
    // A wrong token is the rollout's configuration, not the drones' health: invalid, and nothing pushed.
    expect(refused.result).toBe('invalid');
    expect(refused.exitCode).toBe(2);
    expect(refused.reason).toMatch(/drone-\d answered 401 unauthorized while pausing the fleet: .*--token-file/);
    expect(refused.reason).not.toMatch(/unauthorized: unauthorized/);
    for (const drone of fleet!.drones) expect((await health(drone.id)).configs[FILE]?.version).toBe('v42');
    const promoted = await (await start(path, new StageLog(), { token: 's3cret' })).done;
    expect(promoted.result).toBe('promoted');
    expect((await health('drone-4')).configs[FILE]?.version).toBe(promoted.config.version);
  });
});
