import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadPlan } from '../../src/spec/load-plan.js';
import { killAt, lastStage, readAudit, type AuditEvent, type KillPoint } from '../helpers/chaos.js';
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
 * Representative canaries through the real CLI: `canary.spread_by` picks drones covering the labels'
 * values, `canary.random` draws them from a seed the audit log keeps, and `resume` draws the same canary.
 */

const DRONES = 12;

/** drone-1 … 3 x4 north, 4 … 6 x6 north, 7 … 9 x8 south, 10 … 12 x9 south: the first three are all x4 north. */
function labelsOf(index: number): Record<string, string> {
  return { airframe: ['x4', 'x6', 'x8', 'x9'][Math.floor(index / 3)] ?? 'x4', site: index < 6 ? 'north' : 'south' };
}

interface PlanJson {
  readonly exitCode: number;
  readonly steps: readonly { readonly name: string; readonly ids: readonly string[] }[];
  readonly canaryCoverage?: Record<string, { covered: string[]; missing: string[] }>;
  readonly canarySeed?: string;
}

const pushedDrones = (events: readonly AuditEvent[]) =>
  events.filter((e) => e.kind === 'push' && e.ok === true).map((e) => String(e.drone));

const sorted = (ids: Iterable<string>) => [...ids].sort();

/** The run is waiting for `rollout promote` after its canary passed: its canary is on the new config. */
const atGate: KillPoint = {
  label: 'at the manual gate, its canary pushed',
  reached: ({ events }) => lastStage(events).startsWith('waiting for `rollout promote'),
};

