import { afterEach, beforeEach, describe, expect, test, vi } from 'vitest';
import { fleetSimCommand, type FleetSimOptions as FleetSimCommandOptions } from '../../src/cli/commands/serve.js';
import { COMMANDS, main, type Commands } from '../../src/cli/program.js';
import { RolloutError } from '../../src/errors.js';
import { METRICS_CONTENT_TYPE } from '../../src/protocol/metrics-text.js';
import { startFleetSim, type FleetSimOptions, type RunningFleet } from '../../src/simulator/fleet-sim.js';
import { call, memoryLogger } from '../agent/helpers.js';

/** The operational states of a simulated fleet: set at start, changed live through POST /sim/operational. */

const fleets: RunningFleet[] = [];
afterEach(async () => {
  await Promise.all(fleets.splice(0).map((fleet) => fleet.close()));
});

async function startFleet(options: Omit<FleetSimOptions, 'logger'>): Promise<RunningFleet> {
  const fleet = await startFleetSim({ logger: memoryLogger().logger, ...options });
  fleets.push(fleet);
  return fleet;
}

const healthOf = async (fleet: RunningFleet, id: string) =>
  (await call(`${fleet.url}/d/${id}`, 'GET', '/v1/health')).body;
const setState = (fleet: RunningFleet, body: unknown, headers: Record<string, string> = {}) =>
  call(fleet.url, 'POST', '/sim/operational', body, headers);

const GROUNDED = { flight: 'grounded', battery: 100, mission: null };

describe('a simulated fleet reports operational states', () => {
  test('every drone has the operational_state feature and is grounded, charged and on no mission by default', async () => {
    const fleet = await startFleet({ drones: 2 });

    const health = await healthOf(fleet, 'drone-2');
    const pause = await call(`${fleet.url}/d/drone-1`, 'POST', '/v1/pause', { rollout: 'r-1' });

    expect(health.features).toEqual(['pause_hold', 'trial_config', 'operational_state']);
    expect(health.operational).toEqual(GROUNDED);
    expect(pause.body).toMatchObject({ state: 'paused', operational: GROUNDED });
  });

  test('airborne, battery and missions set the states a fleet starts with', async () => {
    const fleet = await startFleet({
      drones: 5,
      airborne: ['drone-4'],
      battery: { 'drone-2': 15, 'drone-4': 40.5 },
      missions: { 'drone-4': 'survey-7' },
    });

    const states = await Promise.all(
      ['drone-1', 'drone-2', 'drone-4'].map(async (id) => (await healthOf(fleet, id)).operational),
    );

    expect(states).toEqual([
      GROUNDED,
      { flight: 'grounded', battery: 15, mission: null },
      { flight: 'airborne', battery: 40.5, mission: 'survey-7' },
    ]);
  });

  test('refuses ids outside the fleet and values out of range, naming the option', async () => {
    const cases: [Partial<FleetSimOptions>, string][] = [
      [
        { airborne: ['drone-4'] },
        'Expected `airborne` to name drones of this fleet (drone-1 to drone-3), got "drone-4"',
      ],
      [
        { battery: { 'drone-9': 50 } },
        'Expected `battery` to name drones of this fleet (drone-1 to drone-3), got "drone-9"',
      ],
      [
        { battery: { 'drone-1': 150 } },
        'Expected `battery` of drone-1 to be a number from 0 to 100 (percent), got 150',
      ],
      [{ battery: { 'drone-1': Number.NaN } }, 'Expected `battery` of drone-1 to be a number from 0 to 100'],
      [{ missions: { 'drone-2': '' } }, 'Expected `missions` of drone-2 to be a mission id of 1 to 256 characters'],
    ];
    for (const [options, message] of cases) {
      await expect(startFleetSim({ drones: 3, logger: memoryLogger().logger, ...options })).rejects.toThrow(
        new TypeError(message).message,
      );
    }
  });
});

