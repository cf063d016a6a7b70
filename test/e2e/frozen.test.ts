import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startCli, startSimProcess, tempDir, type SimProcess } from '../helpers/cli.js';
import { Children, FILE, fleetHealth, lockTable, parseReport, runArgs, within, writeSpec } from '../helpers/fleet.js';

const DRONES = 10;

describe('a rollout frozen mid-push past its TTL', () => {
  let sim: SimProcess;
  let state: { path: string; remove(): Promise<void> };
  const children = new Children();

  beforeEach(async () => {
    state = await tempDir('rollout-frozen-');
    // drone-4 answers slowly: the wave's push is frozen while waiting for it; drones 5 … 10 answer at once.
    sim = await startSimProcess(['--drones', String(DRONES), '--slow', 'drone-4', '--slow-ms', '1500']);
  });

  afterEach(async () => {
    await children.reap();
    await sim.stop();
    expect(await lockTable(state.path)).toEqual([]);
    await state.remove();
  });

  it('woken while another rollout holds the lock, pushes to no drone that rollout has not fenced yet', async () => {
    const frozenSpec = await writeSpec(state.path, 'frozen', { canary: 1, bake: '0s', ttl: '1s', concurrency: 1, version: 'v43' });
    const frozen = children.track(startCli(runArgs(frozenSpec, sim, state.path)));
    // Frozen mid-wave: drone-1 (canary) and drones 2 and 3 run its version; the push to drone-4 is in flight.
    await expect
      .poll(async () => Object.values(await fleetHealth(sim, 3)).filter((d) => d.configs[FILE]?.version === 'v43').length, { timeout: 15_000, interval: 20 })
      .toBe(3);
    frozen.child.kill('SIGSTOP');
    await sleep(2500);

    // The successor reclaims the expired lease and fences only its canary (drones 1 … 3), then bakes.
    const successorSpec = await writeSpec(state.path, 'successor', { canary: 3, bake: '60s', version: 'v44' });
    const successor = children.track(startCli(runArgs(successorSpec, sim, state.path)));
    await expect
      .poll(async () => Object.values(await fleetHealth(sim, 3)).map((d) => d.configs[FILE]?.version), { timeout: 15_000, interval: 50 })
      .toEqual(['v44', 'v44', 'v44']);

    frozen.child.kill('SIGCONT');
    const woken = await within(frozen.done, 20_000, 'the woken run');
    expect(woken.code, woken.stdout + woken.stderr).not.toBe(0);
    expect(parseReport(woken).reason).toMatch(/lease lost/);
    // Whatever it had in flight, it started no push after waking: no drone runs its version.
    for (const [id, drone] of Object.entries(await fleetHealth(sim, DRONES))) expect(drone.configs[FILE]?.version, id).not.toBe('v43');

    // The drones the successor took from it stay on the successor's version until that one ends: the
    // woken run could not roll them back, and says so.
    const left = parseReport(woken).attention;
    expect([...left].sort()).toEqual(['drone-1', 'drone-2', 'drone-3']);

    // The successor, interrupted, puts every drone back where it found it: those three on the woken
    // run's version (it could not restore them), the rest on v42. Nothing is left paused.
    successor.child.kill('SIGINT');
    expect((await within(successor.done, 20_000, 'the successor')).code).toBe(130);
    for (const [id, drone] of Object.entries(await fleetHealth(sim, DRONES))) {
      expect(drone.state, id).toBe('active');
      expect(drone.configs[FILE]?.version, id).toBe(left.includes(id) ? 'v43' : 'v42');
    }
  });
});
