import { hostname } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runCli, startCli, startSimProcess, tempDir, type CliProcess, type SimProcess } from '../helpers/cli.js';
import {
  Children,
  FILE,
  droneIds,
  droneUrl,
  fleetFences,
  fleetHealth,
  health,
  lockTable,
  parseReport,
  resumeFleet,
  runArgs,
  within,
  writeSpec,
} from '../helpers/fleet.js';

/**
 * The config lock through real processes: `rollout run` holding it, `rollout lock ls|reclaim|release`
 * looking at it from other processes, and drones that refuse writes carrying an old fence.
 */

const DRONES = 5;
const CANARY = ['drone-1', 'drone-2', 'drone-3'];
const HOST = hostname();

/** A pattern matching `text` literally. */
function literal(text: string): RegExp {
  return new RegExp(text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
}

describe('the config lock across real rollout processes', () => {
  let sim: SimProcess;
  let state: { path: string; remove(): Promise<void> };
  const children = new Children();

  beforeEach(async () => {
    state = await tempDir('rollout-lock-');
    sim = await startSimProcess(['--drones', String(DRONES)]);
  });

  afterEach(async () => {
    try {
      await children.reap();
      await sim.stop();
      expect(await lockTable(state.path), 'a test left a lock held').toEqual([]);
    } finally {
      await state.remove();
    }
  });

  /** Resolves once every canary drone accepted a push (a non-zero fence); answers that fence. */
  async function canaryPushed(): Promise<number> {
    await expect
      .poll(async () => Object.values(await fleetFences(sim, 3)).every((fence) => fence > 0), {
        timeout: 15_000,
        interval: 100,
      })
      .toBe(true);
    const fences = new Set(Object.values(await fleetFences(sim, 3)));
    expect(fences.size, 'every canary drone has the same fence').toBe(1);
    return [...fences][0] ?? 0;
  }

  /**
   * A run with a 1 s TTL, started and past its canary push into a 60 s bake: one to freeze. Answers it and
   * its canary's fence.
   */
  async function runToCanaryBake(): Promise<{ frozen: CliProcess; frozenFence: number }> {
    const frozenSpec = await writeSpec(state.path, 'frozen', {
      bake: '60s',
      ttl: '1s',
      concurrency: 1,
      version: 'v43',
    });
    const frozen = children.track(startCli(runArgs(frozenSpec, sim, state.path)));
    return { frozen, frozenFence: await canaryPushed() };
  }

  /** Resolves once the lock table's first row is held by a rollout whose id matches `owner`. */
  async function lockTakenBy(owner: RegExp): Promise<void> {
    await expect
      .poll(async () => (await lockTable(state.path))[0]?.owner.rollout ?? '', { timeout: 10_000, interval: 100 })
      .toMatch(owner);
  }

  it('lock ls, reclaim and release against a live run; SIGINT ends the run (130) and frees the lock', async () => {
    const spec = await writeSpec(state.path, 'holder', { bake: '60s' });
    const run = children.track(startCli(runArgs(spec, sim, state.path)));
    const fence = await canaryPushed();

    const [row, ...others] = await lockTable(state.path);
    expect(others).toEqual([]);
    expect(row).toMatchObject({ key: FILE, fence, state: 'held', owner: { host: HOST, pid: run.child.pid } });
    expect(row?.staleReason).toBeUndefined();
    const rollout = row?.owner.rollout ?? '';
    expect(rollout).toMatch(/^holder-/);

    const text = await runCli(['lock', 'ls', '--state-dir', state.path]);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/^KEY\s+OWNER\s+FENCE\s+ACQUIRED\s+HEARTBEAT\s+STATE$/m);
    expect(text.stdout).toMatch(
      new RegExp(
        `^${FILE.replaceAll('.', '\\.')}\\s+${rollout}@.+:${run.child.pid}\\s+${fence}\\s+\\S+Z\\s+\\d+\\.\\ds ago\\s+held$`,
        'm',
      ),
    );

    // A live lock is not stale: reclaim frees nothing, in either output.
    const reclaimText = await runCli(['lock', 'reclaim', '--state-dir', state.path]);
    expect(reclaimText).toMatchObject({ code: 0, stdout: 'no stale locks\n' });
    const reclaimJson = await runCli(['lock', 'reclaim', '--output', 'json', '--state-dir', state.path]);
    expect(reclaimJson.code).toBe(0);
    expect(JSON.parse(reclaimJson.stdout)).toEqual([]);

    // Releasing a live owner's lock is refused with 3, naming the holder.
    const refused = await runCli(['lock', 'release', FILE, '--state-dir', state.path]);
    expect(refused.code).toBe(3);
    expect(refused.stderr).toMatch(literal(`held by rollout ${rollout} (host ${HOST}, pid ${run.child.pid})`));
    expect(refused.stderr).toMatch(/--force/);
    const refusedJson = await runCli(['lock', 'release', FILE, '--output', 'json', '--state-dir', state.path]);
    expect(refusedJson.code).toBe(3);
    expect(JSON.parse(refusedJson.stdout)).toMatchObject({ exitCode: 3, code: 'E_LOCK_OWNER_LIVE' });

    const unknown = await runCli(['lock', 'release', 'no_such.conf', '--output', 'json', '--state-dir', state.path]);
    expect(unknown.code).toBe(2);
    expect(JSON.parse(unknown.stdout)).toMatchObject({ result: 'invalid', exitCode: 2, code: 'E_LOCK_NOT_FOUND' });

    expect(await lockTable(state.path)).toMatchObject([{ key: FILE, fence, state: 'held' }]);

    run.child.kill('SIGINT');
    const ended = await within(run.done, 20_000, 'the interrupted run');
    expect(ended.code, ended.stderr).toBe(130);
    expect(parseReport(ended)).toMatchObject({ id: rollout, result: 'interrupted', exitCode: 130 });
    expect(await lockTable(state.path)).toEqual([]);
    expect((await runCli(['lock', 'ls', '--state-dir', state.path])).stdout).toBe('no locks held\n');
    for (const drone of Object.values(await fleetHealth(sim, DRONES))) {
      expect(drone.state).toBe('active');
      expect(drone.configs[FILE]?.version).toBe('v42');
    }
  });

  it('lock release --force frees a live lock; its run loses the lease at its next heartbeat and rolls back (exit 1)', async () => {
    const spec = await writeSpec(state.path, 'forced', { bake: '60s', ttl: '3s' });
    const run = children.track(startCli(runArgs(spec, sim, state.path)));
    const fence = await canaryPushed();

    const released = await runCli(['lock', 'release', FILE, '--force', '--state-dir', state.path]);
    expect(released.code, released.stderr).toBe(0);
    expect(released.stdout).toMatch(
      new RegExp(`^released ${FILE.replaceAll('.', '\\.')} \\(fence ${fence}\\), was held by rollout forced-`),
    );
    // Freed: the released lease is gone. The run may already have found its lease lost and, with nobody
    // holding the lock, re-taken it with a larger fence to roll back (docs/locks.md): never the old one.
    for (const lock of await lockTable(state.path)) {
      expect(lock.fence).toBeGreaterThan(fence);
      expect(lock.owner.rollout).toMatch(/^forced-/);
    }

    const ended = await within(run.done, 15_000, 'the run whose lock was released');
    expect(ended.code, ended.stderr).toBe(1);
    expect(await lockTable(state.path)).toEqual([]);
    const report = parseReport(ended);
    expect(report.result).toBe('rolled_back');
    expect(report.reason).toMatch(/lease lost/);
    for (const id of CANARY) expect(report.drones[id]?.state).toBe('rolled_back');
    for (const drone of Object.values(await fleetHealth(sim, DRONES))) {
      expect(drone.state).toBe('active');
      expect(drone.configs[FILE]?.version).toBe('v42');
    }
  });

  it('lock.wait: a run waits about that long for a busy lock, then exits 3 naming the holder and pushes nothing; a longer wait gets it once the holder ends', async () => {
    const holderSpec = await writeSpec(state.path, 'holder', { bake: '60s' });
    const holder = children.track(startCli(runArgs(holderSpec, sim, state.path)));
    const holderFence = await canaryPushed();
    const [row] = await lockTable(state.path);
    const holderId = row?.owner.rollout ?? '';
    const fencesBefore = await fleetFences(sim, DRONES);

    const impatient = await writeSpec(state.path, 'impatient', { wait: '1500ms', version: 'v45' });
    const started = performance.now();
    const busy = await runCli(runArgs(impatient, sim, state.path));
    const waited = performance.now() - started;
    expect(busy.code, busy.stderr).toBe(3);
    expect(waited).toBeGreaterThanOrEqual(1500);
    expect(waited).toBeLessThan(8000);
    const report = parseReport(busy);
    expect(report).toMatchObject({ result: 'lock_busy', exitCode: 3 });
    expect(report.reason).toMatch(
      new RegExp(
        literal(`held by rollout ${holderId} (host ${HOST}, pid ${holder.child.pid}) since `).source +
          String.raw`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ, heartbeat \d+\.\ds ago`,
      ),
    );
    expect(Object.values(report.drones).map((drone) => drone.state)).toEqual(Array<string>(DRONES).fill('unchanged'));
    expect(await fleetFences(sim, DRONES)).toEqual(fencesBefore);
    // Its own pause holds are gone, the holder's stay: the fleet is still paused for the holder.
    expect((await health(droneUrl(sim, 'drone-5'))).state).toBe('paused');

    const patientSpec = await writeSpec(state.path, 'patient', { wait: '20s', version: 'v44' });
    const patient = children.track(startCli(runArgs(patientSpec, sim, state.path)));
    await sleep(1000);
    holder.child.kill('SIGINT');
    const holderEnded = await within(holder.done, 20_000, 'the interrupted holder');
    expect(holderEnded.code, holderEnded.stderr).toBe(130);

    const patientEnded = await within(patient.done, 20_000, 'the waiting run');
    expect(patientEnded.code, patientEnded.stderr).toBe(0);
    expect(parseReport(patientEnded)).toMatchObject({ result: 'promoted', config: { version: 'v44' } });
    for (const drone of Object.values(await fleetHealth(sim, DRONES))) {
      expect(drone.state).toBe('active');
      expect(drone.configs[FILE]?.version).toBe('v44');
      expect(drone.configs[FILE]?.fence).toBeGreaterThan(holderFence);
    }
  });

  it('a SIGKILLed run leaves a stale lock: lock ls says so, lock reclaim frees it, the next run gets a larger fence', async () => {
    const killedSpec = await writeSpec(state.path, 'killed', { bake: '60s', ttl: '2s', version: 'v43' });
    const killed = children.track(startCli(runArgs(killedSpec, sim, state.path)));
    const killedFence = await canaryPushed();
    killed.child.kill('SIGKILL');
    expect((await killed.done).signal).toBe('SIGKILL');

    const [stale, ...others] = await lockTable(state.path);
    expect(others).toEqual([]);
    expect(stale).toMatchObject({
      key: FILE,
      fence: killedFence,
      state: 'stale',
      staleReason: 'owner_dead',
      owner: { pid: killed.child.pid },
    });
    const killedId = stale?.owner.rollout ?? '';
    const listed = await runCli(['lock', 'ls', '--state-dir', state.path]);
    expect(listed.stdout).toMatch(/stale \(owner_dead\)$/m);

    const reclaimed = await runCli(['lock', 'reclaim', '--state-dir', state.path]);
    expect(reclaimed.code, reclaimed.stderr).toBe(0);
    expect(reclaimed.stdout).toContain(
      `reclaimed ${FILE} (fence ${killedFence}, owner_dead): held by rollout ${killedId} (host ${HOST}, pid ${killed.child.pid})`,
    );
    expect(reclaimed.stdout).toContain('stale: its owner process is dead');
    expect(await lockTable(state.path)).toEqual([]);

    // What the dead run left on the drones: its canary on its version, the whole fleet held paused by it.
    // Resuming a dead rollout is `rollout resume`'s job; here its pause hold is lifted by hand.
    const left = await fleetHealth(sim, DRONES);
    for (const id of CANARY) expect(left[id]?.configs[FILE]?.version).toBe('v43');
    expect(Object.values(left).every((drone) => drone.state === 'paused')).toBe(true);
    await resumeFleet(sim, DRONES, { rollout: killedId });

    const nextSpec = await writeSpec(state.path, 'next', { bake: '2s', version: 'v44', mixedVersions: 'adopt' });
    const next = children.track(startCli(runArgs(nextSpec, sim, state.path)));
    await lockTakenBy(/^next-/);
    const [held] = await lockTable(state.path);
    expect(held?.fence).toBeGreaterThan(killedFence);
    const ended = await within(next.done, 20_000, 'the next run');
    expect(ended.code, ended.stderr).toBe(0);
    for (const drone of Object.values(await fleetHealth(sim, DRONES))) {
      expect(drone.state).toBe('active');
      expect(drone.configs[FILE]).toMatchObject({ version: 'v44', fence: held?.fence });
    }
  });

  it('a run frozen past its TTL (SIGSTOP) is taken over; woken after the takeover ended, it re-takes the lock with a larger fence, changes nothing the takeover installed and exits 5 naming its drones', async () => {
    const { frozen, frozenFence } = await runToCanaryBake();
    const frozenId = (await lockTable(state.path))[0]?.owner.rollout ?? '';
    frozen.child.kill('SIGSTOP');
    // Until its lease runs out, as the lock table sees it.
    await expect
      .poll(async () => lockTable(state.path), { timeout: 20_000, interval: 100 })
      .toMatchObject([{ key: FILE, state: 'stale', staleReason: 'expired', owner: { rollout: frozenId } }]);

    const takeoverSpec = await writeSpec(state.path, 'takeover', {
      bake: '1s',
      version: 'v44',
      mixedVersions: 'adopt',
    });
    const takeover = await within(runCli(runArgs(takeoverSpec, sim, state.path)), 20_000, 'the takeover run');
    expect(takeover.code, takeover.stderr).toBe(0);
    expect(takeover.stderr).toContain(`reclaimed stale lock ${FILE}: held by rollout ${frozenId}`);
    expect(parseReport(takeover)).toMatchObject({ result: 'promoted', config: { version: 'v44' } });
    const takeoverFences = new Set(Object.values(await fleetFences(sim, DRONES)));
    expect(takeoverFences.size).toBe(1);
    const takeoverFence = [...takeoverFences][0] ?? 0;
    expect(takeoverFence).toBeGreaterThan(frozenFence);
    expect(await lockTable(state.path)).toEqual([]);

    frozen.child.kill('SIGCONT');
    const ended = await within(frozen.done, 30_000, 'the woken run');
    expect(ended.code, ended.stderr).toBe(5);
    const report = parseReport(ended);
    expect(report.result).toBe('needs_attention');
    expect(report.hot).toEqual([]);
    // Its rollbacks restored nothing the takeover installed: the drones it had pushed to are the ones it names.
    expect([...report.attention].sort()).toEqual([...CANARY].sort());

    const fleet = await fleetHealth(sim, DRONES);
    for (const id of droneIds(DRONES)) {
      expect(fleet[id]?.configs[FILE], id).toMatchObject({ version: 'v44', fence: takeoverFence, lock: 'free' });
      // Its own pause hold is the one thing it may lift; that leaves the fleet active.
      expect(fleet[id]?.state, id).toBe('active');
    }
    // Why they refused: the rollback it sent, replayed, meets the contract's 409 with reason stale_fence.
    const replayed = await fetch(`${droneUrl(sim, 'drone-1')}/v1/configs/${FILE}/rollback`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ rollout: frozenId, fence: frozenFence }),
    });
    expect(replayed.status).toBe(409);
    expect(await replayed.json()).toEqual({
      error: 'stale_fence',
      file: FILE,
      message: expect.any(String),
      fence: frozenFence,
      highestFence: takeoverFence,
    });
    expect((await health(droneUrl(sim, 'drone-1'))).configs[FILE]).toMatchObject({
      version: 'v44',
      fence: takeoverFence,
    });
    expect(await lockTable(state.path)).toEqual([]);
  });

  it('a frozen run woken while its successor still holds the lock releases nothing of it and changes no drone', async () => {
    const { frozen, frozenFence } = await runToCanaryBake();
    frozen.child.kill('SIGSTOP');
    await expect
      .poll(async () => (await lockTable(state.path))[0]?.staleReason, { timeout: 20_000, interval: 100 })
      .toBe('expired');

    const successorSpec = await writeSpec(state.path, 'successor', {
      bake: '6s',
      version: 'v44',
      mixedVersions: 'adopt',
    });
    const successor = children.track(startCli(runArgs(successorSpec, sim, state.path)));
    await lockTakenBy(/^successor-/);
    const [held] = await lockTable(state.path);
    const successorFence = held?.fence ?? 0;
    expect(successorFence).toBeGreaterThan(frozenFence);
    await expect
      .poll(async () => Object.values(await fleetFences(sim, 3)), { timeout: 10_000, interval: 100 })
      .toEqual([successorFence, successorFence, successorFence]);

    frozen.child.kill('SIGCONT');
    const ended = await within(frozen.done, 15_000, 'the woken run');
    expect(ended.code, ended.stderr).toBe(5);
    expect(parseReport(ended)).toMatchObject({
      result: 'needs_attention',
      reason: expect.stringMatching(/the config lock is now held by rollout successor-/),
    });
    expect(await lockTable(state.path)).toMatchObject([
      { key: FILE, fence: successorFence, state: 'held', owner: { pid: successor.child.pid } },
    ]);
    for (const [id, drone] of Object.entries(await fleetHealth(sim, 3))) {
      expect(drone.configs[FILE], id).toMatchObject({ version: 'v44', fence: successorFence });
      // The successor's pause hold outlives the woken run's resume.
      expect(drone.state, id).toBe('paused');
    }

    const done = await within(successor.done, 20_000, 'the successor');
    expect(done.code, done.stderr).toBe(0);
    for (const drone of Object.values(await fleetHealth(sim, DRONES))) {
      expect(drone.state).toBe('active');
      expect(drone.configs[FILE]).toMatchObject({ version: 'v44', fence: successorFence });
    }
  });
});