describe('representative canaries (canary.spread_by, canary.random)', () => {
  const children = new Children();
  const dir = tempDirPerTest('canary-pick-', children);
  let sim: SimProcess;
  /** The sim's drones, labelled by `labelsOf`. */
  let inventory: string;

  beforeEach(async () => {
    sim = await startSimProcess(['--drones', String(DRONES)]);
    const written = JSON.parse(await readFile(sim.inventory, 'utf8')) as {
      drones: { id: string; url: string; labels: Record<string, string> }[];
    };
    inventory = join(dir.path, 'labelled-fleet.yaml');
    const drones = written.drones.map((drone, index) => ({
      ...drone,
      labels: { ...drone.labels, ...labelsOf(index) },
    }));
    await writeFile(inventory, JSON.stringify({ drones }, null, 1));
  });

  afterEach(async () => {
    await children.reap();
    await sim.stop();
  });

  /** A spec with a canary of 3 and these more `canary:` keys, one per line. */
  async function specWith(name: string, canaryKeys: readonly string[], waves?: readonly string[]): Promise<string> {
    const path = await writeSpec(dir.path, name, { canary: 3, bake: '1s', ...(waves ? { waves } : {}) });
    const text = await readFile(path, 'utf8');
    expect(text).toContain('  drones: 3\n');
    await writeFile(
      path,
      text.replace('  drones: 3\n', ['  drones: 3', ...canaryKeys.map((k) => `  ${k}`), ''].join('\n')),
    );
    return path;
  }

  /** `runArgs`, with the labelled inventory instead of the sim's. */
  const withInventory = (args: readonly string[]) => args.map((arg) => (arg === sim.inventory ? inventory : arg));

  async function plan(spec: string, output: 'json' | 'text') {
    const result = await runCli(['plan', spec, '--inventory', inventory, '--output', output, '--state-dir', dir.path]);
    expect(result.code, result.stderr).toBe(0);
    return result.stdout;
  }

  it('`plan` prints the canary label coverage, and `run` pushes its canary to the drones plan named', async () => {
    // Given a spec whose canary of 3 spreads by airframe and site
    const spec = await specWith('spread', ['spread_by: [airframe, site]']);

    // When it is planned
    const text = await plan(spec, 'text');
    const planned = JSON.parse(await plan(spec, 'json')) as PlanJson;

    // Then the canary covers three airframes of four and both sites, not the first three drones (all x4 north)
    expect(text).toContain(
      'canary label coverage: airframe 3 of 4 values (x4, x6, x8; missing: x9), site 2 of 2 values (north, south)',
    );
    expect(text).not.toContain('drawn at random');
    expect(planned.canaryCoverage).toEqual({
      airframe: { covered: ['x4', 'x6', 'x8'], missing: ['x9'] },
      site: { covered: ['north', 'south'], missing: [] },
    });
    expect(planned.canarySeed).toBeUndefined();
    const canary = planned.steps[0]?.ids ?? [];
    expect(canary).toEqual(['drone-1', 'drone-4', 'drone-7']);

    // And a run pushes to exactly those first, bakes them against baseline drones, then the rest
    const ran = await within(runCli(withInventory(runArgs(spec, sim, dir.path))), 60_000, 'rollout run');
    const report = parseReport(ran);
    expect(ran.code, ran.stderr).toBe(0);
    expect(report.result).toBe('promoted');
    const audit = await readAudit(dir.path, report.id);
    const pushed = pushedDrones(audit);
    expect(sorted(pushed.slice(0, 3))).toEqual(sorted(canary));
    expect(sorted(pushed)).toEqual(sorted(Object.keys(await fleetHealth(sim, DRONES))));
    const started = audit.find((e) => e.kind === 'started');
    expect(started).toBeDefined();
    expect(started?.canarySeed).toBeUndefined();
  });

  it('`plan` with random says it drew a seed, and a new one each time', async () => {
    const spec = await specWith('random-plan', ['random: true', 'spread_by: [airframe]']);
    const text = await plan(spec, 'text');
    expect(text).toMatch(/^canary drawn at random, seed [0-9a-f]{16}/m);
    expect(text).toContain('canary label coverage: airframe 3 of 4 values');
    const seeds = new Set<string | undefined>();
    for (let i = 0; i < 2; i += 1) seeds.add((JSON.parse(await plan(spec, 'json')) as PlanJson).canarySeed);
    expect(seeds.size).toBe(2);
    for (const seed of seeds) expect(seed).toMatch(/^[0-9a-f]{16}$/);
  });

  it('a random canary killed at its gate resumes with the same canary and waves, from its audited seed', async () => {
    // Given a random, spread canary with a manual gate, and two waves
    const spec = await specWith(
      'random',
      ['random: true', 'spread_by: [airframe, site]', 'approval: manual'],
      ['{ percent: 50, bake: 0s }', '{ percent: 100, bake: 0s }'],
    );

    // When its run is SIGKILLed at the gate, its canary pushed
    const killed = await killAt(
      children.track(startCli(withInventory(runArgs(spec, sim, dir.path)))),
      dir.path,
      atGate,
    );

    // Then its `started` event holds the seed, and the drones it pushed are the canary that seed draws
    const seed = killed.after.find((e) => e.kind === 'started')?.canarySeed;
    expect(seed).toEqual(expect.stringMatching(/^[0-9a-f]{16}$/));
    const expected = await loadPlan(spec, { inventory, canarySeed: String(seed) });
    expect(expected.canarySeed).toBe(seed);
    const [canaryStep, ...waves] = expected.steps;
    expect(sorted(pushedDrones(killed.after))).toEqual(sorted(canaryStep?.drones ?? []));
    expect(waves.map((step) => step.drones.length)).toEqual([3, 6]);

    // When it is resumed, back at its gate, and promoted
    const resumed = children.track(startCli(['resume', killed.id, '--output', 'json', '--state-dir', dir.path]));
    await expect
      .poll(async () => lastStage((await readAudit(dir.path, killed.id)).slice(killed.after.length)), {
        timeout: 20_000,
        interval: 100,
      })
      .toMatch(/^waiting for `rollout promote/);
    // The record's stage is written after the audit event, in the same batch: promote reads the record.
    await expect
      .poll(
        async () => {
          const listed = await runCli(['history', '--output', 'json', '--state-dir', dir.path]);
          return (JSON.parse(listed.stdout) as { id: string; state: string }[]).find((r) => r.id === killed.id)?.state;
        },
        { timeout: 10_000, interval: 100 },
      )
      .toMatch(/^waiting for `rollout promote/);
    expect((await runCli(['promote', killed.id, '--state-dir', dir.path])).code).toBe(0);
    const ended = await within(resumed.done, 30_000, 'rollout resume');

    // Then it pushed the waves the same seed plans, in their order, and nothing else; the fleet is on one version
    expect(ended.code, ended.stderr).toBe(0);
    const report = parseReport(ended);
    expect(report.result).toBe('promoted');
    const audit = await readAudit(dir.path, killed.id);
    const after = audit.slice(killed.after.length);
    expect(after.find((e) => e.kind === 'resumed')?.canarySeed).toBe(seed);
    const resumedPushes = pushedDrones(after);
    expect(sorted(resumedPushes.slice(0, 3))).toEqual(sorted(waves[0]?.drones ?? []));
    expect(sorted(resumedPushes.slice(3))).toEqual(sorted(waves[1]?.drones ?? []));
    const fleet = await fleetHealth(sim, DRONES);
    expect(Object.keys(fleet)).toHaveLength(DRONES);
    for (const [id, drone] of Object.entries(fleet)) {
      expect(`${drone.state} ${drone.configs[FILE]?.version}`, id).toBe(`active ${report.config.version}`);
    }
    expect(await lockTable(dir.path)).toEqual([]);
  });
});
