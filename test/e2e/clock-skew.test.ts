import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runCli, startSimProcess, tempDir, type CliResult, type SimProcess } from '../helpers/cli.js';
import { FILE, droneUrl, fleetHealth, lockTable, parseReport, runArgs, writeSpec } from '../helpers/fleet.js';

/**
 * Canary windows are judged by the telemetry seq a push answer reports and by the drone's own `now`, so a
 * fleet whose clocks run minutes off the host's promotes a good config and rolls back a bad one all the same.
 */

const DRONES = 10;
const FIVE_MINUTES = 300_000;

/** The drone's clock, read from its telemetry answer, minus the host's: the sim's skew as a drone shows it. */
async function droneClockOffset(sim: SimProcess): Promise<number> {
  const response = await fetch(`${droneUrl(sim, 'drone-1')}/v1/telemetry`);
  if (!response.ok) throw new Error(`GET telemetry answered ${response.status}: ${await response.text()}`);
  const body = (await response.json()) as { now?: unknown };
  expect(body.now, 'the telemetry answer carries the drone clock as `now`').toEqual(expect.any(Number));
  return (body.now as number) - Date.now();
}

interface Judged {
  readonly step: string;
  readonly metrics: readonly {
    readonly metric: string;
    readonly verdict: string;
    readonly canarySamples: number;
    readonly baselineSamples: number;
  }[];
}

/** The canary's analysis intervals as the audit log recorded them. */
async function canaryJudgements(stateDir: string, id: string): Promise<Judged[]> {
  const lines = (await readFile(join(stateDir, 'rollouts', id, 'audit.ndjson'), 'utf8')).trim().split('\n');
  return lines
    .map((line) => JSON.parse(line) as { kind: string } & Judged)
    .filter((event) => event.kind === 'judgement' && event.step === 'canary');
}

/**
 * Samples an interval may hold when only samples under the right config count: 3 canary drones (7
 * baseline drones) at 5 samples a second over a 1 s interval, with slack for the read's own delay. A
 * window on the host's clock takes every sample a drone holds (up to 200) when the drones run ahead,
 * and none when they run behind.
 */
function expectWindowsOfOneInterval(judged: readonly Judged[]): void {
  expect(judged.length).toBeGreaterThan(0);
  for (const { metrics } of judged) {
    for (const metric of metrics) {
      expect(metric.canarySamples, `${metric.metric} canary samples`).toBeGreaterThanOrEqual(3);
      expect(metric.canarySamples, `${metric.metric} canary samples`).toBeLessThanOrEqual(3 * 8);
      expect(metric.baselineSamples, `${metric.metric} baseline samples`).toBeLessThanOrEqual(7 * 8);
    }
  }
}

/** How many telemetry samples drone-1 holds. */
async function samplesHeld(sim: SimProcess): Promise<number> {
  const body = (await (await fetch(`${droneUrl(sim, 'drone-1')}/v1/telemetry`)).json()) as { samples: unknown[] };
  return body.samples.length;
}

const SKEWS = [
  { label: 'no clock offset (reference)', offset: 0 },
  { label: 'drone clocks 5 minutes ahead', offset: FIVE_MINUTES },
  { label: 'drone clocks 5 minutes behind', offset: -FIVE_MINUTES },
] as const;

describe("canary windows do not depend on the drones' clocks", () => {
  let sim: SimProcess | undefined;
  let work: { path: string; remove(): Promise<void> };
  let state: { path: string; remove(): Promise<void> };

  beforeEach(async () => {
    work = await tempDir('clock-skew-');
    state = await tempDir('clock-skew-state-');
  });

  afterEach(async () => {
    await sim?.stop();
    sim = undefined;
    expect(await lockTable(state.path)).toEqual([]);
    await Promise.all([work.remove(), state.remove()]);
  });

  async function startSkewedSim(offset: number): Promise<SimProcess> {
    const skew = offset === 0 ? [] : [`--clock-offset=${offset}`];
    const started = await startSimProcess(['--drones', String(DRONES), ...skew]);
    sim = started;
    // Loopback round trips take milliseconds; ten seconds of slack still tell 0 from ±5 minutes.
    expect(Math.abs((await droneClockOffset(started)) - offset)).toBeLessThan(10_000);
    // Some history first: a window on the wrong clock would take all of it (ahead: 3 canary drones × 10
    // samples and more, above the 3 × 8 one interval may hold) or none (behind).
    if (offset !== 0)
      await expect.poll(async () => (await samplesHeld(started)) >= 10, { timeout: 20_000, interval: 250 }).toBe(true);
    return started;
  }

  /**
   * Runs a shipped config on a fleet whose clocks are `offset` off, in the shipped aim-sensitivity spec's
   * shape, faster: a canary of 3 baking 3 s, judged every second, then one wave to 100 %.
   */
  async function runOnSkewedFleet(
    offset: number,
    name: string,
    shipped: string,
  ): Promise<{ fleet: SimProcess; run: CliResult }> {
    const fleet = await startSkewedSim(offset);
    const spec = await writeSpec(work.path, name, { shipped, bake: '3s', interval: '1s', minSamples: 3, retries: 2 });
    return { fleet, run: await runCli(runArgs(spec, fleet, state.path)) };
  }

  describe.each(SKEWS)('$label', ({ offset }) => {
    it('promotes the good config: exit 0, every drone on the new version', async () => {
      const { fleet, run } = await runOnSkewedFleet(offset, 'aim-good', 'aim_lock_config.conf');
      expect(run.code, run.stdout + run.stderr).toBe(0);
      const report = parseReport(run);
      expect(report).toMatchObject({ result: 'promoted', hot: [] });
      expectWindowsOfOneInterval(await canaryJudgements(state.path, report.id));
      expect(report.config.version).not.toBe('v42');
      for (const [id, drone] of Object.entries(await fleetHealth(fleet, DRONES))) {
        expect(drone.state, id).toBe('active');
        const { version, sha256 } = report.config;
        expect(drone.configs[FILE], id).toMatchObject({ version, sha256, lock: 'free' });
      }
    });

    it('rolls back the bad config: exit 1, trajectory_error named, every drone back on v42', async () => {
      const { fleet, run } = await runOnSkewedFleet(offset, 'aim-bad', 'aim_lock_config.bad.conf');
      expect(run.code, run.stdout + run.stderr).toBe(1);
      const report = parseReport(run);
      expect(report.result).toBe('rolled_back');
      expect(report.reason).toMatch(/trajectory_error/);
      const judged = await canaryJudgements(state.path, report.id);
      expectWindowsOfOneInterval(judged);
      // Caught by what the canary reported, not for want of data.
      expect(judged[0]?.metrics.find((m) => m.metric === 'trajectory_error')?.verdict).toBe('high');
      for (const [id, drone] of Object.entries(await fleetHealth(fleet, DRONES))) {
        expect(drone.state, id).toBe('active');
        expect(drone.configs[FILE]?.version, id).toBe('v42');
      }
    });
  });
});
