import { afterEach, describe, expect, test } from 'vitest';
import { sha256Hex } from '../../src/agent/checksum.js';
import { SIM_INITIAL_CONFIG, startFleetSim, type RunningFleet } from '../../src/simulator/fleet-sim.js';
import type { SimStatsView } from '../../src/simulator/sim-stats.js';
import { call, FILE, GOOD_CONFIG, hotBody, memoryLogger, pushBody } from '../agent/helpers.js';

const fleets: RunningFleet[] = [];
afterEach(async () => {
  await Promise.all(fleets.splice(0).map((fleet) => fleet.close()));
});

async function inMemory(options: { hot?: string[]; hotOnPush?: string[]; fail?: string[] } = {}) {
  const fleet = await startFleetSim({ drones: 5, inMemory: true, logger: memoryLogger().logger, ...options });
  fleets.push(fleet);
  return { fleet, drone: (id: string) => `${fleet.url}/d/${id}` };
}

async function stats(fleet: RunningFleet): Promise<SimStatsView> {
  return (await fetch(`${fleet.url}/sim/stats`).then((response) => response.json())) as SimStatsView;
}

/** Who holds a HOT drone's lock in the simulator, on disk or in memory. */
const SIM_HOT_HOLDER = { pid: process.pid, host: 'sim', rollout: 'sim-hot' };

describe('an in-memory simulated fleet (fleet sim --in-memory)', () => {
  test('answers health as a disk drone does, without trials, every drone on v42', async () => {
    const { drone } = await inMemory();

    const health = await call(drone('drone-2'), 'GET', '/v1/health');

    expect(health.body).toEqual({
      id: 'drone-2',
      state: 'active',
      configs: { [FILE]: { version: 'v42', sha256: sha256Hex(SIM_INITIAL_CONFIG), lock: 'free', fence: 0 } },
      auth: 'none',
      features: ['pause_hold', 'operational_state'],
      holds: [],
      lapsed: [],
      operational: { flight: 'grounded', battery: 100, mission: null },
    });
  });

  test('refuses a dir or trusted keys: it keeps no dir and checks no signature', async () => {
    await expect(startFleetSim({ drones: 2, inMemory: true, dir: '/tmp/x' })).rejects.toThrow(TypeError);
  });

  test('keeps the fence rule: a lower fence, or an equal one from another rollout, is stale, never HOT', async () => {
    const { drone } = await inMemory();
    expect(
      (await call(drone('drone-1'), 'PUT', `/v1/configs/${FILE}`, pushBody(GOOD_CONFIG, { fence: 5 }))).status,
    ).toBe(200);

    const lower = await call(drone('drone-1'), 'PUT', `/v1/configs/${FILE}`, pushBody(GOOD_CONFIG, { fence: 4 }));
    const other = await call(
      drone('drone-1'),
      'PUT',
      `/v1/configs/${FILE}`,
      pushBody(GOOD_CONFIG, { fence: 5, rollout: 'r-2' }),
    );

    expect([lower.status, lower.body.error]).toEqual([409, 'stale_fence']);
    expect([other.status, other.body.error]).toEqual([409, 'stale_fence']);
  });

  test('refuses a push whose sha256 does not match its content', async () => {
    const { drone } = await inMemory();
    const body = { ...pushBody(GOOD_CONFIG), sha256: sha256Hex('something else') };

    const push = await call(drone('drone-1'), 'PUT', `/v1/configs/${FILE}`, body);

    expect([push.status, push.body.error]).toEqual([400, 'checksum_mismatch']);
  });

  test('a HOT drone answers 409 HOT to pushes and says HOT in health; a hot-on-push drone turns HOT at its push', async () => {
    const { drone } = await inMemory({ hot: ['drone-1'], hotOnPush: ['drone-2'] });

    const hot = await call(drone('drone-1'), 'PUT', `/v1/configs/${FILE}`, pushBody(GOOD_CONFIG));
    const before = await call(drone('drone-2'), 'GET', '/v1/health');
    const turned = await call(drone('drone-2'), 'PUT', `/v1/configs/${FILE}`, pushBody(GOOD_CONFIG));
    const after = await call(drone('drone-2'), 'GET', '/v1/health');

    expect([hot.status, hot.body]).toEqual([409, hotBody(SIM_HOT_HOLDER)]);
    expect((before.body.configs as Record<string, { lock: string }>)[FILE]?.lock).toBe('free');
    expect([turned.status, turned.body]).toEqual([409, hotBody(SIM_HOT_HOLDER)]);
    expect((after.body.configs as Record<string, { lock: string }>)[FILE]?.lock).toBe('HOT');
  });

  test('a rollback restores what this rollout replaced; a late push of it after its rollback is refused', async () => {
    const { drone } = await inMemory();
    await call(drone('drone-1'), 'PUT', `/v1/configs/${FILE}`, pushBody(GOOD_CONFIG, { fence: 3 }));

    const back = await call(drone('drone-1'), 'POST', `/v1/configs/${FILE}/rollback`, { rollout: 'r-1', fence: 3 });
    const again = await call(drone('drone-1'), 'POST', `/v1/configs/${FILE}/rollback`, { rollout: 'r-1', fence: 3 });
    const late = await call(drone('drone-1'), 'PUT', `/v1/configs/${FILE}`, pushBody(GOOD_CONFIG, { fence: 3 }));

    expect(back.body).toMatchObject({ version: 'v42', sha256: sha256Hex(SIM_INITIAL_CONFIG), restored: true });
    expect(again.body).toMatchObject({ version: 'v42', restored: false });
    expect([late.status, late.body.error]).toEqual([409, 'stale_fence']);
  });

  test('pause holds per rollout: paused until every holder resumed; a late pause of a rollout that resumed is ignored', async () => {
    const { fleet, drone } = await inMemory();
    await call(drone('drone-1'), 'POST', '/v1/pause', { rollout: 'r-1', holdMs: 60_000 });
    await call(drone('drone-1'), 'POST', '/v1/pause', { rollout: 'r-2' });

    const one = await call(drone('drone-1'), 'POST', '/v1/resume', { rollout: 'r-1' });
    const late = await call(drone('drone-1'), 'POST', '/v1/pause', { rollout: 'r-1', holdMs: 60_000 });
    const both = await call(drone('drone-1'), 'POST', '/v1/resume', { rollout: 'r-2' });

    expect(one.body).toEqual({ state: 'paused' });
    expect(late.body.holds).toEqual([{ rollout: 'r-2', expiresInMs: null }]);
    expect(both.body).toEqual({ state: 'active' });
    expect((await stats(fleet)).fleet).toEqual({ paused: 0, versions: { v42: 5 } });
  });

  test('/sim/stats counts the fleet: drones paused, and drones by version', async () => {
    const { fleet, drone } = await inMemory();
    await call(drone('drone-1'), 'POST', '/v1/pause', { rollout: 'r-1' });
    await call(drone('drone-3'), 'PUT', `/v1/configs/${FILE}`, pushBody(GOOD_CONFIG));

    expect((await stats(fleet)).fleet).toEqual({ paused: 1, versions: { v42: 4, v43: 1 } });
  });
});
