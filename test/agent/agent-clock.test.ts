import { afterEach, describe, expect, test } from 'vitest';
import { startFleetSim, type RunningFleet } from '../../src/simulator/fleet-sim.js';
import type { Sample } from '../../src/simulator/telemetry-stream.js';
import { agentFixture } from './agent-fixture.js';
import { BAD_CONFIG, call, FILE, GOOD_CONFIG, memoryLogger, pushBody } from './helpers.js';

/** What an orchestrator needs to judge a canary on the drone's own clock: `now`, and the seq a config takes over from. */

const INTERVAL = 200;
const BOOT = 1_800_000_000_000;
/** Halfway between the good config's mean trajectory error (0.02) and the bad one's (0.038), over 4 sd from each. */
const BAD_ABOVE = 0.029;

interface TelemetryAnswer {
  readonly samples: Sample[];
  readonly next: number;
  readonly now: number;
}

const agents = agentFixture();
const fleets: RunningFleet[] = [];
afterEach(async () => {
  await Promise.all(fleets.splice(0).map((fleet) => fleet.close()));
  await agents.cleanup();
});

async function telemetry(url: string, since = 0): Promise<TelemetryAnswer> {
  return (await call(url, 'GET', `/v1/telemetry?since=${since}`)).body as unknown as TelemetryAnswer;
}

describe('the drone clock in telemetry', () => {
  test('GET /v1/telemetry carries now, the clock that stamps t', async () => {
    let now = BOOT;
    const agent = await agents.start({ now: () => now, sampleIntervalMs: INTERVAL });
    now += 10_050;

    const page = await telemetry(agent.url);

    expect(page.now).toBe(BOOT + 10_050);
    expect(page.samples.at(-1)?.t).toBe(BOOT + 10_000);
  });
});

describe('the seq a config takes over from', () => {
  test("samples from a push's seq on reflect the pushed config, earlier ones the old; a retry answers the same seq", async () => {
    let now = BOOT;
    const agent = await agents.start({ now: () => now, sampleIntervalMs: INTERVAL });
    await call(agent.url, 'PUT', `/v1/configs/${FILE}`, pushBody(GOOD_CONFIG, { fence: 1 }));
    now += 40 * INTERVAL + 70;

    const pushed = await call(
      agent.url,
      'PUT',
      `/v1/configs/${FILE}`,
      pushBody(BAD_CONFIG, { fence: 2, version: 'v44' }),
    );
    now += 40 * INTERVAL;
    const retried = await call(
      agent.url,
      'PUT',
      `/v1/configs/${FILE}`,
      pushBody(BAD_CONFIG, { fence: 2, version: 'v44' }),
    );
    const page = await telemetry(agent.url);

    const seq = pushed.body.seq as number;
    expect(seq).toBe(Math.floor((BOOT + 40 * INTERVAL + 70) / INTERVAL) + 1);
    expect(retried.body).toEqual(pushed.body);
    const before = page.samples.filter((sample) => sample.seq < seq && sample.seq > seq - 30);
    const after = page.samples.filter((sample) => sample.seq >= seq);
    expect(before.length).toBeGreaterThan(20);
    expect(after.length).toBeGreaterThan(20);
    expect(before.filter((sample) => sample.metrics.trajectory_error > BAD_ABOVE)).toEqual([]);
    expect(after.filter((sample) => sample.metrics.trajectory_error <= BAD_ABOVE)).toEqual([]);
  });

  test("a rollback answers the seq the restored config takes over from; a rollback that restores nothing, the current one's", async () => {
    let now = BOOT;
    const agent = await agents.start({ now: () => now, sampleIntervalMs: INTERVAL });
    await call(agent.url, 'PUT', `/v1/configs/${FILE}`, pushBody(BAD_CONFIG, { fence: 1 }));
    now += 30 * INTERVAL;

    const rolledBack = await call(agent.url, 'POST', `/v1/configs/${FILE}/rollback`, { rollout: 'r-1', fence: 1 });
    now += 30 * INTERVAL;
    const again = await call(agent.url, 'POST', `/v1/configs/${FILE}/rollback`, { rollout: 'r-1', fence: 1 });
    const page = await telemetry(agent.url);

    const seq = rolledBack.body.seq as number;
    expect(seq).toBe((BOOT + 30 * INTERVAL) / INTERVAL + 1);
    expect(again.body).toEqual({ ...rolledBack.body, restored: false });
    expect(page.samples.filter((sample) => sample.seq < seq && sample.metrics.trajectory_error <= BAD_ABOVE)).toEqual(
      [],
    );
    expect(page.samples.filter((sample) => sample.seq >= seq && sample.metrics.trajectory_error > BAD_ABOVE)).toEqual(
      [],
    );
  });
});

describe('a simulated fleet with a clock offset', () => {
  test.each([-300_000, 300_000])(
    "every drone's telemetry t and now run %i ms from the host's clock",
    async (clockOffsetMs) => {
      let host = BOOT;
      const fleet = await startFleetSim({
        drones: 2,
        now: () => host,
        clockOffsetMs,
        sampleIntervalMs: INTERVAL,
        logger: memoryLogger().logger,
      });
      fleets.push(fleet);
      host += 5_030;

      const page = await telemetry(`${fleet.url}/d/drone-2`);
      const pushed = await call(`${fleet.url}/d/drone-2`, 'PUT', `/v1/configs/${FILE}`, pushBody(GOOD_CONFIG));

      expect(page.now).toBe(host + clockOffsetMs);
      expect(page.samples).toHaveLength(25);
      expect(page.samples.at(-1)?.t).toBe(Math.floor((host + clockOffsetMs) / INTERVAL) * INTERVAL);
      expect(pushed.body.seq).toBe(Math.floor((host + clockOffsetMs) / INTERVAL) + 1);
    },
  );

  test('a clock offset that is not an integer is refused at start', async () => {
    await expect(startFleetSim({ drones: 2, clockOffsetMs: 1.5, logger: memoryLogger().logger })).rejects.toThrow(
      'clockOffsetMs',
    );
  });
});
