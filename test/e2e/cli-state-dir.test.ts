import { existsSync } from 'node:fs';
import { mkdir, realpath } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runCli, startCli, startSimProcess, tempDir, type SimProcess } from '../helpers/cli.js';
import { Children, FILE, parseReport, within, writeSpec, type LockRow } from '../helpers/fleet.js';

/** Neither variable set: the state dir is found from the cwd alone. */
const NO_ENV = { ROLLOUT_STATE_DIR: '', ROLLOUT_STORE: '' };

describe('the state dir of a checkout, found from any of its directories', () => {
  let sim: SimProcess;
  let checkout: { path: string; remove(): Promise<void> };
  let specs: { path: string; remove(): Promise<void> };
  let root: string;
  let sub: string;
  const children = new Children();

  beforeEach(async () => {
    checkout = await tempDir('rollout-checkout-');
    specs = await tempDir('rollout-specs-');
    root = await realpath(checkout.path);
    sub = join(root, 'rollouts', 'team-a');
    await mkdir(sub, { recursive: true });
    sim = await startSimProcess(['--drones', '4']);
  });

  afterEach(async () => {
    try {
      await children.reap();
      await sim.stop();
    } finally {
      await checkout.remove();
      await specs.remove();
    }
  });

  async function locksSeenFrom(cwd: string): Promise<LockRow[]> {
    const listed = await runCli(['lock', 'ls', '--output', 'json'], { cwd, env: NO_ENV });
    expect(listed.code, listed.stderr).toBe(0);
    return JSON.parse(listed.stdout) as LockRow[];
  }

  it('a lock taken by a run from the root is seen, and respected, from a subdirectory', async () => {
    const above = [];
    for (let dir = root; dirname(dir) !== dir; dir = dirname(dir)) above.push(join(dirname(dir), '.rollout'));
    expect(
      above.filter((dir) => existsSync(dir)),
      'the premise: no state dir above the temp checkout',
    ).toEqual([]);

    const spec = await writeSpec(specs.path, 'holder', { bake: '60s' });
    const first = children.track(
      startCli(['run', spec, '--inventory', sim.inventory, '--output', 'json'], { cwd: root, env: NO_ENV }),
    );
    await expect.poll(async () => (await locksSeenFrom(sub)).length, { timeout: 15_000, interval: 200 }).toBe(1);
    const [lock] = await locksSeenFrom(sub);
    expect(lock).toMatchObject({ key: FILE, state: 'held', owner: { pid: first.child.pid } });
    expect(existsSync(join(root, '.rollout')), 'created by the first write, in the cwd').toBe(true);
    expect(existsSync(join(sub, '.rollout'))).toBe(false);

    const second = await runCli(['run', spec, '--inventory', sim.inventory, '--output', 'json'], {
      cwd: sub,
      env: NO_ENV,
    });
    expect(parseReport(second)).toMatchObject({ result: 'lock_busy', exitCode: 3 });
    expect(second.stderr.split('\n')[0]).toBe(`state: ${join(root, '.rollout')}`);

    const abort = await runCli(['abort', lock?.owner.rollout ?? '', '--reason', 'test over'], {
      cwd: sub,
      env: NO_ENV,
    });
    expect(abort.code, abort.stderr).toBe(0);
    const ended = await within(first.done, 30_000, 'the aborted first run');
    expect(parseReport(ended)).toMatchObject({ result: 'rolled_back', exitCode: 1 });
    expect(ended.stderr.split('\n')[0]).toBe(`state: ${join(root, '.rollout')}`);
    expect(await locksSeenFrom(sub)).toEqual([]);
  });

  it('$ROLLOUT_STATE_DIR names it from anywhere, and --state-dir overrides it', async () => {
    const shared = join(specs.path, 'shared-state');
    const spec = await writeSpec(specs.path, 'quick', { bake: '0s' });
    const run = await runCli(['run', spec, '--inventory', sim.inventory, '--output', 'json'], {
      cwd: sub,
      env: { ROLLOUT_STATE_DIR: shared, ROLLOUT_STORE: '' },
    });
    expect(parseReport(run)).toMatchObject({ result: 'promoted' });
    expect(run.stderr.split('\n')[0]).toBe(`state: ${shared}`);
    const history = async (args: string[]) =>
      JSON.parse(
        (await runCli(['history', '--output', 'json', ...args], { cwd: root, env: { ROLLOUT_STATE_DIR: shared } }))
          .stdout,
      ) as unknown[];
    expect(await history([])).toHaveLength(1);
    expect(await history(['--state-dir', join(root, 'elsewhere')])).toEqual([]);
  });
});
