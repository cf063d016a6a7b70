import { readdir } from 'node:fs/promises';
import { afterEach, describe, expect, test } from 'vitest';
import { noTelemetry } from '../../src/agent/telemetry-source.js';
import type { TelemetrySample } from '../../src/protocol/v1.js';
import { startFleetSim, type FleetSimOptions, type RunningFleet } from '../../src/simulator/fleet-sim.js';
import { agentFixture } from '../agent/agent-fixture.js';
import { BAD_CONFIG, call, FILE, memoryLogger, pushBody, tempDirs } from '../agent/helpers.js';

/** `GET /metrics` of the simulator (every drone, or one under /d/<id>) and of a real agent (its own drone). */

const INTERVAL = 200;
const BOOT = 1_800_000_000_000;
const CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

const fleets: RunningFleet[] = [];
const dirs = tempDirs();
const agents = agentFixture();
afterEach(async () => {
  await Promise.all(fleets.splice(0).map((fleet) => fleet.close()));
  await dirs.cleanup();
  await agents.cleanup();
});

/** A fleet on a clock the test moves: `advance(ms)`. */
async function startFleet(options: Partial<FleetSimOptions> = {}) {
  let now = BOOT;
  const fleet = await startFleetSim({
    drones: 3,
    sampleIntervalMs: INTERVAL,
    now: () => now,
    logger: memoryLogger().logger,
    ...options,
  });
  fleets.push(fleet);
  return { fleet, advance: (ms: number) => (now += ms) };
}

async function scrape(url: string, token?: string): Promise<{ status: number; type: string | null; text: string }> {
  const response = await fetch(
    `${url}/metrics`,
    token === undefined ? {} : { headers: { authorization: `Bearer ${token}` } },
  );
  return { status: response.status, type: response.headers.get('content-type'), text: await response.text() };
}

/** The exposition's values by series, e.g. `drone_heart_rate{drone="drone-1"}` → 71.2. */
function values(text: string): Map<string, number> {
  const found = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const space = line.lastIndexOf(' ');
    found.set(line.slice(0, space), Number(line.slice(space + 1)));
  }
  return found;
}

async function latestTelemetry(droneUrl: string): Promise<TelemetrySample> {
  const { body } = await call(droneUrl, 'GET', '/v1/telemetry?since=0');
  const sample = (body.samples as TelemetrySample[]).at(-1);
  if (sample === undefined) throw new Error(`${droneUrl} has no telemetry yet`);
  return sample;
}

function expectSeriesOf(found: Map<string, number>, id: string, sample: TelemetrySample): void {
  for (const [metric, value] of Object.entries(sample.metrics))
    expect(found.get(`drone_${metric}{drone="${id}"}`)).toBe(value);
}

