import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Etcd3 } from 'etcd3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, runCli, startCli, startSimProcess, tempDir, type SimProcess } from '../helpers/cli.js';
import { etcdAvailable, startEtcd, type EtcdServer } from '../helpers/etcd.js';

const FILE = 'aim_lock_config.conf';

interface HistoryRow {
  id: string;
  name: string;
  state: string;
  result: string | null;
}

describe.runIf(etcdAvailable())('a team sharing one etcd: lock and history across state dirs', () => {
  let etcd: EtcdServer;
  let sim: SimProcess;
  let work: { path: string; remove(): Promise<void> };

  beforeAll(async () => {
    etcd = await startEtcd();
    sim = await startSimProcess(['--drones', '6']);
    work = await tempDir('rollout-etcd-');
  });

  afterAll(async () => {
    await sim?.stop();
    await etcd?.destroy();
    await work?.remove();
  });

  /** The CLI as a different engineer's machine would run it: its own state dir, the shared etcd. */
  const on = (machine: string, ...args: string[]) => [...args, '--store', `etcd://${etcd.endpoint}`, '--state-dir', join(work.path, machine)];

  async function spec(name: string, bake: string): Promise<string> {
    const path = join(work.path, `${name}.yaml`);
    await writeFile(
      path,
      [
        `name: ${name}`,
        `config: { file: ${FILE}, source: ${join(ROOT, 'rollouts', 'configs', 'aim_lock_config.conf')} }`,
        `fleet: { inventory: ${sim.inventory} }`,
        `canary: { drones: 2, bake: ${bake} }`,
        'analysis: { interval: 500ms, min_samples: 1, metrics: [{ name: heart_rate, max: 200 }] }',
      ].join('\n'),
    );
    return path;
  }

  it('a second machine gets exit 3 and pushes nothing; a third sees both in history, aborts the first, and no lock key is left', async () => {
    const first = startCli(on('laptop', 'run', await spec('from-laptop', '60s'), '--output', 'json'));
    let firstId = '';
    await expect
      .poll(async () => {
        const rows = JSON.parse((await runCli(on('ci', 'history', '--output', 'json'))).stdout || '[]') as HistoryRow[];
        firstId = rows[0]?.id ?? '';
        return rows[0]?.state ?? '';
      }, { timeout: 20_000, interval: 200 })
      .toMatch(/^canary: baking/);

    const second = await runCli(on('ci', 'run', await spec('from-ci', '0s'), '--output', 'json'));
    expect(second.code, second.stderr).toBe(3);
    const busy = JSON.parse(second.stdout) as { result: string; reason: string; drones: Record<string, { state: string }> };
    expect(busy.result).toBe('lock_busy');
    expect(busy.reason).toContain(firstId);
    expect(Object.values(busy.drones).every((d) => d.state === 'unchanged')).toBe(true);

    const locks = JSON.parse((await runCli(on('ops', 'lock', 'ls', '--output', 'json'))).stdout) as { key: string; state: string; owner: { rollout: string } }[];
    expect(locks).toMatchObject([{ key: FILE, state: 'held', owner: { rollout: firstId } }]);

    expect((await runCli(on('ops', 'abort', firstId, '--reason', 'from ops'))).code).toBe(0);
    const ended = await first.done;
    expect(ended.code, ended.stderr).toBe(1);

    const history = JSON.parse((await runCli(on('ops', 'history', '--output', 'json'))).stdout) as HistoryRow[];
    expect(history.map((r) => [r.name, r.result])).toEqual([
      ['from-ci', 'lock_busy'],
      ['from-laptop', 'rolled_back'],
    ]);
    const client = new Etcd3({ hosts: `http://${etcd.endpoint}` });
    try {
      expect(await client.getAll().prefix('fleet-rollout/locks/').keys()).toEqual([]);
      expect(await client.getAll().prefix(`fleet-rollout/rollouts/${firstId}/commands/`).keys()).toEqual([]);
    } finally {
      client.close();
    }
  });
});
