import { readFile, writeFile } from 'node:fs/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { SimStatsView } from '../../src/simulator/sim-stats.js';
import { startCli, startSimProcess, tempDir, type SimProcess } from '../helpers/cli.js';
import { Children, FILE, fleetHealth, lockTable, parseReport, runArgs, within, writeSpec } from '../helpers/fleet.js';

const DRONES = 40;
const CONCURRENCY = 8;
/** In the last wave: the canary is drones 1 … 3, wave 1 brings the fleet to 50 % (drone-20), wave 2 takes the rest. */
const HOT_INDEX = 22;
const HOT = `drone-${HOT_INDEX}`;
/**
 * Pushes go out in inventory order, CONCURRENCY at a time: before the HOT answer at most CONCURRENCY - 1
 * drones after drone-22 began theirs, and after it at most one more per worker. The drones past that
 * never see a push.
 */
const LAST_PUSHED = HOT_INDEX + 2 * CONCURRENCY - 1;

async function simStats(sim: SimProcess): Promise<SimStatsView> {
  const response = await fetch(`${sim.url}/sim/stats`);
  if (!response.ok) throw new Error(`GET /sim/stats answered ${response.status}: ${await response.text()}`);
  return (await response.json()) as SimStatsView;
}

describe('a drone of the last wave that turns HOT when its push arrives', () => {
  let sim: SimProcess;
  let state: { path: string; remove(): Promise<void> };
  const children = new Children();

  beforeEach(async () => {
    state = await tempDir('rollout-hot-mid-push-');
    sim = await startSimProcess(['--drones', String(DRONES), '--hot-on-push', HOT]);
  });

  afterEach(async () => {
    await children.reap();
    await sim.stop();
    expect(await lockTable(state.path)).toEqual([]);
    await state.remove();
  });

  it('aborts the rollout (exit 4, the drone named), rolls back every drone that took the config, resumes the fleet; few pushes start after the HOT answer', async () => {
    // Given a spec pushing in two waves after the canary, and a fleet whose drone-22 is free at the pause
    const spec = await writeSpec(state.path, 'hot-mid-push', { concurrency: CONCURRENCY, version: 'v43' });
    const text = await readFile(spec, 'utf8');
    const twoWaves = text.replace(
      'waves:\n  - { percent: 100, bake: 0s }',
      'waves:\n  - { percent: 50, bake: 0s }\n  - { percent: 100, bake: 0s }',
    );
    expect(twoWaves).not.toBe(text);
    await writeFile(spec, twoWaves);

    // When the rollout runs through the real CLI
    const run = await within(children.track(startCli(runArgs(spec, sim, state.path))).done, 60_000, 'rollout run');

    // Then it aborts on drone-22's HOT answer to its push
    expect(run.code, run.stdout + run.stderr).toBe(4);
    const report = parseReport(run);
    expect(report).toMatchObject({ result: 'aborted_hot', hot: [HOT] });
    expect(report.reason).toMatch(new RegExp(HOT));
    const rolledBack = Object.entries(report.drones)
      .filter(([, drone]) => drone.state === 'rolled_back')
      .map(([id]) => id);
    // The canary and the first wave had the config, so there was something to roll back.
    expect(rolledBack.length).toBeGreaterThanOrEqual(DRONES / 2);
    expect(rolledBack).not.toContain(HOT);

    // And every drone is back on v42 (those that took v43 included) and active; only drone-22 holds its
    // lock, and the drones far enough after it never saw the rollout's fence
    const fleet = await fleetHealth(sim, DRONES);
    for (const [id, drone] of Object.entries(fleet)) {
      expect(drone.state, id).toBe('active');
      expect(drone.configs[FILE]?.version, id).toBe('v42');
      expect(drone.configs[FILE]?.lock, id).toBe(id === HOT ? 'HOT' : 'free');
      if (Number(id.slice('drone-'.length)) > LAST_PUSHED) expect(drone.configs[FILE]?.fence, id).toBe(0);
    }

    // And the drones' side agrees: the HOT answer went to drone-22, and at most one push per worker began after it
    const stats = await simStats(sim);
    expect(stats.firstHotAnswer?.drone).toBe(HOT);
    expect(stats.pushesAfterFirstHot).toBeLessThanOrEqual(CONCURRENCY);
    expect(stats.pushes).toBeGreaterThan(rolledBack.length);
    expect(stats.pushes).toBeLessThanOrEqual(LAST_PUSHED);
    expect(stats.rollbacks).toBeGreaterThanOrEqual(rolledBack.length);
    expect(stats.resumes).toBe(DRONES);
  });
});
