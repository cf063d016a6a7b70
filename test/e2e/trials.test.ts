import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { readAudit } from '../helpers/chaos.js';
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
 * Trial configs through the real CLI (`push.confirm_within`): a live rollout confirms each step once it
 * has passed, so its drones keep the new config; a rollout killed after its canary's push confirms
 * nothing, and the canary drones go back to the old config by themselves.
 */

const DRONES = 6;
const TRIAL_MS = 3_000;
/** The killed run's trial: longer than its 4 s bake, so the kill (once the bake is stored) comes first. */
const KILLED_TRIAL_MS = 5_000;
/** What "by themselves, in time" allows past the trial: one revert timer firing, one health poll. */
const MARGIN_MS = 1_500;

interface TrialView {
  readonly state: string;
  readonly configs: Readonly<
    Record<
      string,
      {
        readonly version: string;
        readonly trial?: { readonly rollout: string };
        readonly reverted?: { readonly version: string; readonly rollout: string };
      }
    >
  >;
}

describe('trial configs that revert by themselves', () => {
  const children = new Children();
  const dir = tempDirPerTest('trials-', children);
  let sim: SimProcess;

  beforeEach(async () => {
    sim = await startSimProcess(['--drones', String(DRONES)]);
  });

  afterEach(async () => {
    await sim.stop();
  });

  const fleet = async (): Promise<TrialView[]> => Object.values(await fleetHealth(sim, DRONES));
  const versions = async (): Promise<string[]> => (await fleet()).map((drone) => drone.configs[FILE]?.version ?? '');

  it('a live rollout confirms every step: past the trial time every drone keeps the new config', async () => {
    const path = await writeSpec(dir.path, 'confirmed', {
      bake: '1s',
      waves: ['{ percent: 50, bake: 1s }', '{ percent: 100, bake: 0s }'],
      extra: `push: { concurrency: 8, timeout: 5s, retries: 1, confirm_within: ${TRIAL_MS}ms }`,
    });
    // writeSpec writes its own push line: the one in `extra` must be the only one.
    const run = await runCli(runArgs(await dropFirstPush(path), sim, dir.path));
    const report = parseReport(run);

    expect(report.result, run.stderr).toBe('promoted');
    const confirms = (await readAudit(dir.path, report.id)).filter((event) => event.kind === 'confirm');
    expect(confirms.map((event) => [event.drone, event.ok]).sort()).toEqual(
      Array.from({ length: DRONES }, (_, i) => [`drone-${i + 1}`, true]).sort(),
    );
    await new Promise((r) => setTimeout(r, TRIAL_MS + MARGIN_MS));
    const after = await fleet();
    expect(after.map((drone) => drone.configs[FILE]?.version)).toEqual(Array(DRONES).fill('v43'));
    expect(after.every((drone) => drone.configs[FILE]?.trial === undefined)).toBe(true);
    expect(after.every((drone) => drone.configs[FILE]?.reverted === undefined)).toBe(true);
  });

  it('killed after the canary push, nothing else run: the canary is back on the old config by itself; resume reports it auto_reverted', async () => {
    const path = await dropFirstPush(
      await writeSpec(dir.path, 'killed', {
        bake: '4s',
        extra: `push: { concurrency: 8, timeout: 5s, retries: 1, confirm_within: ${KILLED_TRIAL_MS}ms }\npause: { hold: 2s }`,
      }),
    );
    const run = children.track(startCli([...runArgs(path, sim, dir.path), '--log-level', 'info']));
    await untilStage(run, 'canary: baking', 20_000);
    // Killed once the bake is in the state store, so `resume` takes over at the bake, not at the push
    // (a resume at the push pushes the canary again and promotes, which is right too, but another test).
    let id = '';
    await expect
      .poll(
        async () => {
          const rows = JSON.parse((await runCli(['history', '--output', 'json', '--state-dir', dir.path])).stdout) as {
            id: string;
            state: string;
          }[];
          id = rows[0]?.id ?? '';
          return rows[0]?.state ?? '';
        },
        { timeout: 10_000, interval: 50 },
      )
      .toMatch(/^canary: baking/u);
    run.child.kill('SIGKILL');
    await run.done;
    // The canary took the new config on trial before the kill (and may be reverting already)
    const tookTrial = (await fleet()).map((drone) => {
      const config = drone.configs[FILE];
      return config?.trial !== undefined || config?.reverted?.version === 'v43';
    });
    expect(tookTrial).toEqual([true, true, true, false, false, false]);

    await expect
      .poll(versions, { timeout: KILLED_TRIAL_MS + MARGIN_MS, interval: 100 })
      .toEqual(Array(DRONES).fill('v42'));
    // What the resumed rollout starts from: the canary intervals that had passed when the process died
    const snapshot = JSON.parse(await readFile(join(dir.path, 'rollouts', id, 'snapshot.json'), 'utf8')) as {
      context: { passedIntervals: number };
    };
    const passedBeforeKill = snapshot.context.passedIntervals;
    const reverted = (await fleet()).slice(0, 3).map((drone) => drone.configs[FILE]?.reverted);
    expect(reverted).toEqual(
      Array(3).fill(expect.objectContaining({ version: 'v43', rollout: expect.stringMatching(/^killed-/u) })),
    );

    const resumed = await within(
      runCli(['resume', id, '--output', 'json', '--state-dir', dir.path]),
      60_000,
      'rollout resume',
    );
    const report = parseReport(resumed);
    // The canary drones went back by themselves, and the report says so
    expect(
      Object.entries(report.drones)
        .filter(([, drone]) => drone.state === 'auto_reverted')
        .map(([id]) => id),
    ).toEqual(['drone-1', 'drone-2', 'drone-3']);
    const after = await fleet();
    expect(after.map((drone) => drone.state)).toEqual(Array(DRONES).fill('active'));
    if (passedBeforeKill === 0) {
      // Nothing of the canary was judged before it reverted: nothing left to judge, so it rolls back,
      // the fleet on one version.
      expect(resumed.code, `${resumed.stdout}\n${resumed.stderr}`).toBe(1);
      expect(report.result).toBe('rolled_back');
      expect(after.map((drone) => drone.configs[FILE]?.version)).toEqual(Array(DRONES).fill('v42'));
    } else {
      // An interval had passed before the kill: the canary passed, the rest is pushed, and the reverted
      // canary drones are left for a human.
      expect(resumed.code, `${resumed.stdout}\n${resumed.stderr}`).toBe(5);
      expect(report).toMatchObject({ result: 'needs_attention', attention: ['drone-1', 'drone-2', 'drone-3'] });
      expect(after.map((drone) => drone.configs[FILE]?.version)).toEqual(['v42', 'v42', 'v42', 'v43', 'v43', 'v43']);
    }
    expect(await lockTable(dir.path)).toEqual([]);
  }, 60_000);
});

/** The spec without the `push:` line writeSpec writes, so the test's own (in `extra`) is the only one. */
async function dropFirstPush(path: string): Promise<string> {
  const text = await readFile(path, 'utf8');
  await writeFile(path, text.replace(/^push: .*\n/mu, ''));
  return path;
}
