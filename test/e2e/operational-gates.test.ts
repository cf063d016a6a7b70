import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { readAudit, type AuditEvent } from '../helpers/chaos.js';
import { runCli, startCli, startSimProcess, type SimProcess } from '../helpers/cli.js';
import {
  Children,
  FILE,
  fleetHealth,
  lockTable,
  parseReport,
  runArgs,
  tempDirPerTest,
  within,
  writeSpec,
} from '../helpers/fleet.js';

/**
 * Operational gates through the real CLI on the simulator: a drone that does not satisfy
 * `gates.push_when` is not pushed, is retried while the others proceed, and is pushed once it lands;
 * one still held back after `gates.wait` is listed as deferred (or rolls the rollout back).
 */

const DRONES = 8;
const GATE = `'flight == "grounded" && battery >= 30.0 && mission == null'`;

function gates(wait: string, onTimeout: 'skip' | 'rollback' = 'skip'): string {
  return `gates: { push_when: ${GATE}, wait: ${wait}, recheck: 300ms, on_timeout: ${onTimeout} }`;
}

const pushedTo = (events: readonly AuditEvent[]) =>
  events.filter((e) => e.kind === 'push' && e.ok === true).map((e) => String(e.drone));

async function setOperational(sim: SimProcess, body: Record<string, unknown>): Promise<void> {
  const response = await fetch(`${sim.url}/sim/operational`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  if (!response.ok) throw new Error(`POST /sim/operational answered ${response.status}: ${await response.text()}`);
}

/** Polls the audit log of the only rollout in `stateDir` until `found` holds for it. */
async function untilAudit(
  stateDir: string,
  found: (events: readonly AuditEvent[]) => boolean,
  ms: number,
): Promise<AuditEvent[]> {
  return within(
    (async () => {
      for (;;) {
        const names = await readdir(join(stateDir, 'rollouts')).catch(() => [] as string[]);
        const id = names.find((name) => !name.startsWith('.'));
        const events = id === undefined ? [] : await readAudit(stateDir, id);
        if (found(events)) return events;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    })(),
    ms,
    'the audit events awaited',
  );
}

describe('operational gates (gates.push_when)', () => {
  const children = new Children();
  const dir = tempDirPerTest('gates-', children);
  let sim: SimProcess;

  beforeEach(async () => {
    // drone-5 flies, drone-6 is low on battery, drone-7 is on a mission; the canary is drone-1 and drone-2.
    sim = await startSimProcess([
      '--drones',
      String(DRONES),
      '--airborne',
      'drone-5',
      '--battery',
      'drone-6=12',
      '--mission',
      'drone-7=survey-7',
    ]);
  });

  afterEach(async () => {
    await children.reap();
    await sim.stop();
  });

  it('plan shows which drones the gate holds back now, and why', async () => {
    const spec = await writeSpec(dir.path, 'gated-plan', { canary: 2, extra: gates('1m') });
    const text = await runCli(['plan', spec, '--inventory', sim.inventory, '--state-dir', dir.path]);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toContain(`gates.push_when holds back 3 of the ${DRONES} drones that answered`);
    expect(text.stdout).toContain('drone-5: airborne, battery 100%, no mission');
    expect(text.stdout).toContain('drone-6: grounded, battery 12%, no mission');
    expect(text.stdout).toContain('drone-7: grounded, battery 100%, mission survey-7');
    const json = await runCli([
      'plan',
      spec,
      '--inventory',
      sim.inventory,
      '--state-dir',
      dir.path,
      '--output',
      'json',
    ]);
    expect((JSON.parse(json.stdout) as { heldBack: { id: string }[] }).heldBack.map((d) => d.id)).toEqual([
      'drone-5',
      'drone-6',
      'drone-7',
    ]);
  });

  it('validate rejects an expression that does not compile, naming the line and key', async () => {
    const spec = await writeSpec(dir.path, 'gated-bad', {
      extra: `gates:\n  push_when: 'flight == "grounded" &&'`,
    });
    const result = await runCli(['validate', spec]);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/gated-bad\.yaml:\d+:\d+ gates\.push_when: does not compile: /);
  });

  it('pushes the others at once, and each held-back drone once it satisfies the gate within wait', async () => {
    const spec = await writeSpec(dir.path, 'gated', { canary: 2, extra: gates('1m') });
    const run = children.track(startCli(runArgs(spec, sim, dir.path)));
    // The three held-back drones are deferred while the other five are pushed.
    const deferredSeen = await untilAudit(
      dir.path,
      (events) =>
        events.filter((e) => e.kind === 'push.deferred').length === 3 && pushedTo(events).length === DRONES - 3,
      30_000,
    );
    expect(pushedTo(deferredSeen).sort()).toEqual(['drone-1', 'drone-2', 'drone-3', 'drone-4', 'drone-8']);
    await setOperational(sim, { drone: 'drone-5', flight: 'grounded' });
    await setOperational(sim, { drone: 'drone-6', battery: 64 });
    await setOperational(sim, { drone: 'drone-7', mission: null });
    const result = await within(run.done, 60_000, 'the gated run');
    const report = parseReport(result);
    expect(report.result, report.reason).toBe('promoted');
    expect(result.code).toBe(0);
    const events = await readAudit(dir.path, report.id);
    expect(pushedTo(events).slice(-3).sort()).toEqual(['drone-5', 'drone-6', 'drone-7']);
    const fleet = await fleetHealth(sim, DRONES);
    for (const drone of Object.values(fleet)) {
      expect(drone.state).toBe('active');
      expect(drone.configs[FILE]?.version).toBe('v43');
    }
    expect(await lockTable(dir.path)).toEqual([]);
  }, 90_000);

  it('holds a canary whose drones all fly before its bake until one lands; no wave drone is pushed before', async () => {
    await setOperational(sim, { drone: 'drone-1', flight: 'airborne' });
    await setOperational(sim, { drone: 'drone-2', flight: 'airborne' });
    const spec = await writeSpec(dir.path, 'gated-canary', { canary: 2, extra: gates('1m') });
    const run = children.track(startCli(runArgs(spec, sim, dir.path)));
    await untilAudit(dir.path, (events) => events.filter((e) => e.kind === 'push.deferred').length === 2, 30_000);
    // Held a while: still nothing pushed anywhere, the canary has no drone to bake.
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    const holding = await untilAudit(dir.path, () => true, 5_000);
    expect(pushedTo(holding)).toEqual([]);
    await setOperational(sim, { drone: 'drone-1', flight: 'grounded' });
    await setOperational(sim, { drone: 'drone-5', flight: 'grounded' });
    await setOperational(sim, { drone: 'drone-6', battery: 90 });
    await setOperational(sim, { drone: 'drone-7', mission: null });
    await untilAudit(dir.path, (events) => pushedTo(events).includes('drone-1'), 30_000);
    await setOperational(sim, { drone: 'drone-2', flight: 'grounded' });
    const result = await within(run.done, 60_000, 'the gated run');
    const report = parseReport(result);
    expect(report.result, report.reason).toBe('promoted');
    const pushes = pushedTo(await readAudit(dir.path, report.id));
    expect(pushes[0]).toBe('drone-1');
    expect(pushes.sort()).toEqual(Array.from({ length: DRONES }, (_, i) => `drone-${i + 1}`).sort());
    expect(await lockTable(dir.path)).toEqual([]);
  }, 90_000);

  it('confirms a trial pushed after the last step at once: past the trial time it keeps the new config', async () => {
    const spec = await writeSpec(dir.path, 'gated-trial', { canary: 2, confirmWithin: '4s', extra: gates('1m') });
    const run = children.track(startCli(runArgs(spec, sim, dir.path)));
    await untilAudit(dir.path, (events) => events.filter((e) => e.kind === 'push.deferred').length === 3, 30_000);
    await setOperational(sim, { drone: 'drone-5', flight: 'grounded' });
    await setOperational(sim, { drone: 'drone-6', battery: 64 });
    await setOperational(sim, { drone: 'drone-7', mission: null });
    const report = parseReport(await within(run.done, 60_000, 'the gated run'));
    expect(report.result, report.reason).toBe('promoted');
    const confirmed = (await readAudit(dir.path, report.id)).filter((e) => e.kind === 'confirm' && e.ok === true);
    expect(confirmed.map((e) => String(e.drone)).sort()).toEqual(
      Array.from({ length: DRONES }, (_, i) => `drone-${i + 1}`).sort(),
    );
    await new Promise((resolve) => setTimeout(resolve, 4_500));
    for (const drone of Object.values(await fleetHealth(sim, DRONES))) expect(drone.configs[FILE]?.version).toBe('v43');
  }, 90_000);

  it('leaves a drone still held back after wait on the old config, listed as deferred: needs_attention', async () => {
    const spec = await writeSpec(dir.path, 'gated-skip', { canary: 2, extra: gates('2s') });
    const result = await within(runCli(runArgs(spec, sim, dir.path)), 60_000, 'the gated run');
    const report = parseReport(result) as ReturnType<typeof parseReport> & {
      deferred?: { drone: string; reason: string }[];
    };
    expect(result.code).toBe(5);
    expect(report.result).toBe('needs_attention');
    expect(report.reason).toContain('3 drones were held back by gates.push_when until gates.wait ran out');
    expect(report.deferred).toEqual([
      { drone: 'drone-5', reason: 'airborne, battery 100%, no mission' },
      { drone: 'drone-6', reason: 'grounded, battery 12%, no mission' },
      { drone: 'drone-7', reason: 'grounded, battery 100%, mission survey-7' },
    ]);
    for (const id of ['drone-5', 'drone-6', 'drone-7']) expect(report.drones[id]?.state).toBe('deferred');
    const fleet = await fleetHealth(sim, DRONES);
    expect(fleet['drone-5']?.configs[FILE]?.version).toBe('v42');
    expect(fleet['drone-1']?.configs[FILE]?.version).toBe('v43');
    for (const drone of Object.values(fleet)) expect(drone.state).toBe('active');
    expect(await lockTable(dir.path)).toEqual([]);
  }, 90_000);

  it('rolls the whole rollout back when on_timeout is rollback', async () => {
    const spec = await writeSpec(dir.path, 'gated-rollback', { canary: 2, extra: gates('2s', 'rollback') });
    const result = await within(runCli(runArgs(spec, sim, dir.path)), 60_000, 'the gated run');
    const report = parseReport(result);
    expect(result.code).toBe(1);
    expect(report.result).toBe('rolled_back');
    // Each drone's wait runs from its own first deferral: the rollback names those whose wait ran out first.
    expect(report.reason).toMatch(
      /^drone-5(, drone-[67])* still held back by gates\.push_when after gates\.wait \(2s; on_timeout: rollback\): drone-5: airborne, battery 100%, no mission$/,
    );
    const fleet = await fleetHealth(sim, DRONES);
    for (const drone of Object.values(fleet)) {
      expect(drone.state).toBe('active');
      expect(drone.configs[FILE]?.version).toBe('v42');
    }
    expect(await lockTable(dir.path)).toEqual([]);
  }, 90_000);
});

describe('operational gates and HOT', () => {
  const children = new Children();
  const dir = tempDirPerTest('gates-hot-', children);
  let sim: SimProcess;

  beforeEach(async () => {
    // drone-5 flies, and turns HOT when its first push arrives.
    sim = await startSimProcess(['--drones', String(DRONES), '--airborne', 'drone-5', '--hot-on-push', 'drone-5']);
  });

  afterEach(async () => {
    await children.reap();
    await sim.stop();
  });

  it('a held-back drone that answers HOT once it lands aborts the rollout: every drone back, HOT drone named', async () => {
    const spec = await writeSpec(dir.path, 'gated-hot', { canary: 2, extra: gates('1m') });
    const run = children.track(startCli(runArgs(spec, sim, dir.path)));
    await untilAudit(dir.path, (events) => pushedTo(events).length === DRONES - 1, 30_000);
    await setOperational(sim, { drone: 'drone-5', flight: 'grounded' });
    const result = await within(run.done, 60_000, 'the gated run');
    const report = parseReport(result);
    expect(result.code).toBe(4);
    expect(report.result).toBe('aborted_hot');
    expect(report.hot).toEqual(['drone-5']);
    for (const drone of Object.values(await fleetHealth(sim, DRONES))) {
      expect(drone.state).toBe('active');
      expect(drone.configs[FILE]?.version).toBe('v42');
    }
    expect(await lockTable(dir.path)).toEqual([]);
  }, 90_000);
});
