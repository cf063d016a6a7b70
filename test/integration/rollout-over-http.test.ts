import { hostname } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startFleetSim, writeInventory, type RunningFleet } from '../../src/agent/fleet-sim.js';
import { writeLockRecord } from '../../src/agent/local-lock.js';
import { createEmbeddedLockStore } from '../../src/lock/embedded-store.js';
import type { LockStore } from '../../src/lock/types.js';
import type { VerdictRecord } from '../../src/machine/types.js';
import { runRollout, type RunningRollout } from '../../src/runner/run-rollout.js';
import { createEmbeddedStateStore } from '../../src/store/embedded-store.js';
import type { StateStore } from '../../src/store/types.js';
import { loadPlan } from '../../src/spec/load-plan.js';
import { tempDir } from '../helpers/cli.js';
import { writeFile } from 'node:fs/promises';
import { ROOT } from '../helpers/cli.js';

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

  progress(): void {}

  verdict(record: VerdictRecord): void {
    this.verdicts.push(record);
  }

  until(match: (stage: string) => boolean): Promise<void> {
    if (this.stages.some(match)) return Promise.resolve();
    return new Promise((done) => this.#waiters.push({ match, done }));
  }
}

describe('a rollout over real HTTP against real agents', () => {
  let fleet: RunningFleet;
  let work: { path: string; remove(): Promise<void> };
  let locks: LockStore;
  let store: StateStore;
  let inventory: string;

  async function health(id: string): Promise<Health> {
    return (await (await fetch(`${fleet.url}/d/${id}/v1/health`, { headers: token ? { authorization: `Bearer ${token}` } : {} })).json()) as Health;
  }

  let token: string | undefined;

  async function startFleet(drones: number, options: { token?: string } = {}): Promise<void> {
    token = options.token;
    fleet = await startFleetSim({ drones, dir: join(work.path, 'fleet'), logger: pino({ level: 'silent' }), ...(options.token ? { token: options.token } : {}) });
    inventory = join(work.path, 'fleet.yaml');
    await writeInventory(inventory, fleet.drones);
  }

  async function spec(name: string, lines: string[]): Promise<string> {
    const path = join(work.path, `${name}.yaml`);
    await writeFile(
      path,
      [
        `name: ${name}`,
        `config: { file: ${FILE}, source: ${join(ROOT, 'rollouts', 'configs', 'aim_lock_config.conf')} }`,
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
    await work.remove();
  });

  it('writes every config with the lease fence; the next rollout carries a larger one', async () => {
    await startFleet(6);
    const path = await spec('fenced', ['canary: { drones: 2, bake: 0s }', 'waves: [{ percent: 100, bake: 0s }]']);
    const first = await (await start(path, new StageLog())).done;
    expect(first.result).toBe('promoted');
    const fences = await Promise.all(fleet.drones.map(async (d) => (await health(d.id)).configs[FILE]?.fence));
    expect(new Set(fences).size).toBe(1);
    const fence = fences[0] as number;
    expect(fence).toBeGreaterThan(0);

    const second = await (await start(path, new StageLog())).done;
    expect(second.result).toBe('promoted');
    expect((await health('drone-1')).configs[FILE]?.fence).toBe(fence + 1);
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
    for (const drone of fleet.drones) {
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
    const log = new StageLog();
    const running = await start(path, log);
    // Another owner (alive: this very process) takes drone-10's local lock as the wave starts.
    await log.until((s) => s.startsWith('canary: pushing'));
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
    const log = new StageLog();
    const running = await start(path, log);
    await log.until((s) => s.startsWith('canary: baking'));
    await plantForeignLock('drone-6');
    const report = await running.done;
    expect(report).toMatchObject({ result: 'aborted_hot', hot: ['drone-6'] });
    expect(report.drones['drone-1']?.state).toBe('rolled_back');
    expect(report.drones['drone-3']?.state).toBe('unchanged');
    expect(log.stages.some((s) => s.startsWith('wave'))).toBe(false);
    await expectFleetOnV42();
  });

  it('rolls back when its lease is taken over mid-bake, and the new holder has a larger fence', async () => {
    await startFleet(5);
    const path = await spec('loses-lease', [
      'lock: { ttl: 600ms }',
      'canary: { drones: 2, bake: 5s }',
      'analysis: { interval: 500ms, min_samples: 1, metrics: [{ name: heart_rate, max: 200 }] }',
    ]);
    const log = new StageLog();
    const running = await start(path, log);
    await log.until((s) => s.startsWith('canary: baking'));
    const held = (await locks.list())[0];
    expect(held?.state).toBe('held');
    await locks.forceRelease(FILE, { force: true });
    const other = await locks.acquire(FILE, { host: 'other-host', pid: 1, rollout: 'other', bootId: 'b' }, { ttlMs: 60_000, waitMs: 0 });
    expect(other.acquired).toBe(true);
    const report = await running.done;
    expect(report.result).toBe('rolled_back');
    expect(report.reason).toMatch(/lease lost/);
    if (other.acquired) {
      expect(other.lease.fence).toBeGreaterThan(held?.fence ?? Infinity);
      await locks.release(other.lease);
    }
    for (const drone of fleet.drones) expect((await health(drone.id)).configs[FILE]?.version).toBe('v42');
  });

  it('talks to agents that require a token, and stops at once without it', async () => {
    await startFleet(4, { token: 's3cret' });
    const path = await spec('tokened', ['canary: { drones: 1, bake: 0s }']);
    const refused = await (await start(path, new StageLog())).done;
    expect(refused.result).toBe('rolled_back');
    expect(refused.reason).toMatch(/unauthorized/);
    const promoted = await (await start(path, new StageLog(), { token: 's3cret' })).done;
    expect(promoted.result).toBe('promoted');
    expect((await health('drone-4')).configs[FILE]?.version).toBe(promoted.config.version);
  });
});
