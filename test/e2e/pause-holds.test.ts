import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runCli, startCli, startSimProcess, type SimProcess } from '../helpers/cli.js';
import {
  Children,
  FILE,
  fleetHealth,
  lockTable,
  parseReport,
  runArgs,
  tempDirPerTest,
  untilStage,
  within,
  writeSpec,
} from '../helpers/fleet.js';

/*
 * Pause holds through the real CLI: the rollout renews its holds while it runs; SIGKILLed, with nothing
 * else run, its drones resume by themselves within `pause.hold`, and `rollout resume` still finishes it.
 */

const DRONES = 6;
const HOLD_MS = 2_000;
/** What "a small margin" past the hold allows: one lapse timer firing, one health poll. */
const MARGIN_MS = 1_500;

describe('pause holds that lapse when the rollout dies', () => {
  const children = new Children();
  const dir = tempDirPerTest('pause-holds-', children);
  let sim: SimProcess;

  beforeEach(async () => {
    sim = await startSimProcess(['--drones', String(DRONES)]);
  });

  afterEach(async () => {
    await sim.stop();
  });

  const states = async (): Promise<string[]> =>
    Object.values(await fleetHealth(sim, DRONES)).map((drone) => drone.state);

  it('renewed while the run lives; after SIGKILL every drone is active within the hold; resume finishes on one version', async () => {
    const path = await writeSpec(dir.path, 'held', { bake: '6s', extra: `pause: { hold: ${HOLD_MS}ms }` });
    const run = children.track(startCli([...runArgs(path, sim, dir.path), '--log-level', 'info']));
    await untilStage(run, 'canary: baking', 20_000);

    // Past one whole hold time into the bake, the live run's renewals keep every drone paused
    await new Promise((r) => setTimeout(r, HOLD_MS + 500));
    expect(await states()).toEqual(Array(DRONES).fill('paused'));

    run.child.kill('SIGKILL');
    await run.done;
    const killedAt = Date.now();
    await expect.poll(states, { timeout: HOLD_MS + MARGIN_MS, interval: 100 }).toEqual(Array(DRONES).fill('active'));
    const resumedAfter = Date.now() - killedAt;
    expect(resumedAfter).toBeLessThanOrEqual(HOLD_MS + MARGIN_MS);
    const health = await fleetHealth(sim, DRONES);
    for (const drone of Object.values(health)) {
      expect((drone as { lapsed?: { rollout: string }[] }).lapsed?.map((hold) => hold.rollout)).toEqual([
        expect.stringMatching(/^held-/u),
      ]);
    }

    const history = JSON.parse((await runCli(['history', '--output', 'json', '--state-dir', dir.path])).stdout) as {
      id: string;
    }[];
    const id = history[0]?.id ?? '';
    const resumed = await within(
      runCli(['resume', id, '--output', 'json', '--state-dir', dir.path]),
      60_000,
      'rollout resume',
    );
    expect(parseReport(resumed).result, resumed.stderr).toBe('promoted');
    const after = Object.values(await fleetHealth(sim, DRONES));
    expect(after.map((drone) => drone.state)).toEqual(Array(DRONES).fill('active'));
    expect(new Set(after.map((drone) => drone.configs[FILE]?.version))).toEqual(new Set(['v43']));
    expect(await lockTable(dir.path)).toEqual([]);
  }, 90_000);
});
