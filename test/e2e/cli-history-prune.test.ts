import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { currentOwner } from '../../src/cli/common.js';
import { createEmbeddedStateStore } from '../../src/store/embedded/store.js';
import { createEtcdStateStore } from '../../src/store/etcd/store.js';
import type { RolloutRecord, StateStore } from '../../src/store/types.js';
import { runCli, tempDir } from '../helpers/cli.js';
import { etcdAvailable } from '../helpers/etcd.js';
import { useEtcd } from '../helpers/etcd-suite.js';
import { sampleRecord } from '../store/conformance.js';

const DAY = 86_400_000;
const NOW = Date.now();

function endedDaysAgo(id: string, days: number): RolloutRecord {
  return {
    ...sampleRecord(id, NOW - days * DAY - 60_000),
    stage: 'ended',
    result: 'promoted',
    ended: NOW - days * DAY,
  };
}

/** Three ended rollouts, one running (owned by this test's process), one whose process is gone mid-run. */
const RECORDS: readonly RolloutRecord[] = [
  endedDaysAgo('aim-old', 40),
  endedDaysAgo('aim-recent', 10),
  endedDaysAgo('aim-new', 1),
  { ...sampleRecord('aim-running', NOW - 90 * DAY), owner: currentOwner(), heartbeat: NOW },
  { ...sampleRecord('aim-gone', NOW - 90 * DAY), stage: 'canary: baking', heartbeat: NOW - 90 * DAY },
];

async function ids(store: StateStore): Promise<string[]> {
  return (await store.listRollouts()).map((record) => record.id).sort();
}

describe('rollout history --prune', () => {
  let state: { path: string; remove(): Promise<void> };
  let store: StateStore;

  beforeEach(async () => {
    state = await tempDir('rollout-prune-');
    store = createEmbeddedStateStore({ dir: state.path });
    await mkdir(join(state.path, 'logs'));
    for (const record of RECORDS) {
      await store.createRollout(record);
      await writeFile(join(state.path, 'logs', `${record.id}.ndjson`), '{}\n');
    }
  });

  afterEach(async () => {
    await store.close();
    await state.remove();
  });

  it('by age removes the rollouts that ended before it, with their logs, and prints their ids', async () => {
    const pruned = await runCli(['history', '--prune', '30d', '--output', 'json', '--state-dir', state.path]);
    expect(pruned.code, pruned.stderr).toBe(0);
    expect(JSON.parse(pruned.stdout)).toEqual(['aim-old']);
    expect(await ids(store)).toEqual(['aim-gone', 'aim-new', 'aim-recent', 'aim-running']);
    expect(existsSync(join(state.path, 'logs', 'aim-old.ndjson'))).toBe(false);
    expect(existsSync(join(state.path, 'logs', 'aim-recent.ndjson'))).toBe(true);
  });

  it('by count keeps the newest ended ones, never a running or gone one, and says what it removed', async () => {
    const pruned = await runCli(['history', '--prune', '1', '--state-dir', state.path]);
    expect(pruned.code, pruned.stderr).toBe(0);
    expect(pruned.stdout).toMatch(/^removed aim-recent \(promoted, ended \S+Z\)$/m);
    expect(pruned.stdout).toMatch(/^removed aim-old /m);
    expect(await ids(store)).toEqual(['aim-gone', 'aim-new', 'aim-running']);

    const again = await runCli(['history', '--prune', '0', '--output', 'json', '--state-dir', state.path]);
    expect(JSON.parse(again.stdout)).toEqual(['aim-new']);
    expect(await ids(store)).toEqual(['aim-gone', 'aim-running']);
  });

  it('refuses a rule it cannot read (exit 2) and removes nothing', async () => {
    const refused = await runCli(['history', '--prune', 'a month', '--state-dir', state.path]);
    expect(refused.code).toBe(2);
    expect(await ids(store)).toHaveLength(RECORDS.length);
  });
});

describe.skipIf(!etcdAvailable())('rollout history --prune on etcd', () => {
  const etcd = useEtcd();
  /** Undefined if a beforeAll failed before making it (etcd's runs first). */
  let state: { path: string; remove(): Promise<void> } | undefined;

  beforeAll(async () => {
    state = await tempDir('rollout-prune-etcd-');
  });

  afterAll(async () => {
    await state?.remove();
  });

  it('removes the same rollouts from the team store', async () => {
    const store = createEtcdStateStore({ endpoints: [etcd.server.endpoint] });
    try {
      for (const record of RECORDS) await store.createRollout(record);
      const pruned = await runCli([
        'history',
        '--prune',
        '5d',
        '--output',
        'json',
        '--store',
        `etcd://${etcd.server.endpoint}`,
        '--state-dir',
        state!.path,
      ]);
      expect(pruned.code, pruned.stderr).toBe(0);
      expect(JSON.parse(pruned.stdout)).toEqual(['aim-recent', 'aim-old']);
      expect(await ids(store)).toEqual(['aim-gone', 'aim-new', 'aim-running']);
    } finally {
      await store.close();
    }
  });
});
