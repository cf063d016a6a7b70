import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { currentOwner } from '../../src/cli/common.js';
import { createEmbeddedStateStore } from '../../src/store/embedded/store.js';
import type { StateStore } from '../../src/store/types.js';
import { startCli, tempDir } from '../helpers/cli.js';
import { Children, within } from '../helpers/fleet.js';
import { sampleRecord } from '../store/conformance.js';

const ID = 'aim-watch-1';

describe('rollout status --watch without a terminal', () => {
  let state: { path: string; remove(): Promise<void> };
  let store: StateStore;
  const children = new Children();

  beforeEach(async () => {
    state = await tempDir('rollout-watch-');
    store = createEmbeddedStateStore({ dir: state.path });
    // Owned by this test's process: alive on this host, so the rollout reads as running.
    await store.createRollout({
      ...sampleRecord(ID, Date.now()),
      owner: currentOwner(),
      stage: 'canary: baking',
      heartbeat: Date.now(),
    });
  });

  afterEach(async () => {
    await children.reap();
    await store.close();
    await state.remove();
  });

  it('counts one drone as one drone', async () => {
    await store.createRollout({
      ...sampleRecord('aim-one', Date.now()),
      drones: 1,
      result: 'promoted',
      ended: Date.now(),
    });
    const shown = await within(startCli(['status', 'aim-one', '--state-dir', state.path]).done, 10_000, 'status');
    expect(shown.stdout).toMatch(/; 1 targeted drone$/m);
  });

  it('prints a block per real change (stage, result), not per heartbeat, and exits with the result', async () => {
    const watch = children.track(startCli(['status', ID, '--watch', '--state-dir', state.path]));
    const blocks = () => watch.output().stdout.split(`${ID}  `).length - 1;
    await expect.poll(blocks, { timeout: 10_000, interval: 100 }).toBe(1);

    // Three seconds of heartbeats, as a running rollout writes them: the watch reads the store every second.
    for (let beat = 0; beat < 12; beat += 1) {
      await store.updateRollout(ID, { heartbeat: Date.now() });
      await new Promise((done) => setTimeout(done, 250));
    }
    expect(blocks()).toBe(1);

    await store.updateRollout(ID, {
      stage: 'wave-1: pushing',
      step: { index: 1, name: 'wave-1', total: 3 },
      heartbeat: Date.now(),
    });
    await expect.poll(blocks, { timeout: 10_000, interval: 100 }).toBe(2);

    await store.updateRollout(ID, {
      stage: 'ended',
      result: 'rolled_back',
      reason: 'aborted by a test',
      ended: Date.now(),
    });
    const ended = await within(watch.done, 10_000, 'status --watch');
    expect(ended.code).toBe(1);
    expect(blocks()).toBe(3);
    expect(ended.stdout).toContain('rolled_back (exit 1)');
  });
});
