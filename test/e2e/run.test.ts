import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runCli, startCli, startSimProcess, tempDir, type SimProcess } from '../helpers/cli.js';
import {
  Children,
  FILE,
  droneUrl,
  fleetHealth,
  health,
  lockTable,
  parseReport,
  runArgs,
  writeSpec,
} from '../helpers/fleet.js';

describe('rollout run through the real CLI against a simulated fleet', () => {
  const children = new Children();
  let sim: SimProcess | undefined;
  let state: { path: string; remove(): Promise<void> };

  beforeEach(async () => {
    state = await tempDir('rollout-state-');
  });

  afterEach(async () => {
    await children.reap();
    await sim?.stop();
    sim = undefined;
    expect(await lockTable(state.path)).toEqual([]);
    await state.remove();
  });

  it('promotes the shipped spec: exit 0, every drone on the new version, active, lock free', async () => {
    sim = await startSimProcess(['--drones', '20']);
    const run = await runCli(runArgs('rollouts/aim-sensitivity.yaml', sim, state.path));
    expect(run.code, run.stderr).toBe(0);
    const report = parseReport(run);
    expect(report).toMatchObject({ result: 'promoted', exitCode: 0, hot: [] });
    expect(Object.keys(report.drones)).toHaveLength(20);
    for (const drone of Object.values(await fleetHealth(sim, 20))) {
      expect(drone.state).toBe('active');
      expect(drone.configs[FILE]).toMatchObject({
        version: report.config.version,
        sha256: report.config.sha256,
        lock: 'free',
      });
    }
  });

  it('rolls back the shipped bad config caught by telemetry: exit 1, every drone back on v42', async () => {
    sim = await startSimProcess(['--drones', '20']);
    const run = await runCli(runArgs('rollouts/aim-sensitivity-bad.yaml', sim, state.path));
    expect(run.code, run.stderr).toBe(1);
    const report = parseReport(run);
    expect(report.result).toBe('rolled_back');
    expect(report.reason).toMatch(/trajectory_error/);
    expect(Object.values(report.drones).filter((d) => d.state === 'rolled_back')).toHaveLength(3);
    for (const drone of Object.values(await fleetHealth(sim, 20))) {
      expect(drone).toMatchObject({ state: 'active' });
      expect(drone.configs[FILE]?.version).toBe('v42');
    }
  });

  it('aborts on a HOT drone: exit 4, the HOT drone named, nothing left changed or paused', async () => {
    sim = await startSimProcess(['--drones', '20', '--hot', 'drone-7']);
    const run = await runCli(runArgs('rollouts/aim-sensitivity-hot.yaml', sim, state.path));
    expect(run.code, run.stderr).toBe(4);
    const report = parseReport(run);
    expect(report).toMatchObject({ result: 'aborted_hot', hot: ['drone-7'] });
    expect(report.reason).toMatch(/drone-7/);
    for (const drone of Object.values(await fleetHealth(sim, 20))) {
      expect(drone.state).toBe('active');
      expect(drone.configs[FILE]?.version).toBe('v42');
    }
  });

  it("text progress counts each verdict against its own step's intervals", async () => {
    sim = await startSimProcess(['--drones', '6']);
    const spec = await writeSpec(state.path, 'counted', { bake: '1s', waves: ['{ percent: 100, bake: 500ms }'] });
    const run = await runCli(['run', spec, '--inventory', sim.inventory, '--state-dir', state.path]);
    expect(run.code, run.stdout + run.stderr).toBe(0);
    const counted = [...run.stdout.matchAll(/^ {2}(canary|wave 1) interval (\d+)\/(\d+):/gm)].map(
      (m) => `${m[1]} ${m[2]}/${m[3]}`,
    );
    expect(counted).toEqual(['canary 1/2', 'canary 2/2', 'wave 1 1/1']);
  });

  it('text output names the HOT drone for a person', async () => {
    sim = await startSimProcess(['--drones', '20', '--hot', 'drone-7']);
    const run = await runCli([
      'run',
      'rollouts/aim-sensitivity-hot.yaml',
      '--inventory',
      sim.inventory,
      '--state-dir',
      state.path,
    ]);
    expect(run.code).toBe(4);
    expect(run.stdout).toMatch(/aborted_hot: aim-sensitivity-hot/);
    expect(run.stdout).toMatch(/HOT drones?: drone-7/);
  });

  it('rejects an invalid spec with exit 2, naming file:line:col and key, and touches no drone', async () => {
    sim = await startSimProcess(['--drones', '5']);
    const spec = await writeSpec(state.path, 'broken', { canary: -3, extra: 'canary_typo: 3' });
    const run = await runCli(runArgs(spec, sim, state.path));
    expect(run.code).toBe(2);
    expect(JSON.parse(run.stdout)).toMatchObject({ result: 'invalid', exitCode: 2, code: 'E_SPEC_INVALID' });
    expect(run.stderr).toMatch(/broken\.yaml:\d+:\d+ canary\.drones: /);
    expect(run.stderr).toMatch(/broken\.yaml:\d+:\d+ canary_typo: /);
    for (const drone of Object.values(await fleetHealth(sim, 5))) {
      expect(drone.state).toBe('active');
      expect(drone.configs[FILE]?.fence).toBe(0);
    }
  });

  it('lock busy: a second run on the same config exits 3 and pushes nothing; SIGINT ends the first with 130', async () => {
    sim = await startSimProcess(['--drones', '10']);
    const slow = await writeSpec(state.path, 'first', { bake: '60s' });
    const second = await writeSpec(state.path, 'second');
    const first = children.track(startCli(runArgs(slow, sim, state.path)));
    await expect
      .poll(async () => (await health(droneUrl(sim!, 'drone-1'))).configs[FILE]?.fence ?? 0, { timeout: 15_000 })
      .toBeGreaterThan(0);

    const busy = await runCli(runArgs(second, sim, state.path));
    expect(busy.code, busy.stderr).toBe(3);
    const report = parseReport(busy);
    expect(report.result).toBe('lock_busy');
    expect(report.reason).toMatch(/rollout first-/);
    expect(Object.values(report.drones).every((d) => d.state === 'unchanged')).toBe(true);
    // The first rollout's pause holds are untouched: its drones stay paused until it ends.
    expect((await health(droneUrl(sim, 'drone-5'))).state).toBe('paused');

    first.child.kill('SIGINT');
    const ended = await first.done;
    expect(ended.code, ended.stderr).toBe(130);
    expect(parseReport(ended)).toMatchObject({ result: 'interrupted' });
    for (const drone of Object.values(await fleetHealth(sim, 10))) {
      expect(drone.state).toBe('active');
      expect(drone.configs[FILE]?.version).toBe('v42');
    }
  });

  it('needs attention when a tolerated push failure leaves a drone on the old config: exit 5, drone listed', async () => {
    sim = await startSimProcess(['--drones', '10', '--fail', 'drone-6']);
    const spec = await writeSpec(state.path, 'tolerant', { bake: '0s', extra: 'abort: { max_push_failures: 1 }' });
    const run = await runCli(runArgs(spec, sim, state.path));
    expect(run.code, run.stderr).toBe(5);
    const report = parseReport(run);
    expect(report).toMatchObject({ result: 'needs_attention', attention: ['drone-6'] });
    expect(report.drones['drone-6']?.state).toBe('failed');
    expect((await health(droneUrl(sim, 'drone-6'))).state).toBe('active');
  });
});
