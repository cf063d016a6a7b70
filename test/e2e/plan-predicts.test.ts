import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runCli, startSimProcess, tempDir, type CliResult, type SimProcess } from '../helpers/cli.js';
import {
  FILE,
  droneIds,
  droneUrl,
  fleetFences,
  fleetHealth,
  lockTable,
  parseReport,
  runArgs,
  writeSpec,
  type Health,
} from '../helpers/fleet.js';

/** `rollout plan` reads the fleet and says what `rollout run` would do; these pin that it says it right. */

interface PlanReport {
  readonly exitCode: number;
  readonly hot: readonly string[];
  readonly unreachable: readonly { readonly id: string; readonly error: string }[];
  readonly misconfigured: readonly { readonly id: string; readonly error: string; readonly check: string }[];
  readonly unknownMetrics: readonly string[];
  readonly upToDate: boolean;
  readonly warnings: readonly string[];
}

const DRONES = 10;
const TOKEN = 'plan-predicts-token';
/** No `$ROLLOUT_TOKEN` leaks in from the shell running the tests: "no token" must mean none. */
const NO_TOKEN_ENV = { ROLLOUT_TOKEN: undefined };

function planArgs(spec: string, inventory: string, stateDir: string, ...extra: string[]): string[] {
  return ['plan', spec, '--inventory', inventory, '--output', 'json', '--state-dir', stateDir, ...extra];
}

function parsePlan(result: CliResult): PlanReport {
  try {
    return JSON.parse(result.stdout.trim()) as PlanReport;
  } catch {
    throw new Error(`not one JSON plan on stdout (exit ${result.code}):\n${result.stdout}\n${result.stderr}`);
  }
}

/** GET with the sim's bearer token (a sim started with --token-file guards /sim/stats and every drone). */
async function getJson<T>(url: string, token?: string): Promise<T> {
  const response = await fetch(url, token === undefined ? {} : { headers: { authorization: `Bearer ${token}` } });
  if (!response.ok) throw new Error(`GET ${url} answered ${response.status}: ${await response.text()}`);
  return (await response.json()) as T;
}

async function pushes(sim: SimProcess): Promise<number> {
  return (await getJson<{ pushes: number }>(`${sim.url}/sim/stats`)).pushes;
}