describe('POST /sim/operational', () => {
  test('replaces the members it is given and answers the drone new state, which its health reports at once', async () => {
    const fleet = await startFleet({ drones: 3, battery: { 'drone-2': 70 } });
    const before = await healthOf(fleet, 'drone-2');

    const takeoff = await setState(fleet, { drone: 'drone-2', flight: 'airborne', mission: 'survey-7' });
    const inFlight = await healthOf(fleet, 'drone-2');
    const landed = await setState(fleet, { drone: 'drone-2', flight: 'grounded', battery: 35, mission: null });

    expect(before.operational).toEqual({ flight: 'grounded', battery: 70, mission: null });
    expect(takeoff).toEqual({
      status: 200,
      body: { drone: 'drone-2', operational: { flight: 'airborne', battery: 70, mission: 'survey-7' } },
    });
    expect(inFlight.operational).toEqual({ flight: 'airborne', battery: 70, mission: 'survey-7' });
    expect(landed.body).toEqual({ drone: 'drone-2', operational: { flight: 'grounded', battery: 35, mission: null } });
    expect((await healthOf(fleet, 'drone-2')).operational).toEqual(landed.body.operational);
  });

  test('a drone not opened yet reports the state it was given once it is', async () => {
    const fleet = await startFleet({ drones: 10_000 });

    await setState(fleet, { drone: 'drone-9999', flight: 'airborne' });

    expect((await healthOf(fleet, 'drone-9999')).operational).toEqual({ ...GROUNDED, flight: 'airborne' });
    expect((await healthOf(fleet, 'drone-9998')).operational).toEqual(GROUNDED);
  });

  test('a body that is not such an object is 400 bad_request, naming the member; nothing changes', async () => {
    const fleet = await startFleet({ drones: 3 });

    const answers = await Promise.all([
      setState(fleet, '{"drone": "drone-1", '),
      setState(fleet, { drone: 'drone-1', battery: 150 }),
      setState(fleet, { drone: 'drone-1', flight: 'hovering' }),
      setState(fleet, { drone: 'drone-1', altitude: 120 }),
      setState(fleet, { flight: 'airborne' }),
      setState(fleet, ['drone-1']),
    ]);
    const [, fullerThanFull, , unknownMember, noDrone] = answers;

    expect(answers.map((answer) => [answer.status, answer.body.error])).toEqual(
      Array.from({ length: answers.length }, () => [400, 'bad_request']),
    );
    expect(answers.map((answer) => answer.body.field)).toEqual([
      undefined,
      'battery',
      'flight',
      undefined,
      'drone',
      undefined,
    ]);
    expect(fullerThanFull.body.message).toContain('"battery" must be a number from 0 to 100');
    expect(unknownMember.body.message).toContain('unknown key "altitude"');
    expect(noDrone.body.message).toContain('"drone" is missing');
    expect((await healthOf(fleet, 'drone-1')).operational).toEqual(GROUNDED);
  });

  test('a drone outside the fleet is 404 unknown_drone', async () => {
    const fleet = await startFleet({ drones: 3 });

    const answer = await setState(fleet, { drone: 'drone-4', flight: 'airborne' });

    expect(answer.status).toBe(404);
    expect(answer.body.error).toBe('unknown_drone');
  });

  test('answers POST only, while /sim/stats and /metrics still answer GET only', async () => {
    const fleet = await startFleet({ drones: 3 });

    const getState = await call(fleet.url, 'GET', '/sim/operational');
    const postStats = await call(fleet.url, 'POST', '/sim/stats', {});
    const stats = await call(fleet.url, 'GET', '/sim/stats');
    const metrics = await fetch(`${fleet.url}/metrics`);

    expect([getState.status, getState.body.error]).toEqual([405, 'method_not_allowed']);
    expect([postStats.status, postStats.body.error]).toEqual([405, 'method_not_allowed']);
    expect(stats).toMatchObject({ status: 200, body: { pushes: 0 } });
    expect(metrics.status).toBe(200);
    expect(metrics.headers.get('content-type')).toBe(METRICS_CONTENT_TYPE);
  });

  test('is behind the fleet token like everything else', async () => {
    const fleet = await startFleet({ drones: 3, token: 'fleet-token' });
    const landing = { drone: 'drone-1', battery: 20 };

    const anonymous = await setState(fleet, landing);
    const wrong = await setState(fleet, landing, { authorization: 'Bearer other' });
    const authorized = await setState(fleet, landing, { authorization: 'Bearer fleet-token' });

    expect([anonymous.status, anonymous.body.error]).toEqual([401, 'unauthorized']);
    expect(wrong.status).toBe(401);
    expect(authorized).toEqual({ status: 200, body: { drone: 'drone-1', operational: { ...GROUNDED, battery: 20 } } });
  });
});

