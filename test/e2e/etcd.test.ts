import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { setTimeout as sleep } from 'node:timers/promises';
import { copyInto, runCli, startCli, startSimProcess, tempDir, type SimProcess } from '../helpers/cli.js';
import { etcdAvailable } from '../helpers/etcd.js';
import { machineArgs, useEtcd } from '../helpers/etcd-suite.js';
import { Children, FILE, fleetHealth, type Health } from '../helpers/fleet.js';

interface HistoryRow {
  id: string;
  name: string;
  state: string;
  result: string | null;
}

describe.runIf(etcdAvailable())('a team sharing one etcd: lock and history across state dirs', () => {
  const etcd = useEtcd();
  // Undefined if a beforeAll failed before making them (etcd's runs first).
  let sim: SimProcess | undefined;
  let work: { path: string; remove(): Promise<void> } | undefined;
  const children = new Children();

  beforeAll(async () => {
    sim = await startSimProcess(['--drones', '6']);
    work = await tempDir('rollout-etcd-');
  });

  afterEach(() => children.reap());

  afterAll(async () => {
    await sim?.stop();
    await work?.remove();
  });

  /** The CLI as a different engineer's machine would run it: its own state dir, the shared etcd. */
  const on = machineArgs(etcd, () => work!.path);

  async function spec(
    name: string,
    bake: string,
    options: { ttl?: string; version?: string; mixed?: 'adopt' } = {},
  ): Promise<string> {
    const dir = work!.path;
    const path = join(dir, `${name}.yaml`);
    const config = join(dir, `${name}.conf`);
    await writeFile(
      config,
      `# ${options.version ?? name}\naim_sensitivity = 0.85\nsafety_threshold = 0.95\nmax_turn_rate = 30\n`,
    );
    await writeFile(
      path,
      [
        `name: ${name}`,
        `config: { file: ${FILE}, source: ${config}, version: ${options.version ?? 'v43'} }`,
        `lock: { ttl: ${options.ttl ?? '15s'} }`,
        `fleet: { inventory: ${await copyInto(dir, sim!.inventory)}${options.mixed ? `, mixed_versions: ${options.mixed}` : ''} }`,
        `canary: { drones: 2, bake: ${bake} }`,
        'analysis: { interval: 500ms, min_samples: 1, metrics: [{ name: heart_rate, max: 200 }] }',
      ].join('\n'),
    );
    return path;
  }

  it('a second machine gets exit 3 and pushes nothing; a third sees both in history, aborts the first, and no lock key is left', async () => {
    const first = children.track(startCli(on('laptop', 'run', await spec('from-laptop', '60s'), '--output', 'json')));
    let firstId = '';
    await expect
      .poll(
        async () => {
          const rows = JSON.parse(
            (await runCli(on('ci', 'history', '--output', 'json'))).stdout || '[]',
          ) as HistoryRow[];
          firstId = rows[0]?.id ?? '';
          return rows[0]?.state ?? '';
        },
        { timeout: 20_000, interval: 200 },
      )
      .toMatch(/^canary: baking/);

    const second = await runCli(on('ci', 'run', await spec('from-ci', '0s'), '--output', 'json'));
    expect(second.code, second.stderr).toBe(3);
    const busy = JSON.parse(second.stdout) as {
      result: string;
      reason: string;
      drones: Record<string, { state: string }>;
    };
    expect(busy.result).toBe('lock_busy');
    expect(busy.reason).toContain(firstId);
    expect(Object.values(busy.drones).every((d) => d.state === 'unchanged')).toBe(true);

    const locks = JSON.parse((await runCli(on('ops', 'lock', 'ls', '--output', 'json'))).stdout) as {
      key: string;
      state: string;
      owner: { rollout: string };
    }[];
    expect(locks).toMatchObject([{ key: FILE, state: 'held', owner: { rollout: firstId } }]);

    expect((await runCli(on('ops', 'abort', firstId, '--reason', 'from ops'))).code).toBe(0);
    const ended = await first.done;
    expect(ended.code, ended.stderr).toBe(1);

    const history = JSON.parse((await runCli(on('ops', 'history', '--output', 'json'))).stdout) as HistoryRow[];
    expect(history.map((r) => [r.name, r.result])).toEqual([
      ['from-ci', 'lock_busy'],
      ['from-laptop', 'rolled_back'],
    ]);
    expect(await etcd.inspector.getAll().prefix('fleet-rollout/locks/').keys()).toEqual([]);
    expect(await etcd.inspector.getAll().prefix(`fleet-rollout/rollouts/${firstId}/commands/`).keys()).toEqual([]);
  });

  const fleet = async (): Promise<Health[]> => Object.values(await fleetHealth(sim!, 6));

  it('a holder frozen past its TTL loses its etcd lease; the next orchestrator takes over with a larger fence; woken, the first changes nothing', async () => {
    const frozen = children.track(
      startCli(on('laptop', 'run', await spec('frozen', '60s', { ttl: '2s', version: 'v50' }), '--output', 'json')),
    );
    await expect
      .poll(async () => (await fleet()).filter((d) => d.configs[FILE]?.version === 'v50').length, {
        timeout: 20_000,
        interval: 100,
      })
      .toBe(2);
    const frozenFence = (await fleet())[0]?.configs[FILE]?.fence ?? 0;
    frozen.child.kill('SIGSTOP');
    try {
      // etcd expires the 2 s lease (its minimum) and deletes the lock key by itself.
      await expect
        .poll(async () => JSON.parse((await runCli(on('ops', 'lock', 'ls', '--output', 'json'))).stdout) as unknown[], {
          timeout: 15_000,
          interval: 250,
        })
        .toEqual([]);
      const takeover = await runCli(
        on('ci', 'run', await spec('takeover', '0s', { version: 'v51', mixed: 'adopt' }), '--output', 'json'),
      );
      expect(takeover.code, takeover.stderr).toBe(0);
      const drones = await fleet();
      for (const drone of drones) {
        expect(drone.configs[FILE]?.version).toBe('v51');
        expect(drone.configs[FILE]?.fence).toBeGreaterThan(frozenFence);
      }
    } finally {
      frozen.child.kill('SIGCONT');
    }
    const woken = await frozen.done;
    expect(woken.code).not.toBe(0);
    for (const drone of await fleet()) {
      expect(drone.configs[FILE]?.version).toBe('v51');
      expect(drone.state).toBe('active');
    }
  });

  it('etcd restarted mid-bake: the rollout rides through the outage or rolls back safely, never leaves the fleet mixed', async () => {
    const run = children.track(
      startCli(on('laptop', 'run', await spec('outage', '4s', { version: 'v52' }), '--output', 'json')),
    );
    await expect
      .poll(async () => (await fleet()).filter((d) => d.configs[FILE]?.version === 'v52').length, {
        timeout: 20_000,
        interval: 100,
      })
      .toBe(2);
    await etcd.server.stop();
    await sleep(1500);
    await etcd.server.start();
    const ended = await run.done;
    expect([0, 1], ended.stderr).toContain(ended.code);
    const versions = new Set((await fleet()).map((d) => d.configs[FILE]?.version));
    expect(versions.size, `${ended.stdout}\n${ended.stderr}`).toBe(1);
    expect(versions.has(ended.code === 0 ? 'v52' : 'v51')).toBe(true);
    for (const drone of await fleet()) expect(drone.state).toBe('active');
    expect(JSON.parse((await runCli(on('ops', 'lock', 'ls', '--output', 'json'))).stdout)).toEqual([]);
  });
});
