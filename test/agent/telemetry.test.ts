import { afterEach, describe, expect, test } from 'vitest';
import { noTelemetry } from '../../src/agent/telemetry-source.js';
import { MAX_SAMPLES, type Sample } from '../../src/simulator/telemetry-stream.js';
import { agentFixture } from './agent-fixture.js';
import { BAD_CONFIG, call, FILE, GOOD_CONFIG, median, pushBody } from './helpers.js';

const INTERVAL = 200;
const BOOT = 1_800_000_000_000;

const errors = (samples: readonly Sample[]): number[] => samples.map((sample) => sample.metrics.trajectory_error);

describe('GET /v1/telemetry', () => {
  const agents = agentFixture();
  afterEach(agents.cleanup);

  test('trajectory error shifts by 50% or more after the bad config, and not after the good one', async () => {
    let now = BOOT;
    const agent = await agents.start({ now: () => now, sampleIntervalMs: INTERVAL });
    const watch = async (since: number) => {
      now += MAX_SAMPLES * INTERVAL;
      return (await call(agent.url, 'GET', `/v1/telemetry?since=${since}`)).body as {
        samples: Sample[];
        next: number;
        state: string;
        configs: Record<string, unknown>;
      };
    };

    const baseline = await watch(0);
    await call(agent.url, 'PUT', `/v1/configs/${FILE}`, pushBody(GOOD_CONFIG, { fence: 1 }));
    const good = await watch(baseline.next);
    await call(agent.url, 'PUT', `/v1/configs/${FILE}`, pushBody(BAD_CONFIG, { fence: 2, version: 'v44' }));
    const bad = await watch(good.next);

    const shift = (page: { samples: Sample[] }) => median(errors(page.samples)) / median(errors(baseline.samples)) - 1;
    expect(baseline.samples).toHaveLength(MAX_SAMPLES);
    expect(good.samples).toHaveLength(MAX_SAMPLES);
    expect(Math.abs(shift(good))).toBeLessThan(0.1);
    expect(shift(bad)).toBeGreaterThanOrEqual(0.5);
    expect(bad).toMatchObject({ state: 'active', configs: { [FILE]: { version: 'v44', lock: 'free', fence: 2 } } });
  });

  test('an agent without a telemetry source answers empty pages whose seqs still count on the sample clock', async () => {
    let now = BOOT;
    const agent = await agents.start({ now: () => now, sampleIntervalMs: INTERVAL, telemetry: noTelemetry });
    now += 10 * INTERVAL;

    const pushed = await call(agent.url, 'PUT', `/v1/configs/${FILE}`, pushBody(GOOD_CONFIG, { fence: 1 }));
    const page = await call(agent.url, 'GET', '/v1/telemetry?since=0');

    expect(pushed.body).toMatchObject({ seq: (BOOT + 10 * INTERVAL) / INTERVAL + 1 });
    expect(page.body).toMatchObject({
      samples: [],
      next: (BOOT + 10 * INTERVAL) / INTERVAL,
      now: BOOT + 10 * INTERVAL,
      state: 'active',
    });
  });
});
