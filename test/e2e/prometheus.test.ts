import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, startCli, startSimProcess, type SimProcess } from '../helpers/cli.js';
import { Children, parseReport, runArgs, tempDirPerTest, untilStage, within, writeSpec } from '../helpers/fleet.js';
import { prometheusAvailable, startPrometheus, type PrometheusServer } from '../helpers/prometheus.js';

/*
 * Metrics from a real Prometheus (Debian's package), scraping the simulated fleet's /metrics every
 * second: the rollouts below judge trajectory_error through Prometheus alone, never the drones' own
 * telemetry, so a bad config is caught, a good one promotes and a Prometheus gone mid-bake is no data.
 */

const QUERY = `drone_trajectory_error{drone=~"{{drones}}"}`;

/** The spec's `providers` section: the test's Prometheus as `prom`. */
function providerSpec(prometheus: string): string {
  return `providers:\n  prom: { prometheus: { url: "${prometheus}", timeout: 2s, step: 1s } }`;
}

describe.skipIf(!prometheusAvailable())('metrics from a real Prometheus, through the real CLI', () => {
  const children = new Children();
  const dir = tempDirPerTest('prom-e2e-', children);
  let sim: SimProcess;
  let prometheus: PrometheusServer | undefined;

  beforeAll(async () => {
    sim = await startSimProcess(['--drones', '10']);
    prometheus = await startPrometheus({ targets: [new URL(sim.url).host], scrapeIntervalMs: 1000 });
    await prometheus.waitForSeries('drone_trajectory_error', 10, 30_000);
  }, 60_000);

  afterAll(async () => {
    await prometheus?.stop();
    await sim.stop();
  });

  const spec = (name: string, options: { shipped?: string; bake?: string; query?: string } = {}) => {
    const server = prometheus;
    if (server === undefined) throw new Error('Prometheus starts in beforeAll');
    return writeSpec(dir.path, name, {
      ...(options.shipped === undefined ? {} : { shipped: options.shipped }),
      bake: options.bake ?? '6s',
      interval: '3s',
      minSamples: 2,
      metrics: [`{ name: trajectory_error, provider: prom, query: '${options.query ?? QUERY}', max_increase: 25% }`],
      extra: providerSpec(server.url),
    });
  };

  it('plan runs the query once: a query Prometheus rejects is exit 2 naming the key, a good one is ready', async () => {
    const good = await spec('prom-plan-good');
    const planned = await runCli(['plan', good, '--inventory', sim.inventory]);
    expect(planned.code, planned.stderr).toBe(0);
    const bad = await spec('prom-plan-bad', { query: 'drone_trajectory_error{drone=~"{{drones}}"' });
    const refused = await runCli(['plan', bad, '--inventory', sim.inventory]);
    expect(refused.code).toBe(2);
    expect(refused.stdout).toMatch(/error: analysis\.metrics\[0\]\.query: prometheus prom .*rejected/u);
  });

  it('promotes a good config judged by Prometheus alone', async () => {
    const run = await runCli(runArgs(await spec('prom-good'), sim, dir.path));
    const report = parseReport(run);
    expect(report.result, run.stderr).toBe('promoted');
    expect(report.verdicts.length).toBeGreaterThan(0);
    expect(report.verdicts.every((v) => v.summary.includes('trajectory_error pass'))).toBe(true);
  });

  it('catches a bad config through Prometheus alone and rolls it back', async () => {
    const run = await runCli(runArgs(await spec('prom-bad', { shipped: 'aim_lock_config.bad.conf' }), sim, dir.path));
    const report = parseReport(run);
    expect(run.code).toBe(1);
    expect(report.result).toBe('rolled_back');
    expect(report.reason).toMatch(/analysis failed in canary: .*trajectory_error high/u);
    expect(Object.values(report.drones).filter((d) => d.state === 'updated')).toEqual([]);
  });
});

describe.skipIf(!prometheusAvailable())('a Prometheus that stops mid-bake', () => {
  const children = new Children();
  const dir = tempDirPerTest('prom-gone-', children);

  it('gives the metric no data, never a pass: the canary rolls back naming the provider', async () => {
    const sim = await startSimProcess(['--drones', '6']);
    const prometheus = await startPrometheus({ targets: [new URL(sim.url).host], scrapeIntervalMs: 1000 });
    try {
      await prometheus.waitForSeries('drone_trajectory_error', 6, 30_000);
      const path = await writeSpec(dir.path, 'prom-gone', {
        bake: '6s',
        interval: '2s',
        minSamples: 2,
        metrics: [`{ name: trajectory_error, provider: prom, query: '${QUERY}', max_increase: 25% }`],
        extra: providerSpec(prometheus.url),
      });
      const run = children.track(startCli([...runArgs(path, sim, dir.path), '--log-level', 'info']));
      // Stopped as soon as the canary bakes: its first interval is judged after Prometheus is gone.
      await untilStage(run, 'canary: baking', 30_000);
      await prometheus.stop();
      const result = await within(run.done, 60_000, 'the rollout');
      const report = parseReport(result);
      expect(report.result).toBe('rolled_back');
      expect(report.reason).toMatch(/no analysis interval of canary passed/u);
      expect(report.verdicts.map((v) => v.verdict)).not.toContain('pass');
      expect(report.verdicts[0]?.summary).toMatch(
        /trajectory_error nodata: prometheus prom .*cannot reach Prometheus/u,
      );
    } finally {
      await prometheus.stop();
      await sim.stop();
    }
  }, 90_000);
});
