import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { writeLockRecord } from '../../src/agent/local-lock.js';
import { runCli, startCli, startSimProcess, tempDir, type SimProcess } from '../helpers/cli.js';
import {
  Children,
  FILE,
  droneUrl,
  fleetHealth,
  lockTable,
  parseReport,
  runArgs,
  within,
  writeSpec,
} from '../helpers/fleet.js';

const DRONES = 8;

async function simStats(sim: SimProcess): Promise<{ pushes: number; rollbacks: number }> {
  return (await (await fetch(`${sim.url}/sim/stats`)).json()) as { pushes: number; rollbacks: number };
}

/** A write to one drone from some other rollout, as if another orchestrator had pushed it. */
async function pushAsAnotherRollout(
  sim: SimProcess,
  id: string,
  options: { rollout: string; fence: number; version: string },
): Promise<Response> {
  const content = `# written by ${options.rollout}\naim_sensitivity = 0.9\n`;
  return fetch(`${droneUrl(sim, id)}/v1/configs/${FILE}`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ ...options, sha256: createHash('sha256').update(content).digest('hex'), content }),
  });
}

/** The id of the newest rollout in the state dir once its stage matches. */
async function rolloutAt(stateDir: string, stage: RegExp): Promise<string> {
  let id = '';
  await expect
    .poll(
      async () => {
        const rows = JSON.parse((await runCli(['history', '--output', 'json', '--state-dir', stateDir])).stdout) as {
          id: string;
          state: string;
        }[];
        id = rows[0]?.id ?? '';
        return rows[0]?.state ?? '';
      },
      { timeout: 15_000, interval: 100 },
    )
    .toMatch(stage);
  return id;
}

async function versions(sim: SimProcess): Promise<Record<string, string | undefined>> {
  return Object.fromEntries(
    Object.entries(await fleetHealth(sim, DRONES)).map(([id, drone]) => [id, drone.configs[FILE]?.version]),
  );
}

async function expectFleetActive(sim: SimProcess): Promise<void> {
  for (const [id, drone] of Object.entries(await fleetHealth(sim, DRONES))) expect(drone.state, id).toBe('active');
}