describe('rollout plan predicts what rollout run will do', () => {
  let sim: SimProcess | undefined;
  let work: { path: string; remove(): Promise<void> };
  let stateA: { path: string; remove(): Promise<void> };
  let stateB: { path: string; remove(): Promise<void> };

  beforeEach(async () => {
    work = await tempDir('plan-predicts-');
    stateA = await tempDir('plan-predicts-state-a-');
    stateB = await tempDir('plan-predicts-state-b-');
  });

  afterEach(async () => {
    await sim?.stop();
    sim = undefined;
    expect(await lockTable(stateA.path)).toEqual([]);
    expect(await lockTable(stateB.path)).toEqual([]);
    await Promise.all([work.remove(), stateA.remove(), stateB.remove()]);
  });

  it('a metric no drone reports (heart_rat) exits 2 and suggests heart_rate; the correct spec exits 0', async () => {
    sim = await startSimProcess(['--drones', String(DRONES)]);
    const good = await writeSpec(work.path, 'metrics-good');
    const typo = await writeSpec(work.path, 'metrics-typo');
    const correct = await readFile(typo, 'utf8');
    await writeFile(typo, correct.replace('{ name: heart_rate, max: 120 }', '{ name: heart_rat, max: 120 }'));

    const wrong = await runCli(planArgs(typo, sim.inventory, stateA.path));
    expect(wrong.code, wrong.stderr).toBe(2);
    const report = parsePlan(wrong);
    expect(report.exitCode).toBe(2);
    expect(report.unknownMetrics).toHaveLength(1);
    expect(report.unknownMetrics[0]).toMatch(/analysis\.metrics\[0\]\.name/);
    expect(report.unknownMetrics[0]).toMatch(/"heart_rat"/);
    expect(report.unknownMetrics[0]).toMatch(/did you mean "heart_rate"/);

    const text = await runCli(['plan', typo, '--inventory', sim.inventory, '--state-dir', stateA.path]);
    expect(text.code, text.stderr).toBe(2);
    expect(text.stdout).toMatch(/^\s*error: analysis\.metrics\[0\]\.name: .*heart_rate/m);

    const right = await runCli(planArgs(good, sim.inventory, stateA.path));
    expect(right.code, right.stdout + right.stderr).toBe(0);
    expect(parsePlan(right)).toMatchObject({ exitCode: 0, unknownMetrics: [], misconfigured: [], unreachable: [] });
  });

  it('a missing or wrong token is misconfigured (exit 2, check --token-file), not unreachable', async () => {
    const tokenFile = join(work.path, 'token');
    const wrongTokenFile = join(work.path, 'wrong-token');
    await writeFile(tokenFile, `${TOKEN}\n`);
    await writeFile(wrongTokenFile, 'not-the-token\n');
    sim = await startSimProcess(['--drones', String(DRONES), '--token-file', tokenFile]);
    const spec = await writeSpec(work.path, 'token');

    for (const extra of [[], ['--token-file', wrongTokenFile]]) {
      const plan = await runCli(planArgs(spec, sim.inventory, stateA.path, ...extra), { env: NO_TOKEN_ENV });
      expect(plan.code, `${extra.join(' ')}: ${plan.stdout}${plan.stderr}`).toBe(2);
      const report = parsePlan(plan);
      expect(report.unreachable).toEqual([]);
      expect(report.misconfigured.map((m) => m.id).sort()).toEqual(droneIds(DRONES).sort());
      for (const drone of report.misconfigured) {
        expect(drone.check).toMatch(/--token-file/);
        expect(drone.error).toEqual(expect.any(String));
      }
    }

    // The same fleet with the right token: the spec itself is fine.
    const withToken = planArgs(spec, sim.inventory, stateA.path, '--token-file', tokenFile);
    const right = await runCli(withToken, { env: NO_TOKEN_ENV });
    expect(right.code, right.stdout + right.stderr).toBe(0);
    expect(parsePlan(right)).toMatchObject({ misconfigured: [], unreachable: [] });
  });

  it("a drone url with a wrong path (404) is misconfigured (check the inventory's url), not unreachable", async () => {
    sim = await startSimProcess(['--drones', String(DRONES)]);
    const spec = await writeSpec(work.path, 'wrong-path');
    const inventory = join(work.path, 'wrong-path-fleet.yaml');
    const original = await readFile(sim.inventory, 'utf8');
    const broken = original.replace(`"${sim.url}/d/drone-1"`, `"${sim.url}/nope/drone-1"`);
    expect(broken, 'the inventory names drone-1 by its url').not.toBe(original);
    await writeFile(inventory, broken);

    const plan = await runCli(planArgs(spec, inventory, stateA.path));
    expect(plan.code, plan.stdout + plan.stderr).toBe(2);
    const report = parsePlan(plan);
    expect(report.unreachable).toEqual([]);
    expect(report.misconfigured).toHaveLength(1);
    expect(report.misconfigured[0]?.id).toBe('drone-1');
    expect(report.misconfigured[0]?.check).toMatch(/url in the inventory/);
  });

  it('a fleet already on the new config: plan says upToDate, run promotes and pushes nothing', async () => {
    sim = await startSimProcess(['--drones', String(DRONES)]);
    const spec = await writeSpec(work.path, 'up-to-date');
    const first = await runCli(runArgs(spec, sim, stateA.path));
    expect(first.code, first.stderr).toBe(0);
    expect(parseReport(first).result).toBe('promoted');

    const plan = await runCli(planArgs(spec, sim.inventory, stateA.path));
    expect(plan.code, plan.stdout + plan.stderr).toBe(0);
    expect(parsePlan(plan)).toMatchObject({ exitCode: 0, upToDate: true });
    const text = await runCli(['plan', spec, '--inventory', sim.inventory, '--state-dir', stateA.path]);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toMatch(/^nothing to do: every targeted drone already runs v43$/m);

    const pushedBefore = await pushes(sim);
    const again = await runCli(runArgs(spec, sim, stateA.path));
    expect(again.code, again.stderr).toBe(0);
    const report = parseReport(again);
    expect(report.result).toBe('promoted');
    expect(report.reason).toMatch(/^nothing to do/);
    expect(await pushes(sim)).toBe(pushedBefore);
    for (const drone of Object.values(await fleetHealth(sim, DRONES))) {
      expect(drone).toMatchObject({ state: 'active' });
      expect(drone.configs[FILE]).toMatchObject({ version: 'v43', lock: 'free' });
    }
  });

  it('fences from another lock table: plan warns and exits 0, a run from the fresh table goes above them', async () => {
    sim = await startSimProcess(['--drones', String(DRONES)]);
    const spec = await writeSpec(work.path, 'fence-a', { version: 'v43' });
    const next = await writeSpec(work.path, 'fence-b', { version: 'v44' });
    const first = await runCli(runArgs(spec, sim, stateA.path));
    expect(first.code, first.stderr).toBe(0);
    expect(parseReport(first).result).toBe('promoted');
    const before = await fleetFences(sim, DRONES);
    expect(Object.values(before).every((fence) => fence > 0)).toBe(true);

    const warning = /drones have accepted fence \d+ .* above the 0 this lock store has handed out/;
    for (const planned of [spec, next]) {
      const plan = await runCli(planArgs(planned, sim.inventory, stateB.path));
      expect(plan.code, plan.stdout + plan.stderr).toBe(0);
      const report = parsePlan(plan);
      expect(report.upToDate).toBe(planned === spec);
      expect(report.warnings.filter((w) => warning.test(w))).toHaveLength(1);
    }

    const run = await runCli(runArgs(next, sim, stateB.path));
    expect(run.code, run.stdout + run.stderr).toBe(0);
    expect(parseReport(run)).toMatchObject({ result: 'promoted', hot: [] });
    const after = await fleetFences(sim, DRONES);
    for (const id of droneIds(DRONES)) expect(after[id], id).toBeGreaterThan(before[id] ?? Number.POSITIVE_INFINITY);
    for (const drone of Object.values(await fleetHealth(sim, DRONES))) expect(drone.configs[FILE]?.version).toBe('v44');
  });

  it('a run without the fleet token is invalid (exit 2, a drone and 401 named) and changes no drone', async () => {
    const tokenFile = join(work.path, 'token');
    await writeFile(tokenFile, `${TOKEN}\n`);
    sim = await startSimProcess(['--drones', String(DRONES), '--token-file', tokenFile]);
    const spec = await writeSpec(work.path, 'no-token');

    const run = await runCli(runArgs(spec, sim, stateA.path), { env: NO_TOKEN_ENV });
    expect(run.code, run.stdout + run.stderr).toBe(2);
    const report = parseReport(run);
    expect(report.result).toBe('invalid');
    expect(report.reason).toMatch(/drone-\d+/);
    expect(report.reason).toMatch(/401/);
    for (const id of droneIds(DRONES)) {
      const drone = await getJson<Health>(`${droneUrl(sim, id)}/v1/health`, TOKEN);
      expect(drone.state, id).toBe('active');
      expect(drone.configs[FILE]?.version, id).toBe('v42');
    }
  });
});
