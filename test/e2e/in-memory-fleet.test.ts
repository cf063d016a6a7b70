import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { SimStatsView } from '../../src/simulator/sim-stats.js';
import { runCli, startCli, startSimProcess, tempDir, type SimProcess } from '../helpers/cli.js';
import { Children, lockTable, parseReport, runArgs, within, writeSpec } from '../helpers/fleet.js';

const DRONES = 30;
const TWO_WAVES = ['{ percent: 50, bake: 0s }', '{ percent: 100, bake: 0s }'];

async function statsOf(sim: SimProcess): Promise<SimStatsView> {
  const response = await fetch(`${sim.url}/sim/stats`);
  return (await response.json()) as SimStatsView;
}

describe('the real CLI against `fleet sim --in-memory` over loopback', () => {
  let state: { path: string; remove(): Promise<void> };
  let sim: SimProcess | undefined;
  const children = new Children();
  /** `rollout run` of `spec` on the fleet, as a user starts it; waited for at most `ms`. */
  const runRollout = (spec: string, fleet: SimProcess, ms: number) =>
    within(children.track(startCli(runArgs(spec, fleet, state.path))).done, ms, 'rollout run');

  beforeEach(async () => {
    state = await tempDir('rollout-in-memory-');
  });

  afterEach(async () => {
    await children.reap();
    await sim?.stop();
    sim = undefined;
    expect(await lockTable(state.path)).toEqual([]);
    await state.remove();
  });

  it('promotes: every drone on the new version, none left paused, each drone in the JSON result', async () => {
    sim = await startSimProcess(['--drones', String(DRONES), '--in-memory']);
    const spec = await writeSpec(state.path, 'in-memory', { bake: '0s', concurrency: 8, waves: TWO_WAVES });

    const run = await runRollout(spec, sim, 60_000);

    expect(run.code, run.stderr).toBe(0);
    const report = parseReport(run);
    expect(report.result).toBe('promoted');
    expect(Object.keys(report.drones)).toHaveLength(DRONES);
    expect((await statsOf(sim)).fleet).toEqual({ paused: 0, versions: { v43: DRONES } });
  });

  it('aborts on a drone that turns HOT at its push in the last wave: rolled back, resumed, no push after it', async () => {
    sim = await startSimProcess(['--drones', String(DRONES), '--in-memory', '--hot-on-push', 'drone-25']);
    const spec = await writeSpec(state.path, 'in-memory-hot', { bake: '0s', concurrency: 1, waves: TWO_WAVES });

    const run = await runRollout(spec, sim, 60_000);

    expect(run.code, run.stderr).toBe(4);
    expect(parseReport(run)).toMatchObject({ result: 'aborted_hot', hot: ['drone-25'] });
    const stats = await statsOf(sim);
    // One push at a time: the HOT answer is the last push any drone sees.
    expect(stats.pushesAfterFirstHot).toBe(0);
    expect(stats.fleet).toEqual({ paused: 0, versions: { v42: DRONES } });
  });

  it('summarises the JSON result above 10,000 drones, and status reads every drone back from the folded progress', async () => {
    const drones = 10_500;
    sim = await startSimProcess(['--drones', String(drones), '--in-memory']);
    const spec = await writeSpec(state.path, 'in-memory-large', { bake: '0s', concurrency: 64, waves: TWO_WAVES });

    const run = await runRollout(spec, sim, 120_000);

    expect(run.code, run.stderr).toBe(0);
    const report = parseReport(run);
    expect(report.result).toBe('promoted');
    expect(report.droneSummary).toMatchObject({
      total: drones,
      states: { updated: drones },
      versions: { v43: drones },
    });
    expect(report.drones).toEqual({});
    expect((await statsOf(sim)).fleet).toEqual({ paused: 0, versions: { v43: drones } });
    // The progress log outgrew its limit and was folded into a base of one drone per line.
    const base = await readFile(join(state.path, 'rollouts', report.id, 'progress.json'), 'utf8');
    expect(base.startsWith('{\n"drone-')).toBe(true);

    const status = await runCli(['status', report.id, '--output', 'json', '--state-dir', state.path]);
    expect(status.code, status.stderr).toBe(0);
    const shown = JSON.parse(status.stdout) as { drones: Record<string, { version: string | null; paused: boolean }> };
    const versions = Object.values(shown.drones).map((drone) => drone.version);
    expect(versions).toHaveLength(drones);
    expect(new Set(versions)).toEqual(new Set(['v43']));
  });
});
