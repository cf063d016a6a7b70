import { describe, expect, test } from 'vitest';
import { sha256Hex } from '../../src/agent/checksum.js';
import { ModelTelemetry } from '../../src/simulator/model-telemetry.js';
import { ConfigParamsCache, modelFor, paramsOf } from '../../src/simulator/telemetry-model.js';
import { MAX_SAMPLES, TelemetryStream, type Sample } from '../../src/simulator/telemetry-stream.js';
import { BAD_CONFIG, GOOD_CONFIG } from '../agent/helpers.js';

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
    for (let key = 0; key < 50; key += 1)
      samples.push(
        ...new TelemetryStream(key, { intervalMs: INTERVAL, bootMs: BOOT }, modelFor(1.6)).read(0, BOOT + 40_000)
          .samples,
      );
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

describe('model telemetry, the source of a simulated drone', () => {
  const clock = { intervalMs: INTERVAL, bootMs: BOOT };
  const config = (content: string) => ({ sha256: sha256Hex(content), content });

  test('follows aim_sensitivity of the first config by name that sets it, from the seq a change answers', () => {
    const configs = new Map([
      ['b.conf', config(BAD_CONFIG)],
      ['c.conf', config(GOOD_CONFIG)],
    ]);
    const source = new ModelTelemetry(1, clock, configs, new ConfigParamsCache());
    const reference = new TelemetryStream(1, clock, modelFor(paramsOf(BAD_CONFIG).aimSensitivity));
    const changedAt = BOOT + 20_000;

    expect(source.read(0, changedAt)).toEqual(reference.read(0, changedAt));
    const seq = source.configChanged('a.conf', config(GOOD_CONFIG), changedAt);
    expect(seq).toBe(reference.setModel(modelFor(paramsOf(GOOD_CONFIG).aimSensitivity), changedAt));
    expect(source.read(0, BOOT + 40_000)).toEqual(reference.read(0, BOOT + 40_000));
    expect(source.nextSeq(BOOT + 40_000)).toBe(reference.nextSeq(BOOT + 40_000));

    source.configChanged('a.conf', null, BOOT + 60_000);
    reference.setModel(modelFor(paramsOf(BAD_CONFIG).aimSensitivity), BOOT + 60_000);
    expect(source.read(0, BOOT + 80_000)).toEqual(reference.read(0, BOOT + 80_000));
  });
});
