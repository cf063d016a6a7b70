import { readFile, writeFile } from 'node:fs/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runCli, startCli, startSimProcess, tempDir, type CliProcess, type SimProcess } from '../helpers/cli.js';
import { Children, FILE, fleetHealth, lockTable, parseReport, runArgs, within, writeSpec } from '../helpers/fleet.js';

const DRONES = 10;

interface SimStats {
  readonly pushes: number;
  readonly rollbacks: number;
}

async function simStats(sim: SimProcess): Promise<SimStats> {
  return (await (await fetch(`${sim.url}/sim/stats`)).json()) as SimStats;
}

/** Waits until the frozen run's lease has run out, as the lock table sees it: the successor may take it. */
async function leaseExpired(stateDir: string): Promise<void> {
  await expect
    .poll(async () => (await lockTable(stateDir))[0]?.staleReason, { timeout: 20_000, interval: 100 })
    .toBe('expired');
}

async function versions(sim: SimProcess): Promise<Record<string, string | undefined>> {
  return Object.fromEntries(
    Object.entries(await fleetHealth(sim, DRONES)).map(([id, drone]) => [id, drone.configs[FILE]?.version]),
  );
}

describe('a rollout frozen past its TTL while another rollout takes the lock', () => {
  let sim: SimProcess;
  let state: { path: string; remove(): Promise<void> };
  const children = new Children();

  beforeEach(async () => {
    state = await tempDir('rollout-frozen-');
  });

  afterEach(async () => {
    await children.reap();
    await sim.stop();
    expect(await lockTable(state.path)).toEqual([]);
    await state.remove();
  });

  /** Resolves once `count` drones of the fleet run `version`. */
  async function untilRunning(version: string, count: number): Promise<void> {
    await expect
      .poll(async () => Object.values(await versions(sim)).filter((v) => v === version).length, {
        timeout: 15_000,
        interval: 50,
      })
      .toBe(count);
  }

  /** The second rollout: it adopts the mixed fleet it finds, pushes v44 to its canary (drones 1 … 3), then bakes. */
  async function startSuccessor(): Promise<CliProcess> {
    const successorSpec = await writeSpec(state.path, 'successor', {
      canary: 3,
      bake: '60s',
      version: 'v44',
      mixedVersions: 'adopt',
    });
    return children.track(startCli(runArgs(successorSpec, sim, state.path)));
  }

  /**
   * Interrupts the successor, which exits 130 and puts its canary back where it found it: then every drone
   * is active and runs the version `expected` gives for it (one of them, where it gives several).
   */
  async function interruptSuccessor(
    successor: CliProcess,
    expected: (id: string) => string | readonly string[],
  ): Promise<void> {
    successor.child.kill('SIGINT');
    expect((await within(successor.done, 20_000, 'the successor')).code).toBe(130);
    for (const [id, drone] of Object.entries(await fleetHealth(sim, DRONES))) {
      expect(drone.state, id).toBe('active');
      expect([expected(id)].flat(), id).toContain(drone.configs[FILE]?.version);
    }
  }

  describe('frozen in a wave bake', () => {
    beforeEach(async () => {
      sim = await startSimProcess(['--drones', String(DRONES)]);
    });

    it('woken, it sends no write to any drone: its drones are left to the holder, and it ends needs_attention naming them', async () => {
      // Given a run frozen (SIGSTOP) in the bake of its first wave: drones 1 … 5 run its v43
      const frozenSpec = await writeSpec(state.path, 'frozen', {
        canary: 2,
        bake: '0s',
        ttl: '3s',
        version: 'v43',
        waves: ['{ percent: 50, bake: 60s }', '{ percent: 100, bake: 0s }'],
      });
      const frozen = children.track(startCli(runArgs(frozenSpec, sim, state.path)));
      await untilRunning('v43', 5);
      frozen.child.kill('SIGSTOP');
      await leaseExpired(state.path);

      // And a second rollout that takes the expired lock with a larger fence, adopts the mixed fleet it finds,
      // and pushes its canary (drones 1 … 3), then bakes
      const successor = await startSuccessor();
      await untilRunning('v44', 3);
      const before = await simStats(sim);

      // When the frozen run wakes
      frozen.child.kill('SIGCONT');
      const woken = await within(frozen.done, 30_000, 'the woken run');

      // Then it sent nothing: no rollback and no push reached any drone; the successor's drones and the
      // drones only the frozen run changed are as they were
      const report = parseReport(woken);
      expect(woken.code, woken.stderr).toBe(5);
      expect(report.result).toBe('needs_attention');
      expect(report.reason).toMatch(/lease lost.*the config lock is now held by rollout successor-/);
      expect([...report.attention].sort()).toEqual(['drone-1', 'drone-2', 'drone-3', 'drone-4', 'drone-5']);
      const after = await simStats(sim);
      expect(after.rollbacks).toBe(before.rollbacks);
      expect(after.pushes).toBe(before.pushes);
      const seen = await versions(sim);
      for (const id of ['drone-1', 'drone-2', 'drone-3']) expect(seen[id], id).toBe('v44');
      for (const id of ['drone-4', 'drone-5']) expect(seen[id], id).toBe('v43');
      for (const id of ['drone-6', 'drone-7', 'drone-8', 'drone-9', 'drone-10']) expect(seen[id], id).toBe('v42');
      expect((await lockTable(state.path)).map((lock) => lock.owner.rollout)).toEqual([
        expect.stringMatching(/^successor-/),
      ]);

      // The successor, interrupted, puts its canary back where it found it (v43) and leaves the rest alone
      await interruptSuccessor(successor, (id) => (Number(id.slice('drone-'.length)) <= 5 ? 'v43' : 'v42'));
    });
  });

  describe('killed, then resumed while another rollout holds the lock', () => {
    beforeEach(async () => {
      sim = await startSimProcess(['--drones', String(DRONES)]);
    });

    it('the resumed run, promoted at once, sends nothing to any drone and ends needs_attention naming the holder', async () => {
      // Given a run SIGKILLed at its manual gate, its canary (drones 1 and 2) on v43, its lease still fresh
      const killedSpec = await writeSpec(state.path, 'killed', {
        canary: 2,
        bake: '0s',
        version: 'v43',
        waves: ['{ percent: 50, bake: 0s }', '{ percent: 100, bake: 0s }'],
      });
      await writeFile(
        killedSpec,
        (await readFile(killedSpec, 'utf8')).replace('  bake: 0s', '  bake: 0s\n  approval: manual'),
      );
      const killed = children.track(startCli(runArgs(killedSpec, sim, state.path)));
      const killedId = await stageOf(/^killed-/, /^waiting for `rollout promote/);
      killed.child.kill('SIGKILL');
      await killed.done;

      // And a second rollout that reclaims the dead run's lock, adopts the fleet it left, and bakes its canary
      const successor = await startSuccessor();
      await untilRunning('v44', 3);
      const before = await simStats(sim);

      // When the killed run is resumed, back at its gate, and promoted before its first renewal (TTL/3) fails
      const resumed = children.track(startCli(['resume', killedId, '--output', 'json', '--state-dir', state.path]));
      await stageOf(new RegExp(`^${killedId}$`), /^waiting for `rollout promote/);
      expect((await runCli(['promote', killedId, '--state-dir', state.path])).code).toBe(0);
      const ended = await within(resumed.done, 30_000, 'the resume');

      // Then it wrote nothing with its old fence (its first wave would have landed on drones 4 and 5), and says why
      expect(ended.code, ended.stderr).toBe(5);
      expect(parseReport(ended)).toMatchObject({
        result: 'needs_attention',
        reason: expect.stringMatching(/held by rollout successor-/),
      });
      const after = await simStats(sim);
      expect(after.pushes).toBe(before.pushes);
      expect(after.rollbacks).toBe(before.rollbacks);
      expect((await lockTable(state.path)).map((lock) => lock.owner.rollout)).toEqual([
        expect.stringMatching(/^successor-/),
      ]);

      await interruptSuccessor(successor, (id) => (['drone-1', 'drone-2'].includes(id) ? 'v43' : 'v42'));
    });

    /** The id of the rollout whose id matches, once `rollout history` shows it running in a matching stage. */
    async function stageOf(id: RegExp, stage: RegExp): Promise<string> {
      let found = '';
      await expect
        .poll(
          async () => {
            const rows = JSON.parse(
              (await runCli(['history', '--output', 'json', '--state-dir', state.path])).stdout,
            ) as { id: string; state: string }[];
            const row = rows.find((r) => id.test(r.id));
            found = row?.id ?? '';
            return row?.state ?? '';
          },
          { timeout: 15_000, interval: 100 },
        )
        .toMatch(stage);
      return found;
    }
  });

  describe('frozen mid-push', () => {
    beforeEach(async () => {
      // drone-4 answers slowly: the wave's push is frozen while waiting for it; drones 5 … 10 answer at once.
      sim = await startSimProcess(['--drones', String(DRONES), '--slow', 'drone-4', '--slow-ms', '1500']);
    });

    it('woken, it pushes to no drone it had not reached, rolls back nothing, and names what it changed', async () => {
      const frozenSpec = await writeSpec(state.path, 'frozen', {
        canary: 1,
        bake: '0s',
        ttl: '1s',
        concurrency: 1,
        version: 'v43',
      });
      const frozen = children.track(startCli(runArgs(frozenSpec, sim, state.path)));
      // Frozen mid-wave: drone-1 (canary) and drones 2 and 3 run its version; the push to drone-4 is in flight.
      await expect
        .poll(
          async () => Object.values(await fleetHealth(sim, 3)).filter((d) => d.configs[FILE]?.version === 'v43').length,
          { timeout: 15_000, interval: 20 },
        )
        .toBe(3);
      frozen.child.kill('SIGSTOP');
      await leaseExpired(state.path);

      // The successor reclaims the expired lease and fences only its canary (drones 1 … 3), then bakes.
      const successor = await startSuccessor();
      await expect
        .poll(
          async () => {
            const seen = await versions(sim);
            return ['drone-1', 'drone-2', 'drone-3'].map((id) => seen[id]);
          },
          { timeout: 15_000, interval: 50 },
        )
        .toEqual(['v44', 'v44', 'v44']);
      const rollbacksBefore = (await simStats(sim)).rollbacks;

      frozen.child.kill('SIGCONT');
      const woken = await within(frozen.done, 20_000, 'the woken run');
      expect(woken.code, woken.stdout + woken.stderr).toBe(5);
      expect(parseReport(woken).reason).toMatch(/lease lost/);
      expect((await simStats(sim)).rollbacks).toBe(rollbacksBefore);
      // Whatever it had in flight, it started no push after waking: only the drones it names ever ran its version.
      const left = parseReport(woken).attention;
      expect(left).toEqual(expect.arrayContaining(['drone-1', 'drone-2', 'drone-3']));
      const seen = await versions(sim);
      for (const [id, version] of Object.entries(seen)) if (!left.includes(id)) expect(version, id).toBe('v42');

      // The successor, interrupted, puts its canary back where it found it; nothing is left paused. A drone
      // it names beyond the successor's canary had its push in flight when the run froze: landed (v43), or,
      // if the freeze came between marking it pushed and writing the request, cancelled on waking (v42).
      const inFlight = left.filter((id) => !['drone-1', 'drone-2', 'drone-3'].includes(id));
      expect(inFlight.length).toBeLessThanOrEqual(1);
      await interruptSuccessor(successor, (id) =>
        !left.includes(id) ? 'v42' : inFlight.includes(id) ? ['v43', 'v42'] : 'v43',
      );
    });
  });
});
