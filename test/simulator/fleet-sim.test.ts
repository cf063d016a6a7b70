import { access, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, test } from 'vitest';
import { parse } from 'yaml';
import { sha256Hex } from '../../src/agent/checksum.js';
import {
  SIM_INITIAL_CONFIG,
  startFleetSim,
  writeInventory,
  type FleetSimOptions,
  type RunningFleet,
} from '../../src/simulator/fleet-sim.js';
import { call, FILE, GOOD_CONFIG, hotBody, memoryLogger, pushBody, tempDirs } from '../agent/helpers.js';

const fleets: RunningFleet[] = [];
const dirs = tempDirs();
afterEach(async () => {
  await Promise.all(fleets.splice(0).map((fleet) => fleet.close()));
  await dirs.cleanup();
});

async function startFleet(options: FleetSimOptions): Promise<RunningFleet> {
  const fleet = await startFleetSim(options);
  fleets.push(fleet);
  return fleet;
}

const urlOf = (fleet: RunningFleet, id: string): string => `${fleet.url}/d/${id}`;

/** Who holds a HOT drone's lock in the simulator. */
const SIM_HOT_HOLDER = { pid: process.pid, host: 'sim', rollout: 'sim-hot' };

describe('a simulated fleet of three', () => {
  test('lists its drones with their URLs and labels, each starting on config v42', async () => {
    const dir = await dirs.make();
    const fleet = await startFleet({ drones: 3, dir, logger: memoryLogger().logger });

    const health = await call(urlOf(fleet, 'drone-2'), 'GET', '/v1/health');

    expect(fleet.drones).toEqual([
      { id: 'drone-1', url: `${fleet.url}/d/drone-1`, labels: { group: 'patrol', zone: 'zone-a' } },
      { id: 'drone-2', url: `${fleet.url}/d/drone-2`, labels: { group: 'patrol', zone: 'zone-b' } },
      { id: 'drone-3', url: `${fleet.url}/d/drone-3`, labels: { group: 'patrol', zone: 'zone-c' } },
    ]);
    expect(health.body).toEqual({
      id: 'drone-2',
      state: 'active',
      configs: { [FILE]: { version: 'v42', sha256: sha256Hex(SIM_INITIAL_CONFIG), lock: 'free', fence: 0 } },
      auth: 'none',
      features: ['pause_hold', 'trial_config', 'operational_state'],
      holds: [],
      lapsed: [],
      operational: { flight: 'grounded', battery: 100, mission: null },
    });
    expect(await readFile(join(dir, 'drone-2', FILE), 'utf8')).toBe(
      '# aim lock config\naim_sensitivity = 0.80\nsafety_threshold = 0.95\nmax_turn_rate = 30\n',
    );
  });

  test('with faults: HOT refuses with 409, stale is reclaimed at boot, fail answers 500, slow is slow', async () => {
    const { logger, lines } = memoryLogger();
    const fleet = await startFleet({
      drones: 3,
      hot: ['drone-1'],
      stale: ['drone-2'],
      fail: ['drone-3'],
      slow: ['drone-3'],
      slowMs: 300,
      lockTtlMs: 300,
      logger,
    });

    const hotHealth = await call(urlOf(fleet, 'drone-1'), 'GET', '/v1/health');
    const hotPush = await call(urlOf(fleet, 'drone-1'), 'PUT', `/v1/configs/${FILE}`, pushBody(GOOD_CONFIG));
    const hotRollback = await call(urlOf(fleet, 'drone-1'), 'POST', `/v1/configs/${FILE}/rollback`, {
      rollout: 'r-1',
      fence: 1,
    });
    const hotLocks = await call(urlOf(fleet, 'drone-1'), 'GET', '/v1/locks');
    const stalePush = await call(urlOf(fleet, 'drone-2'), 'PUT', `/v1/configs/${FILE}`, pushBody(GOOD_CONFIG));
    const started = Date.now();
    const failPush = await call(urlOf(fleet, 'drone-3'), 'PUT', `/v1/configs/${FILE}`, pushBody(GOOD_CONFIG));
    const slowTook = Date.now() - started;

    const hot = hotBody(SIM_HOT_HOLDER);
    expect(hotHealth.body.configs).toMatchObject({ [FILE]: { lock: 'HOT' } });
    expect(hotPush).toEqual({ status: 409, body: hot });
    expect(hotRollback).toEqual({ status: 409, body: hot });
    expect(hotLocks.body.locks).toEqual([
      expect.objectContaining({
        file: FILE,
        owner: SIM_HOT_HOLDER,
        state: 'held',
      }),
    ]);
    expect(lines).toContainEqual(
      expect.objectContaining({ level: 40, drone: 'drone-2', file: FILE, reason: 'owner_dead' }),
    );
    expect(stalePush.status).toBe(200);
    expect(failPush.status).toBe(500);
    expect(failPush.body.error).toBe('config_write_failed');
    expect(slowTook).toBeGreaterThanOrEqual(300);
  });

  test("a HOT drone stays HOT past the lock TTL: the collector keeps its owner's heartbeat fresh", async () => {
    const fleet = await startFleet({ drones: 3, hot: ['drone-3'], lockTtlMs: 150, logger: memoryLogger().logger });

    await sleep(500);

    expect((await call(urlOf(fleet, 'drone-3'), 'GET', '/v1/health')).body.configs).toMatchObject({
      [FILE]: { lock: 'HOT' },
    });
  });

  test('a hot-on-push drone is free until its first push, which plants the HOT lock first: that push and the next get 409; /sim/stats counts', async () => {
    const t0 = 1_700_000_000_000;
    const fleet = await startFleet({ drones: 3, hotOnPush: ['drone-2'], now: () => t0, logger: memoryLogger().logger });
    const stats = async () => (await call(fleet.url, 'GET', '/sim/stats')).body;

    const healthBefore = await call(urlOf(fleet, 'drone-2'), 'GET', '/v1/health');
    const pause = await call(urlOf(fleet, 'drone-2'), 'POST', '/v1/pause', { rollout: 'r-1' });
    const okPush = await call(urlOf(fleet, 'drone-1'), 'PUT', `/v1/configs/${FILE}`, pushBody(GOOD_CONFIG));
    const statsBefore = await stats();
    const firstPush = await call(urlOf(fleet, 'drone-2'), 'PUT', `/v1/configs/${FILE}`, pushBody(GOOD_CONFIG));
    const secondPush = await call(urlOf(fleet, 'drone-2'), 'PUT', `/v1/configs/${FILE}`, pushBody(GOOD_CONFIG));
    const latePush = await call(urlOf(fleet, 'drone-3'), 'PUT', `/v1/configs/${FILE}`, pushBody(GOOD_CONFIG));
    const healthAfter = await call(urlOf(fleet, 'drone-2'), 'GET', '/v1/health');
    await call(urlOf(fleet, 'drone-1'), 'POST', `/v1/configs/${FILE}/rollback`, { rollout: 'r-1', fence: 1 });
    await call(urlOf(fleet, 'drone-2'), 'POST', '/v1/resume', { rollout: 'r-1' });

    const hot = hotBody(SIM_HOT_HOLDER);
    expect(healthBefore.body.configs).toMatchObject({ [FILE]: { version: 'v42', lock: 'free' } });
    expect(pause.body).toMatchObject({ state: 'paused', configs: { [FILE]: { lock: 'free' } } });
    expect(okPush.status).toBe(200);
    expect(statsBefore).toEqual({
      pushes: 1,
      firstHotAnswer: null,
      pushesAfterFirstHot: 0,
      rollbacks: 0,
      resumes: 0,
      lastCleanupAnswerT: null,
    });
    expect(firstPush).toEqual({ status: 409, body: hot });
    expect(secondPush).toEqual({ status: 409, body: hot });
    expect(latePush.status).toBe(200);
    expect(healthAfter.body.configs).toMatchObject({ [FILE]: { version: 'v42', lock: 'HOT' } });
    expect(await stats()).toEqual({
      pushes: 4,
      firstHotAnswer: { drone: 'drone-2', t: t0 },
      pushesAfterFirstHot: 2,
      rollbacks: 1,
      resumes: 1,
      lastCleanupAnswerT: t0,
    });
  });

  test("a hot-on-push drone's concurrent first pushes all meet the lock, and it stays HOT past the lock TTL", async () => {
    const fleet = await startFleet({
      drones: 3,
      hotOnPush: ['drone-3'],
      lockTtlMs: 150,
      logger: memoryLogger().logger,
    });

    const first = await Promise.all(
      Array.from({ length: 4 }, () =>
        call(urlOf(fleet, 'drone-3'), 'PUT', `/v1/configs/${FILE}`, pushBody(GOOD_CONFIG)),
      ),
    );
    await sleep(500);
    const later = await call(urlOf(fleet, 'drone-3'), 'PUT', `/v1/configs/${FILE}`, pushBody(GOOD_CONFIG));

    expect(first.map((reply) => [reply.status, reply.body.lock])).toEqual(Array(4).fill([409, 'HOT']));
    expect([later.status, later.body.lock]).toEqual([409, 'HOT']);
    expect((await call(urlOf(fleet, 'drone-3'), 'GET', '/v1/health')).body.configs).toMatchObject({
      [FILE]: { lock: 'HOT' },
    });
    expect((await call(fleet.url, 'GET', '/sim/stats')).body).toMatchObject({
      pushes: 5,
      firstHotAnswer: { drone: 'drone-3' },
    });
  });

  test('an unknown drone is 404 unknown_drone; a path outside /d/<id> is 404 not_found', async () => {
    const fleet = await startFleet({ drones: 3, logger: memoryLogger().logger });

    const replies = await Promise.all(
      ['drone-0', 'drone-4', 'drone-01', 'robot-1'].map((id) => call(urlOf(fleet, id), 'GET', '/v1/health')),
    );
    const outside = await call(fleet.url, 'GET', '/v1/health');

    expect(replies.map((reply) => [reply.status, reply.body.error])).toEqual(Array(4).fill([404, 'unknown_drone']));
    expect([outside.status, outside.body.error]).toEqual([404, 'not_found']);
  });

  test('a token guards every drone', async () => {
    const fleet = await startFleet({ drones: 3, token: 'fleet-token', logger: memoryLogger().logger });

    expect((await call(urlOf(fleet, 'drone-1'), 'GET', '/v1/health')).status).toBe(401);
    expect(
      await call(urlOf(fleet, 'drone-1'), 'GET', '/v1/health', undefined, { authorization: 'Bearer fleet-token' }),
    ).toMatchObject({ status: 200, body: { auth: 'bearer' } });
    expect((await call(fleet.url, 'GET', '/sim/stats')).status).toBe(401);
    expect(
      (await call(fleet.url, 'GET', '/sim/stats', undefined, { authorization: 'Bearer fleet-token' })).body,
    ).toMatchObject({ pushes: 0 });
  });

  test('fault lists naming drones outside the fleet are refused at start', async () => {
    await expect(startFleetSim({ drones: 3, hot: ['drone-4'], logger: memoryLogger().logger })).rejects.toThrow(
      'Expected `hot` to list drones of this fleet (drone-1 to drone-3), got "drone-4"',
    );
    await expect(
      startFleetSim({ drones: 3, hotOnPush: ['drone-3', 'drone-9'], logger: memoryLogger().logger }),
    ).rejects.toThrow('Expected `hotOnPush` to list drones of this fleet (drone-1 to drone-3), got "drone-9"');
    await expect(startFleetSim({ drones: 0 })).rejects.toThrow(
      'Expected `drones` to be an integer from 1 and up, got `0` (number)',
    );
    await expect(
      startFleetSim({ drones: 3, configFile: 'aim\u202Efnoc.conf', logger: memoryLogger().logger }),
    ).rejects.toThrow('Expected `configFile` to be a config name');
  });

  test('its own temp dir is removed on close; a given dir is kept', async () => {
    const given = await dirs.make();
    const { logger, lines } = memoryLogger();
    const own = await startFleetSim({ drones: 3, logger });
    await call(urlOf(own, 'drone-1'), 'GET', '/v1/health');
    const ownDir = lines.find((line) => typeof line.dir === 'string')?.dir as string;
    const kept = await startFleetSim({ drones: 3, dir: given, logger: memoryLogger().logger });
    await call(urlOf(kept, 'drone-1'), 'GET', '/v1/health');

    await own.close();
    await kept.close();

    await expect(access(ownDir)).rejects.toThrow();
    await expect(access(join(given, 'drone-1', FILE))).resolves.toBeUndefined();
  });
});

describe('inventory', () => {
  test('writeInventory writes drones: [{id, url, labels}] as YAML', async () => {
    const fleet = await startFleet({ drones: 3, logger: memoryLogger().logger });
    const path = join(await dirs.make(), 'fleet.yaml');

    await writeInventory(path, fleet.drones);

    expect(parse(await readFile(path, 'utf8'))).toEqual({ drones: fleet.drones });
  });
});

describe('at scale', () => {
  test('10,000 drones start in a few seconds and drone-10000 answers health', async () => {
    const started = Date.now();
    const fleet = await startFleet({ drones: 10_000, logger: memoryLogger().logger });
    const startMs = Date.now() - started;

    const health = await call(urlOf(fleet, 'drone-10000'), 'GET', '/v1/health');

    expect(startMs).toBeLessThan(3000);
    expect(fleet.drones).toHaveLength(10_000);
    expect(fleet.drones.at(-1)).toEqual({
      id: 'drone-10000',
      url: `${fleet.url}/d/drone-10000`,
      labels: { group: 'patrol', zone: 'zone-a' },
    });
    expect(health.body).toMatchObject({
      id: 'drone-10000',
      state: 'active',
      configs: { [FILE]: { version: 'v42', lock: 'free' } },
    });
  });
});