describe('safety under faults, through the real CLI', () => {
  let sim: SimProcess;
  let work: { path: string; remove(): Promise<void> };
  let simDir: string;
  const children = new Children();

  beforeEach(async () => {
    work = await tempDir('rollout-faults-');
    simDir = join(work.path, 'drones');
    sim = await startSimProcess(['--drones', String(DRONES), '--dir', simDir, '--fail', 'drone-8']);
  });

  afterEach(async () => {
    await children.reap();
    await sim.stop();
    expect(await lockTable(join(work.path, 'state'))).toEqual([]);
    await work.remove();
  });

  const state = () => join(work.path, 'state');

  it('a fleet another rollout left on a third version is named and refused: nothing pushed, fleet resumed, no lock held', async () => {
    for (const id of ['drone-2', 'drone-3'])
      expect((await pushAsAnotherRollout(sim, id, { rollout: 'other-rollout', fence: 1, version: 'v9' })).status).toBe(
        200,
      );
    const before = await simStats(sim);
    const spec = await writeSpec(work.path, 'on-mixed', { canary: 2, bake: '0s' });

    const run = await runCli(runArgs(spec, sim, state()));

    const report = parseReport(run);
    expect(run.code, run.stderr).toBe(5);
    expect(report.result).toBe('needs_attention');
    expect(report.reason).toMatch(/drone-2, drone-3 run v9, while the rest run v42/);
    expect(report.reason).toMatch(/fleet\.mixed_versions: adopt/);
    expect([...report.attention].sort()).toEqual(['drone-2', 'drone-3']);
    expect((await simStats(sim)).pushes).toBe(before.pushes);
    await expectFleetActive(sim);
  });

  it('a drone that accepted a larger fence mid-run refuses it as stale, never HOT: the run stops and rolls back what it pushed', async () => {
    const spec = await writeSpec(work.path, 'meets-stale', { canary: 1, bake: '0s', concurrency: 1 });
    await writeFile(spec, (await readFile(spec, 'utf8')).replace('  bake: 0s', '  bake: 0s\n  approval: manual'));
    const running = children.track(startCli(runArgs(spec, sim, state())));
    const id = await rolloutAt(state(), /^waiting for `rollout promote/);
    // Another orchestrator, on another lock table, has since written to drone-5 with a far larger fence.
    expect(
      (await pushAsAnotherRollout(sim, 'drone-5', { rollout: 'intruder', fence: 1_000_000, version: 'v77' })).status,
    ).toBe(200);
    expect((await runCli(['promote', id, '--state-dir', state()])).code).toBe(0);

    const ended = await within(running.done, 30_000, 'the run');
    const report = parseReport(ended);
    expect(ended.code, ended.stderr).toBe(1);
    expect(report.result).toBe('rolled_back');
    expect(report.hot).toEqual([]);
    expect(report.reason).toMatch(/drone-5 refused this rollout's fence as stale/);
    expect(report.reason).not.toMatch(/HOT/);
    const seen = await versions(sim);
    for (const [drone, version] of Object.entries(seen))
      expect(version, drone).toBe(drone === 'drone-5' ? 'v77' : 'v42');
    await expectFleetActive(sim);
  });

  it('a run whose only push is refused pushed nothing: it ends unchanged (exit 6), never rolled_back', async () => {
    const spec = await writeSpec(work.path, 'refused', { canary: 1, bake: '0s' });
    // drone-8 fails every write; put first in the inventory, it is the canary of one.
    const inventory = JSON.parse(await readFile(sim.inventory, 'utf8')) as { drones: { id: string }[] };
    const failingFirst = {
      drones: [
        ...inventory.drones.filter((d) => d.id === 'drone-8'),
        ...inventory.drones.filter((d) => d.id !== 'drone-8'),
      ],
    };
    const ordered = join(work.path, 'failing-first.json');
    await writeFile(ordered, JSON.stringify(failingFirst));

    const run = await runCli(['run', spec, '--inventory', ordered, '--output', 'json', '--state-dir', state()]);

    const report = parseReport(run);
    expect(report.drones['drone-8']).toBeDefined();
    expect(run.code, run.stderr).toBe(6);
    expect(report.result).toBe('unchanged');
    expect(report.reason).toMatch(/drone-8/);
    expect(report.reason).toMatch(/nothing was rolled back/);
    for (const version of Object.values(await versions(sim))) expect(version).toBe('v42');
    await expectFleetActive(sim);
  });

  it('a drone that never answers is said to have never answered, not to be "not restored"', async () => {
    const inventory = join(work.path, 'with-silent.json');
    const drones = (JSON.parse(await readFile(sim.inventory, 'utf8')) as { drones: unknown[] }).drones;
    // Port 1 on loopback: nothing listens, every request is refused at once.
    await writeFile(
      inventory,
      JSON.stringify({ drones: [...drones, { id: 'drone-0', url: 'http://127.0.0.1:1', labels: {} }] }),
    );
    const spec = await writeSpec(work.path, 'silent', { canary: 2, bake: '0s' });
    await writeFile(spec, `${await readFile(spec, 'utf8')}abort: { max_push_failures: 1, max_unreachable: 1 }\n`);

    const run = await runCli(['run', spec, '--inventory', inventory, '--output', 'json', '--state-dir', state()]);

    const report = parseReport(run);
    expect(run.code, run.stderr).toBe(5);
    expect(report.result).toBe('needs_attention');
    expect(report.attention).toContain('drone-0');
    expect(report.reason).toMatch(
      /1 drone of them never answered this rollout at all \(unreachable from the pause on\): drone-0/,
    );
    expect(report.reason).not.toMatch(/not restored/);
  });

  it('a drone that answers a push with a body outside the protocol is named and counted as a push failure', async () => {
    const fake = await startGarbageDrone((await fleetHealth(sim, 1))['drone-1']?.configs[FILE]?.sha256 ?? '');
    try {
      const inventory = join(work.path, 'with-fake.json');
      const drones = (JSON.parse(await readFile(sim.inventory, 'utf8')) as { drones: unknown[] }).drones;
      await writeFile(inventory, JSON.stringify({ drones: [{ id: 'drone-0', url: fake.url, labels: {} }, ...drones] }));
      const spec = await writeSpec(work.path, 'garbage', { canary: 1, bake: '0s' });

      const run = await runCli(['run', spec, '--inventory', inventory, '--output', 'json', '--state-dir', state()]);

      const report = parseReport(run);
      expect(run.code, run.stderr).toBe(1);
      expect(report.result).toBe('rolled_back');
      expect(report.reason).toMatch(
        /drone-0: PUT \S+ answered 200 with a body that is not the drone protocol \(version: /,
      );
      // It may have acted: it is rolled back like any push that may have landed.
      expect(fake.rollbacks()).toBe(1);
    } finally {
      await fake.close();
    }
  });

  it('a drone that turns HOT before its rollback is named HOT, left on the new config, and the run needs attention', async () => {
    const spec = await writeSpec(work.path, 'hot-at-rollback', { canary: 2, bake: '0s' });
    await writeFile(spec, (await readFile(spec, 'utf8')).replace('  bake: 0s', '  bake: 0s\n  approval: manual'));
    const running = children.track(startCli(runArgs(spec, sim, state())));
    const id = await rolloutAt(state(), /^waiting for `rollout promote/);
    const now = Date.now();
    await writeLockRecord(join(simDir, 'drone-1'), {
      file: FILE,
      owner: { pid: process.pid, host: hostname(), rollout: 'someone-else' },
      fence: 0,
      acquired: now,
      heartbeat: now + 600_000,
      token: 'planted',
    });
    expect((await runCli(['abort', id, '--state-dir', state()])).code).toBe(0);

    const ended = await within(running.done, 30_000, 'the run');
    const report = parseReport(ended);
    expect(ended.code, ended.stderr).toBe(5);
    expect(report.result).toBe('needs_attention');
    expect(report.hot).toEqual(['drone-1']);
    expect(report.attention).toEqual(['drone-1']);
    expect(report.reason).toMatch(/HOT lock mismatch during rollback on drone-1/);
    expect(report.reason.match(/rollback did not complete/g) ?? []).toHaveLength(0);
    const seen = await versions(sim);
    expect(seen['drone-1']).toBe('v43');
    expect(seen['drone-2']).toBe('v42');
    await expectFleetActive(sim);
  });
});