describe('GET /metrics on the simulator', () => {
  test("exposes every drone's latest telemetry sample, without opening the drones no request has used", async () => {
    const dir = await dirs.make();
    const { fleet, advance } = await startFleet({ dir });
    advance(5 * INTERVAL);

    const before = await scrape(fleet.url);

    expect(before.status).toBe(200);
    expect(before.type).toBe(CONTENT_TYPE);
    expect(before.text.match(/^# TYPE .*$/gmu)).toEqual([
      '# TYPE drone_heart_rate gauge',
      '# TYPE drone_trajectory_error gauge',
    ]);
    expect([...values(before.text).keys()]).toHaveLength(6);
    expect(await readdir(dir)).toEqual([]);
    // Each value is the one the drone's own telemetry answers (which opens that drone).
    for (const { id, url } of fleet.drones) expectSeriesOf(values(before.text), id, await latestTelemetry(url));
  });

  test('follows a config change, and one drone answers under /d/<id>/metrics', async () => {
    const { fleet, advance } = await startFleet();
    advance(INTERVAL);
    const drone2 = `${fleet.url}/d/drone-2`;
    expect((await call(drone2, 'PUT', `/v1/configs/${FILE}`, pushBody(BAD_CONFIG))).status).toBe(200);
    advance(10 * INTERVAL);

    const all = values((await scrape(fleet.url)).text);
    const one = await scrape(drone2);

    expectSeriesOf(all, 'drone-2', await latestTelemetry(drone2));
    expect(one.status).toBe(200);
    expect(one.type).toBe(CONTENT_TYPE);
    expect(values(one.text)).toEqual(new Map([...all].filter(([series]) => series.includes('"drone-2"'))));
  });

  test('a drone an earlier run left in the dir reports the config it holds, not the seed', async () => {
    const dir = await dirs.make();
    const first = await startFleet({ dir });
    first.advance(INTERVAL);
    await call(`${first.fleet.url}/d/drone-3`, 'PUT', `/v1/configs/${FILE}`, pushBody(BAD_CONFIG));
    await first.fleet.close();

    const { fleet, advance } = await startFleet({ dir });
    advance(10 * INTERVAL);
    const found = values((await scrape(fleet.url)).text);

    expectSeriesOf(found, 'drone-3', await latestTelemetry(`${fleet.url}/d/drone-3`));
  });

  test('before the first sample the exposition is empty', async () => {
    const { fleet } = await startFleet();

    expect(await scrape(fleet.url)).toEqual({ status: 200, type: CONTENT_TYPE, text: '' });
  });

  test('sits behind the bearer token like /v1', async () => {
    const { fleet, advance } = await startFleet({ token: 'sim-token' });
    advance(INTERVAL);

    const without = await scrape(fleet.url);
    const wrong = await scrape(fleet.url, 'nope');
    const right = await scrape(fleet.url, 'sim-token');
    const droneWithout = await scrape(`${fleet.url}/d/drone-1`);

    expect(without.status).toBe(401);
    expect(JSON.parse(without.text)).toMatchObject({ error: 'unauthorized' });
    expect(wrong.status).toBe(401);
    expect(droneWithout.status).toBe(401);
    expect(right.status).toBe(200);
    expect(right.text).toContain('drone_heart_rate{drone="drone-1"} ');
  });

  test('answers GET only', async () => {
    const { fleet } = await startFleet();

    expect((await call(fleet.url, 'POST', '/metrics', {})).status).toBe(405);
    expect((await call(`${fleet.url}/d/drone-1`, 'POST', '/metrics', {})).status).toBe(405);
  });
});

describe('GET /metrics on a real agent', () => {
  test("exposes its own drone's latest sample, the same as its telemetry", async () => {
    let now = BOOT;
    const agent = await agents.start({ now: () => now, sampleIntervalMs: INTERVAL });
    now += 3 * INTERVAL;

    const scraped = await scrape(agent.url);

    expect(scraped.status).toBe(200);
    expect(scraped.type).toBe(CONTENT_TYPE);
    expect([...values(scraped.text).keys()]).toEqual([
      'drone_heart_rate{drone="drone-a"}',
      'drone_trajectory_error{drone="drone-a"}',
    ]);
    expectSeriesOf(values(scraped.text), 'drone-a', await latestTelemetry(agent.url));
  });

  test('with a token: 401 without it or with a wrong one, the gauges with it', async () => {
    let now = BOOT;
    const agent = await agents.start({ now: () => now, sampleIntervalMs: INTERVAL, token: 'agent-token' });
    now += INTERVAL;

    expect((await scrape(agent.url)).status).toBe(401);
    expect((await scrape(agent.url, 'wrong')).status).toBe(401);
    const right = await scrape(agent.url, 'agent-token');
    expect(right.status).toBe(200);
    expect(right.text).toContain('drone_heart_rate{drone="drone-a"} ');
  });

  test('an agent without a telemetry source answers an empty exposition', async () => {
    let now = BOOT;
    const agent = await agents.start({ now: () => now, sampleIntervalMs: INTERVAL, telemetry: noTelemetry });
    now += 5 * INTERVAL;

    expect(await scrape(agent.url)).toEqual({ status: 200, type: CONTENT_TYPE, text: '' });
  });
});
