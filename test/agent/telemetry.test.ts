import { afterEach, describe, expect, test } from 'vitest';
import { modelFor, paramsOf } from '../../src/agent/telemetry-model.js';
import { MAX_SAMPLES, TelemetryStream, type Sample } from '../../src/agent/telemetry-stream.js';
import { agentFixture } from './agent-fixture.js';
import { BAD_CONFIG, call, FILE, GOOD_CONFIG, median, pushBody } from './helpers.js';

const INTERVAL = 200;
const BOOT = 1_800_000_000_000;

const mean = (values: readonly number[]): number => values.reduce((sum, value) => sum + value, 0) / values.length;
const errors = (samples: readonly Sample[]): number[] => samples.map((sample) => sample.metrics.trajectory_error);

describe('telemetry model', () => {
  test('the shipped good config keeps trajectory error at 0.02; the bad one raises it by 90%', () => {
    expect(modelFor(paramsOf(GOOD_CONFIG).aimSensitivity).trajectoryErrorMean).toBeCloseTo(0.02, 10);
    expect(modelFor(paramsOf(BAD_CONFIG).aimSensitivity).trajectoryErrorMean).toBeCloseTo(0.038, 10);
    expect(modelFor(undefined).trajectoryErrorMean).toBeCloseTo(0.02, 10);
  });

  test('reads key = value lines and ignores comments', () => {
    expect(paramsOf('# aim_sensitivity = 9\naim_sensitivity = 1.25 # tuned\n').aimSensitivity).toBe(1.25);
    expect(paramsOf('aim_sensitivity = fast\n').aimSensitivity).toBeUndefined();
  });
});

describe('telemetry stream', () => {
  test('is deterministic per key, and keys give different drones different samples', () => {
    const clock = { intervalMs: INTERVAL, bootMs: BOOT };
    const read = (key: number) => new TelemetryStream(key, clock, modelFor(0.8)).read(0, BOOT + 10_000).samples;

    expect(read(5)).toEqual(read(5));
    expect(read(5)).not.toEqual(read(6));
  });

  test('one sample per interval since boot, at most the latest 200, and next continues the cursor', () => {
    const stream = new TelemetryStream(1, { intervalMs: INTERVAL, bootMs: BOOT }, modelFor(0.8));

    const early = stream.read(0, BOOT + 1_000);
    const late = stream.read(0, BOOT + 600_000);
    const following = stream.read(late.next, BOOT + 600_000 + 3 * INTERVAL);

    expect(early.samples.map((sample) => sample.seq)).toEqual([1, 2, 3, 4, 5].map((n) => BOOT / INTERVAL + n));
    expect(early.samples.every((sample) => sample.t === sample.seq * INTERVAL)).toBe(true);
    expect(late.samples).toHaveLength(MAX_SAMPLES);
    expect(late.next).toBe(late.samples.at(-1)?.seq);
    expect(following.samples.map((sample) => sample.seq)).toEqual([1, 2, 3].map((n) => late.next + n));
    expect(stream.read(late.next + 1_000, BOOT + 600_000)).toEqual({ samples: [], next: late.next });
  });

  test('draws N(72, 2.5) heart rates and N(m, 0.1 m) trajectory errors', () => {
    const samples: Sample[] = [];
    for (let key = 0; key < 50; key += 1) samples.push(...new TelemetryStream(key, { intervalMs: INTERVAL, bootMs: BOOT }, modelFor(1.6)).read(0, BOOT + 40_000).samples);
    const heartRates = samples.map((sample) => sample.metrics.heart_rate);
    const sd = (values: number[]) => Math.sqrt(mean(values.map((value) => (value - mean(values)) ** 2)));

    expect(mean(heartRates)).toBeCloseTo(72, 0);
    expect(sd(heartRates)).toBeGreaterThan(2.3);
    expect(sd(heartRates)).toBeLessThan(2.7);
    expect(mean(errors(samples))).toBeCloseTo(0.038, 3);
    expect(sd(errors(samples))).toBeCloseTo(0.0038, 3);
  });

  test('a config change affects only samples after it', () => {
    const stream = new TelemetryStream(1, { intervalMs: INTERVAL, bootMs: BOOT }, modelFor(0.8));
    const changedAt = BOOT + 20_000;

    stream.setModel({ heartRateMean: 72, heartRateSd: 2.5, trajectoryErrorMean: 100, trajectoryErrorSd: 1 }, changedAt);
    const { samples } = stream.read(0, BOOT + 40_000);

    const before = samples.filter((sample) => sample.t <= changedAt);
    const after = samples.filter((sample) => sample.t > changedAt);
    expect(before.length).toBe(100);
    expect(Math.max(...errors(before))).toBeLessThan(1);
    expect(Math.min(...errors(after))).toBeGreaterThan(90);
  });
});

describe('GET /v1/telemetry', () => {
  const agents = agentFixture();
  afterEach(agents.cleanup);

  test('trajectory error shifts by 50% or more after the bad config, and not after the good one', async () => {
    let now = BOOT;
    const agent = await agents.start({ now: () => now, sampleIntervalMs: INTERVAL });
    const watch = async (since: number) => {
      now += MAX_SAMPLES * INTERVAL;
      return (await call(agent.url, 'GET', `/v1/telemetry?since=${since}`)).body as { samples: Sample[]; next: number; state: string; configs: Record<string, unknown> };
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
});
