import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { runCli, startCli, startSimProcess, tempDir, type CliResult, type SimProcess } from '../helpers/cli.js';
import { etcdAvailable } from '../helpers/etcd.js';
import { startUiProcess } from '../helpers/ui.js';
import { machineArgs, useEtcd } from '../helpers/etcd-suite.js';
import {
  Children,
  FILE,
  droneIds,
  fleetFences,
  fleetHealth,
  parseReport,
  within,
  writeSpec,
  type LockRow,
} from '../helpers/fleet.js';

/**
 * Operating a rollout from another machine of the team, through one etcd: `promote`, `resume` (and
 * `resume --rollback`) and `lock release [--force]`, each run by real CLI processes. Every "machine" has
 * its own `--state-dir`, so whatever one of them learns about another's rollout came from etcd; at the
 * end of each test no state dir holds anything but logs.
 */

const DRONES = 8;
const CANARY = ['drone-1', 'drone-2', 'drone-3'];
const WAVE = droneIds(DRONES).filter((id) => !CANARY.includes(id));
/** What every simulated drone runs before a rollout. */
const OLD = 'v42';
const HOST = hostname();

interface HistoryRow {
  readonly id: string;
  readonly name: string;
  readonly state: string;
  readonly result: string | null;
}

/** The parts of `rollout status <id> --output json` these tests read. */
interface StatusView {
  readonly id: string;
  readonly stage: string;
  readonly result: string | null;
  readonly liveness: 'running' | 'ended' | 'gone';
  readonly owner: { readonly host: string; readonly pid: number };
  readonly versions: Readonly<Record<string, number>>;
}

