import { describe, expect, test } from 'vitest';
import { escapeLabelValue, formatMetrics, gaugeName } from '../../src/protocol/metrics-text.js';

describe('gaugeName', () => {
  test('prefixes drone_ and turns every . and - into _', () => {
    expect(gaugeName('heart_rate')).toBe('drone_heart_rate');
    expect(gaugeName('gps.hdop-max')).toBe('drone_gps_hdop_max');
    expect(gaugeName('_x.-y')).toBe('drone__x__y');
    expect(gaugeName('Temp2')).toBe('drone_Temp2');
  });

  test('has no gauge for a name the spec does not allow', () => {
    for (const name of ['', '2fast', 'a b', 'a:b', 'é', 'a{b}']) expect(gaugeName(name)).toBeUndefined();
  });

  test('every gauge of an allowed name is a valid Prometheus metric name', () => {
    for (const name of ['a', '_', 'a.b-c_d', 'A-9.z', '__--..'])
      expect(gaugeName(name)).toMatch(/^[a-zA-Z_:][a-zA-Z0-9_:]*$/u);
  });
});

describe('formatMetrics', () => {
  test('writes each family once, sorted, with HELP and TYPE, one line per drone in the order given', () => {
    const text = formatMetrics([
      { id: 'drone-2', metrics: { trajectory_error: 0.021, heart_rate: 71.2 } },
      { id: 'drone-1', metrics: { heart_rate: 73 } },
    ]);

    expect(text).toBe(
      [
        '# HELP drone_heart_rate The latest heart_rate telemetry sample of each drone.',
        '# TYPE drone_heart_rate gauge',
        'drone_heart_rate{drone="drone-2"} 71.2',
        'drone_heart_rate{drone="drone-1"} 73',
        '# HELP drone_trajectory_error The latest trajectory_error telemetry sample of each drone.',
        '# TYPE drone_trajectory_error gauge',
        'drone_trajectory_error{drone="drone-2"} 0.021',
        '',
      ].join('\n'),
    );
  });

  test('escapes backslash, double quote and line feed in the drone label', () => {
    const text = formatMetrics([{ id: 'a\\b"c\nd', metrics: { x: 1 } }]);

    expect(text).toContain('drone_x{drone="a\\\\b\\"c\\nd"} 1\n');
    expect(escapeLabelValue('plain drone-1.a')).toBe('plain drone-1.a');
  });

  test('maps names with . and - and writes values in the syntax Prometheus parses', () => {
    const text = formatMetrics([
      { id: 'd', metrics: { 'gps.hdop-max': 1e-7, big: 1e21, nan: Number.NaN, up: Infinity, down: -Infinity } },
    ]);

    expect(text).toContain('drone_gps_hdop_max{drone="d"} 1e-7\n');
    expect(text).toContain('drone_big{drone="d"} 1e+21\n');
    expect(text).toContain('drone_nan{drone="d"} NaN\n');
    expect(text).toContain('drone_up{drone="d"} +Inf\n');
    expect(text).toContain('drone_down{drone="d"} -Inf\n');
  });

  test('leaves out names the spec does not allow, and writes one line per drone when two names share a gauge', () => {
    const text = formatMetrics([
      { id: 'd1', metrics: { 'a-b': 2, 'a.b': 1, 'bad name': 3 } },
      { id: 'd2', metrics: { a_b: 4 } },
    ]);

    expect(text).toBe(
      [
        '# HELP drone_a_b The latest a-b telemetry sample of each drone.',
        '# TYPE drone_a_b gauge',
        // 'a-b' sorts before 'a.b': its value is the one written for d1.
        'drone_a_b{drone="d1"} 2',
        'drone_a_b{drone="d2"} 4',
        '',
      ].join('\n'),
    );
  });

  test('no drones, or drones without metrics: an empty exposition', () => {
    expect(formatMetrics([])).toBe('');
    expect(formatMetrics([{ id: 'd', metrics: {} }])).toBe('');
  });

  test('formats 10,000 drones in well under a scrape interval', () => {
    const drones = Array.from({ length: 10_000 }, (_, i) => ({
      id: `drone-${i + 1}`,
      metrics: { heart_rate: 70 + (i % 10) / 7, trajectory_error: 0.02 + i / 1e7 },
    }));
    formatMetrics(drones);

    const started = performance.now();
    const text = formatMetrics(drones);
    const ms = performance.now() - started;

    expect(text.split('\n')).toHaveLength(20_000 + 4 + 1);
    expect(ms).toBeLessThan(500);
  });
});