describe('rollout fleet sim flags', () => {
  let given: Record<string, unknown>[];
  let commands: Commands;
  beforeEach(() => {
    given = [];
    commands = {
      ...COMMANDS,
      fleetSim: async (options) => {
        given.push({ ...options });
        return 0;
      },
    };
    // Commander's own usage errors would clutter the test output.
    vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
  });
  afterEach(() => vi.restoreAllMocks());

  test('--airborne, --battery and --mission pass their lists as written, repeated or comma-separated', async () => {
    const args = [
      '--airborne',
      'drone-4,drone-9',
      '--battery',
      'drone-2=15, drone-3=40',
      '--mission',
      'drone-5=survey-7',
    ];
    expect(await main(['node', 'rollout', 'fleet', 'sim', ...args, '--battery', 'drone-6=0'], commands)).toBe(0);
    expect(await main(['node', 'rollout', 'fleet', 'sim'], commands)).toBe(0);

    expect(given[0]).toMatchObject({
      airborne: ['drone-4', 'drone-9'],
      battery: ['drone-2=15', 'drone-3=40', 'drone-6=0'],
      mission: ['drone-5=survey-7'],
    });
    expect(given[1]).toMatchObject({ airborne: [], battery: [], mission: [] });
  });

  const options = (change: Partial<FleetSimCommandOptions>): FleetSimCommandOptions => ({
    drones: 10,
    port: 0,
    host: '127.0.0.1',
    hot: [],
    hotOnPush: [],
    stale: [],
    fail: [],
    slow: [],
    slowMs: 0,
    configFile: 'aim_lock_config.conf',
    seed: 1,
    output: 'text',
    logLevel: 'silent',
    airborne: [],
    battery: [],
    mission: [],
    ...change,
  });

  test('a drone outside the fleet or a bad <id>=<value> pair is E_USAGE naming the flag and what it got', async () => {
    const cases: [Partial<FleetSimCommandOptions>, string][] = [
      [{ airborne: ['drone-11'] }, '--airborne drone-11: no such drone'],
      [{ battery: ['drone-11=50'] }, '--battery drone-11: no such drone'],
      [{ battery: ['drone-2'] }, '--battery drone-2: expected <drone>=<value>'],
      [{ battery: ['=50'] }, '--battery =50: expected <drone>=<value>'],
      [{ battery: ['drone-2=full'] }, '--battery drone-2=full: the value must be a battery percent from 0 to 100'],
      [{ battery: ['drone-2=101'] }, '--battery drone-2=101: the value must be a battery percent from 0 to 100'],
      [{ battery: ['drone-2=-1'] }, '--battery drone-2=-1: the value must be'],
      [{ battery: ['drone-2=10', 'drone-2=20'] }, '--battery drone-2=20: drone-2 is given twice'],
      [{ mission: ['drone-5='] }, '--mission drone-5=: the value must be a mission id of 1 to 256 characters'],
      [{ mission: [`drone-5=${'m'.repeat(257)}`] }, 'the value must be a mission id'],
    ];
    for (const [change, message] of cases) {
      const refused = fleetSimCommand(options(change));
      await expect(refused).rejects.toBeInstanceOf(RolloutError);
      await expect(refused).rejects.toMatchObject({ code: 'E_USAGE', message: expect.stringContaining(message) });
    }
  });
});