/** A pattern matching `text` literally. */
function literal(text: string): RegExp {
  return new RegExp(text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
}

/** The JSON a command printed, once its exit code is 0; the caller says what shape it has. */
function json(result: CliResult): unknown {
  expect(result.code, result.stderr).toBe(0);
  return JSON.parse(result.stdout);
}

describe.runIf(etcdAvailable())(
  'operating a rollout from another machine through one etcd: promote, resume, lock release',
  () => {
    const etcd = useEtcd();
    let sim: SimProcess;
    /** Undefined if a beforeAll failed before making it (etcd's runs first). */
    let work: { path: string; remove(): Promise<void> } | undefined;
    /** The checkout every machine shares: specs and configs, never state. */
    let repo: string;
    const children = new Children();

    beforeAll(async () => {
      work = await tempDir('rollout-etcd-operate-');
      repo = join(work.path, 'repo');
      await mkdir(repo);
    });

    afterAll(async () => {
      await work?.remove();
    });

    beforeEach(async () => {
      sim = await startSimProcess(['--drones', String(DRONES)]);
    });

    afterEach(async () => {
      await children.reap();
      await sim.stop();
      expect(await locks('cleanup'), 'a test left a lock in etcd').toEqual([]);
    });

    /** The CLI as one machine of the team runs it: its own state dir, the shared etcd. */
    const on = machineArgs(etcd, () => work!.path);
    const cli = (machine: string, ...args: string[]) => runCli(on(machine, ...args));
    const run = (machine: string, spec: string) =>
      children.track(startCli(on(machine, 'run', spec, '--inventory', sim.inventory, '--output', 'json')));

    async function spec(
      name: string,
      options: { bake: string; ttl: string; version: string; approval?: 'manual' },
    ): Promise<string> {
      const path = await writeSpec(repo, name, { bake: options.bake, ttl: options.ttl, version: options.version });
      if (options.approval === undefined) return path;
      const text = await readFile(path, 'utf8');
      const gated = text.replace(
        `  bake: ${options.bake}\n`,
        `  bake: ${options.bake}\n  approval: ${options.approval}\n`,
      );
      expect(gated).not.toBe(text);
      await writeFile(path, gated);
      return path;
    }

    const history = async (machine: string) => json(await cli(machine, 'history', '--output', 'json')) as HistoryRow[];
    const status = async (machine: string, id: string) =>
      json(await cli(machine, 'status', id, '--output', 'json')) as StatusView;
    const locks = async (machine: string) => json(await cli(machine, 'lock', 'ls', '--output', 'json')) as LockRow[];

    /** The id of the rollout called `name`, once `machine` sees it in the shared history at `stage`. */
    async function rolloutAt(machine: string, name: string, stage: RegExp): Promise<string> {
      let id = '';
      await expect
        .poll(
          async () => {
            const row = (await history(machine)).find((r) => r.name === name);
            id = row?.id ?? '';
            return row?.state ?? '';
          },
          { timeout: 20_000, interval: 100 },
        )
        .toMatch(stage);
      return id;
    }

    /** Every drone is active (no pause hold left) and runs `version`. */
    async function expectFleetOn(version: string): Promise<void> {
      for (const [id, drone] of Object.entries(await fleetHealth(sim, DRONES))) {
        expect(drone.state, id).toBe('active');
        expect(drone.configs[FILE]?.version, id).toBe(version);
      }
    }

    /** etcd's own view of a rollout's audit events. */
    async function auditOf(id: string): Promise<Record<string, unknown>[]> {
      const chunks = await etcd.inspector.getAll().prefix(`fleet-rollout/rollouts/${id}/audit/`).strings();
      return Object.keys(chunks)
        .sort()
        .flatMap((key) => (chunks[key] ?? '').trim().split('\n'))
        .map((line) => JSON.parse(line) as Record<string, unknown>);
    }

    /** Nothing of a rollout or a lock was written to a machine's state dir: only logs stay local. */
    async function expectOnlyLogs(...machines: string[]): Promise<void> {
      for (const machine of machines) {
        const entries = await readdir(join(work!.path, machine)).catch((error: unknown) => {
          if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
          throw error;
        });
        expect(
          entries.filter((entry) => entry !== 'logs'),
          machine,
        ).toEqual([]);
      }
    }

    async function expectNoLockOrCommandKey(id: string): Promise<void> {
      expect(await etcd.inspector.getAll().prefix('fleet-rollout/locks/').keys()).toEqual([]);
      expect(await etcd.inspector.getAll().prefix(`fleet-rollout/rollouts/${id}/commands/`).keys()).toEqual([]);
    }

    it('promote from machine B passes the manual gate of a run on machine A: A promotes (exit 0), the whole fleet on the new version, no lock left', async () => {
      // Given a run on machine A waiting at its manual gate, its canary on v43, the fleet paused
      const a = run('machine-a', await spec('gated', { bake: '500ms', ttl: '3s', version: 'v43', approval: 'manual' }));
      const id = await rolloutAt('machine-b', 'gated', /^waiting for `rollout promote \S+`/);
      expect(await status('machine-b', id)).toMatchObject({
        liveness: 'running',
        owner: { host: HOST, pid: a.child.pid },
      });
      const gate = await fleetHealth(sim, DRONES);
      for (const drone of CANARY) expect(gate[drone]?.configs[FILE]?.version, drone).toBe('v43');
      for (const drone of WAVE) expect(gate[drone]?.configs[FILE]?.version, drone).toBe(OLD);
      expect(Object.values(gate).every((drone) => drone.state === 'paused')).toBe(true);
      const [held, ...others] = await locks('machine-b');
      expect(others).toEqual([]);
      expect(held).toMatchObject({ key: FILE, state: 'held', owner: { rollout: id, pid: a.child.pid } });
      // And machine C's `rollout ui` over the same etcd shows it: running, its canary updated, the rest paused
      const ui = children.track(await startUiProcess(on('machine-c')));
      const view = (await (await fetch(`${ui.url}/api/rollouts/${id}`)).json()) as {
        summary: { liveness: string };
        counts: Record<string, number>;
      };
      expect(view.summary.liveness).toBe('running');
      expect(view.counts).toMatchObject({ updated: CANARY.length, paused: WAVE.length });
      await ui.stop();

      // When machine B promotes it
      const promoted = await cli('machine-b', 'promote', id);
      expect(promoted.code, promoted.stderr).toBe(0);
      expect(promoted.stdout).toMatch(literal(`promote sent to ${id} by `));

      // Then A goes on and promotes: every drone on v43 under A's fence, active; no lock, no command key left
      const ended = await within(a.done, 20_000, 'the promoted run');
      expect(ended.code, ended.stderr).toBe(0);
      expect(parseReport(ended)).toMatchObject({ id, result: 'promoted', exitCode: 0 });
      await expectFleetOn('v43');
      expect(new Set(Object.values(await fleetFences(sim, DRONES)))).toEqual(new Set([held?.fence]));
      expect(await locks('machine-c')).toEqual([]);
      expect((await history('machine-c')).find((r) => r.id === id)).toMatchObject({
        state: 'ended',
        result: 'promoted',
      });
      const after = await status('machine-c', id);
      expect(after).toMatchObject({ liveness: 'ended', result: 'promoted' });
      expect(after.versions).toEqual({ v43: DRONES });
      expect((await auditOf(id)).filter((e) => e.kind === 'operator')).toMatchObject([
        { type: 'promote', by: expect.stringMatching(literal(`@${HOST}`)) },
      ]);
      await expectNoLockOrCommandKey(id);
      await expectOnlyLogs('machine-a', 'machine-b', 'machine-c');
    });

    for (const mode of ['finish', 'rollback'] as const) {
      const result =
        mode === 'finish'
          ? { code: 0, name: 'promoted', version: 'v44' }
          : { code: 1, name: 'rolled_back', version: OLD };

      it(`resume${mode === 'rollback' ? ' --rollback' : ''} from machine B of a run SIGKILLed on machine A mid-bake: B reclaims the dead run's etcd lock with a larger fence and ends ${result.name} (exit ${result.code}), the fleet on ${result.version}`, async () => {
        // Given a run on machine A SIGKILLed while its canary bakes. Its lock TTL (30 s) outlasts this test's
        // checks and resume however slow the machine is: the etcd key is still there when B resumes, so B
        // must take it over (its owner is dead), not wait for it.
        const name = `killed-${mode}`;
        const a = run('machine-a', await spec(name, { bake: '4s', ttl: '30s', version: 'v44' }));
        const id = await rolloutAt('machine-b', name, /^canary: baking/);
        a.child.kill('SIGKILL');
        expect((await a.done).signal).toBe('SIGKILL');
        const killedFences = new Set(Object.values(await fleetFences(sim, CANARY.length)));
        expect(killedFences.size, "every canary drone took the killed run's push").toBe(1);
        const killedFence = [...killedFences][0] ?? 0;
        expect(killedFence).toBeGreaterThan(0);

        // B sees it gone, and its lock stale (its owner is dead) but still in etcd
        expect((await history('machine-b')).find((r) => r.id === id)).toMatchObject({ state: 'gone', result: null });
        expect(await status('machine-b', id)).toMatchObject({
          liveness: 'gone',
          stage: expect.stringMatching(/^canary: baking/),
        });
        expect(await locks('machine-b')).toMatchObject([
          {
            key: FILE,
            fence: killedFence,
            state: 'stale',
            staleReason: 'owner_dead',
            owner: { rollout: id, pid: a.child.pid },
          },
        ]);

        // When machine B resumes it
        const resumed = await within(
          cli('machine-b', 'resume', id, '--output', 'json', ...(mode === 'rollback' ? ['--rollback'] : [])),
          30_000,
          'the resume',
        );

        // Then it reclaimed the stale lock, re-took the lease with a larger fence, and finished
        expect(resumed.code, resumed.stderr).toBe(result.code);
        expect(resumed.stderr).toMatch(
          literal(`reclaimed stale lock ${FILE}: held by rollout ${id} (host ${HOST}, pid ${a.child.pid})`),
        );
        expect(resumed.stderr).toMatch(/stale: its owner process is dead/);
        const resumedFence = Number(
          new RegExp(`resuming ${id} at "canary: baking[^"]*" with fence (\\d+)`).exec(resumed.stderr)?.[1],
        );
        expect(resumedFence, resumed.stderr).toBeGreaterThan(killedFence);
        expect(parseReport(resumed)).toMatchObject({ id, result: result.name, exitCode: result.code });

        await expectFleetOn(result.version);
        const fences = await fleetFences(sim, DRONES);
        if (mode === 'finish') {
          // The canary may keep the dead run's push (the bake was in flight, not the push) or take it again.
          for (const drone of CANARY) expect([killedFence, resumedFence], drone).toContain(fences[drone]);
          for (const drone of WAVE) expect(fences[drone], drone).toBe(resumedFence);
        } else {
          for (const drone of CANARY) expect(fences[drone], drone).toBe(resumedFence);
          for (const drone of WAVE) expect(fences[drone], `${drone} was never written`).toBe(0);
        }

        expect(await locks('machine-c')).toEqual([]);
        expect((await history('machine-c')).find((r) => r.id === id)).toMatchObject({
          state: 'ended',
          result: result.name,
        });
        const after = await status('machine-c', id);
        expect(after).toMatchObject({ liveness: 'ended', result: result.name });
        expect(after.versions).toEqual({ [result.version]: DRONES });
        const audit = await auditOf(id);
        expect(audit.filter((e) => e.kind === 'resumed')).toHaveLength(1);
        expect(audit.at(-1)).toMatchObject({ kind: 'ended', result: result.name });
        await expectNoLockOrCommandKey(id);

        // A third machine resuming the ended rollout only reads its result
        const again = await cli('machine-c', 'resume', id);
        expect(again.code, again.stderr).toBe(result.code);
        expect(`${again.stdout}${again.stderr}`).toMatch(literal(`rollout ${id} already ended: ${result.name}`));
        await expectFleetOn(result.version);
        await expectOnlyLogs('machine-a', 'machine-b', 'machine-c');
      });
    }

    it('lock release from machine B: refused (exit 3) while the run on machine A is alive, freed with --force; A loses its lease, stops and rolls back (exit 1)', async () => {
      // Given a run on machine A holding the lock through a long bake
      const a = run('machine-a', await spec('held', { bake: '60s', ttl: '3s', version: 'v45' }));
      await expect
        .poll(async () => Object.values(await fleetFences(sim, CANARY.length)).every((fence) => fence > 0), {
          timeout: 20_000,
          interval: 100,
        })
        .toBe(true);
      const [held, ...others] = await locks('machine-b');
      expect(others).toEqual([]);
      expect(held).toMatchObject({ key: FILE, state: 'held', owner: { host: HOST, pid: a.child.pid } });
      const id = held?.owner.rollout ?? '';
      expect(id).toMatch(/^held-/);
      expect(new Set(Object.values(await fleetFences(sim, CANARY.length)))).toEqual(new Set([held?.fence]));

      // When machine B releases it without --force: refused, naming the live owner; the lock stays
      const refused = await cli('machine-b', 'lock', 'release', FILE);
      expect(refused.code, refused.stderr).toBe(3);
      expect(refused.stderr).toMatch(
        literal(`Lock ${FILE} is held by rollout ${id} (host ${HOST}, pid ${a.child.pid})`),
      );
      expect(refused.stderr).toMatch(/--force/);
      const refusedJson = await cli('machine-b', 'lock', 'release', FILE, '--output', 'json');
      expect(refusedJson.code).toBe(3);
      expect(JSON.parse(refusedJson.stdout)).toMatchObject({ exitCode: 3, code: 'E_LOCK_OWNER_LIVE' });
      expect(await locks('machine-c')).toMatchObject([
        { key: FILE, fence: held?.fence, state: 'held', owner: { rollout: id } },
      ]);

      // When machine B forces it
      const released = await cli('machine-b', 'lock', 'release', FILE, '--force');
      expect(released.code, released.stderr).toBe(0);
      expect(released.stdout).toMatch(
        literal(
          `released ${FILE} (fence ${held?.fence}), was held by rollout ${id} (host ${HOST}, pid ${a.child.pid})`,
        ),
      );

      // Then A's next heartbeat finds the lock gone: it stops pushing, and, nobody holding the lock, re-takes
      // it with a larger fence and rolls back its canary
      const ended = await within(a.done, 15_000, 'the run whose lock was released');
      expect(ended.code, ended.stderr).toBe(1);
      const report = parseReport(ended);
      expect(report).toMatchObject({ id, result: 'rolled_back', exitCode: 1 });
      expect(report.reason).toMatch(/lease lost/);
      for (const drone of CANARY) expect(report.drones[drone]?.state, drone).toBe('rolled_back');
      for (const drone of WAVE) expect(report.drones[drone]?.state, drone).toBe('unchanged');
      await expectFleetOn(OLD);
      expect(await locks('machine-c')).toEqual([]);
      expect((await history('machine-c')).find((r) => r.id === id)).toMatchObject({
        state: 'ended',
        result: 'rolled_back',
      });
      const audit = await auditOf(id);
      expect(audit.filter((e) => e.kind === 'push')).toHaveLength(CANARY.length);
      const retaken = audit.find((e) => e.kind === 'lock.retaken');
      expect(retaken).toMatchObject({ previous: held?.fence });
      expect(Number(retaken?.fence)).toBeGreaterThan(held?.fence ?? Infinity);
      expect(audit.at(-1)).toMatchObject({ kind: 'ended', result: 'rolled_back' });
      await expectNoLockOrCommandKey(id);
      await expectOnlyLogs('machine-a', 'machine-b', 'machine-c');
    });
  },
);