describe('a full disk under the state dir', () => {
  let sim: SimProcess;
  let work: { path: string; remove(): Promise<void> };
  let mounted: string | undefined;
  const children = new Children();

  beforeEach(async () => {
    work = await tempDir('rollout-full-');
    sim = await startSimProcess(['--drones', String(DRONES)]);
  });

  afterEach(async () => {
    await children.reap();
    await sim.stop();
    if (mounted) execFileSync('umount', [mounted]);
    mounted = undefined;
    await work.remove();
  });

  it.skipIf(process.getuid?.() !== 0)(
    'never skips the clean-up: the fleet is rolled back and resumed, and the run ends needs_attention (exit 5) saying why',
    async () => {
      const stateDir = join(work.path, 'state');
      await mkdir(stateDir);
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', stateDir]);
      mounted = stateDir;
      const spec = await writeSpec(work.path, 'disk-fills', { canary: 2, bake: '20s' });
      const running = children.track(startCli(runArgs(spec, sim, stateDir)));
      await expect
        .poll(async () => Object.values(await versions(sim)).filter((v) => v === 'v43').length, {
          timeout: 15_000,
          interval: 50,
        })
        .toBe(2);

      // The disk fills up while the canary bakes.
      await writeFile(join(stateDir, 'filler'), Buffer.alloc(2 * 1024 * 1024)).catch((error: unknown) =>
        expect((error as NodeJS.ErrnoException).code).toBe('ENOSPC'),
      );

      const ended = await within(running.done, 40_000, 'the run');
      expect(ended.stderr).not.toMatch(/Emitted 'error' event/);
      const report = parseReport(ended);
      expect(ended.code, ended.stderr).toBe(5);
      expect(report.result).toBe('needs_attention');
      expect(report.reason).toMatch(/the state store could not be written \(.*ENOSPC/);
      expect(report.reason).toMatch(/releasing the lock failed \(it expires after its TTL\)/);
      for (const version of Object.values(await versions(sim))) expect(version).toBe('v42');
      await expectFleetActive(sim);
    },
  );
});

/** A drone that is fine in every way except that it answers a push 200 with a body outside the protocol. */
async function startGarbageDrone(
  sha256: string,
): Promise<{ url: string; rollbacks: () => number; close: () => Promise<void> }> {
  let rollbacks = 0;
  // The fleet's own v42, so the fleet is not mixed.
  const config = { version: 'v42', sha256, lock: 'free', fence: 0 };
  const server: Server = createServer((request, response) => {
    request.resume();
    request.on('end', () => {
      const answer = (status: number, body: unknown) => {
        response.writeHead(status, { 'content-type': 'application/json' });
        response.end(JSON.stringify(body));
      };
      const path = request.url ?? '';
      if (path === '/v1/health') answer(200, { id: 'drone-0', state: 'active', configs: { [FILE]: config } });
      else if (path === '/v1/pause') answer(200, { state: 'paused', configs: { [FILE]: config } });
      else if (path === '/v1/resume') answer(200, { state: 'active' });
      else if (path.startsWith('/v1/telemetry')) answer(200, { samples: [], next: 0 });
      else if (request.method === 'PUT') answer(200, { version: 42, sha256: null });
      else if (path.endsWith('/rollback')) {
        rollbacks += 1;
        answer(200, { version: 'v42', sha256: config.sha256, restored: true });
      } else answer(404, { error: 'not_found', message: path });
    });
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  return {
    url: `http://127.0.0.1:${address.port}`,
    rollbacks: () => rollbacks,
    close: () => new Promise((done) => server.close(() => done())),
  };
}
