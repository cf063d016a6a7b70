import { createPublicKey, type KeyObject } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { serve, type RunningServer } from '../../src/agent/http-server.js';
import { createRequestHandler } from '../../src/agent/request-handler.js';
import { createEmbeddedLockStore } from '../../src/lock/embedded/store.js';
import type { LockStore } from '../../src/lock/types.js';
import { generatePushKeyPair } from '../../src/protocol/push-signature.js';
import type { RolloutObserver } from '../../src/rollout/context.js';
import type { RolloutReport } from '../../src/rollout/report.js';
import { runRollout } from '../../src/rollout/run.js';
import { SIM_INITIAL_CONFIG, SIM_INITIAL_VERSION } from '../../src/simulator/fleet-sim.js';
import { writeInventory } from '../../src/simulator/inventory.js';
import { DEFAULT_SEED, modelTelemetry } from '../../src/simulator/model-telemetry.js';
import { droneNumber, SimDrones } from '../../src/simulator/sim-drones.js';
import { resolveFaults } from '../../src/simulator/sim-faults.js';
import { loadPlan } from '../../src/spec/load-plan.js';
import { createEmbeddedStateStore } from '../../src/store/embedded/store.js';
import type { StateStore } from '../../src/store/types.js';
import { shippedConfig, tempDir } from '../helpers/cli.js';

/*
 * Whole rollouts whose spec signs the config (`config.sign.key_file`), against simulated drones started
 * with trusted keys, as `rollout fleet sim --trust-key` starts them: in process, over real HTTP.
 */

const FILE = 'aim_lock_config.conf';
const DRONES = 5;

const silentObserver: RolloutObserver = {
  stage: () => undefined,
  progress: () => undefined,
  verdict: () => undefined,
  note: () => undefined,
};

interface Health {
  readonly features: readonly string[];
  readonly configs: Record<string, { version: string; fence: number }>;
}

describe('a signed rollout over HTTP', () => {
  let work: { path: string; remove(): Promise<void> };
  let locks: LockStore;
  let store: StateStore;
  let fleet: { url: string; drones: SimDrones; server: RunningServer } | undefined;

  beforeEach(async () => {
    work = await tempDir('signed-rollout-');
    locks = createEmbeddedLockStore({ dir: join(work.path, 'state'), bootId: 'test-boot' });
    store = createEmbeddedStateStore({ dir: join(work.path, 'state') });
  });

  afterEach(async () => {
    expect(await locks.list()).toEqual([]);
    await locks.close();
    await store.close();
    await fleet?.server.close();
    fleet?.drones.close();
    fleet = undefined;
    await work.remove();
  });

  /** Writes a key pair into the work dir: `<name>.key` for specs, its public KeyObject for drones. */
  async function keyPair(name: string): Promise<{ keyFile: string; publicKey: KeyObject }> {
    const pair = generatePushKeyPair();
    const keyFile = join(work.path, `${name}.key`);
    await writeFile(keyFile, pair.privatePem, { mode: 0o600 });
    return { keyFile, publicKey: createPublicKey(pair.publicPem) };
  }

  /** A simulated fleet whose every drone trusts `trustedKeys`, and its inventory. */
  async function startFleet(trustedKeys: readonly KeyObject[]): Promise<string> {
    const logger = pino({ level: 'silent' });
    const isDrone = (id: string) => droneNumber(id, DRONES) !== undefined;
    const drones = new SimDrones({
      root: join(work.path, 'fleet'),
      size: DRONES,
      seed: { file: FILE, content: SIM_INITIAL_CONFIG, version: SIM_INITIAL_VERSION },
      clock: { intervalMs: 200, bootMs: Date.now() },
      telemetry: modelTelemetry({ keyOf: (id) => DEFAULT_SEED + (droneNumber(id, DRONES) ?? 0) }),
      lockTtlMs: 15_000,
      now: Date.now,
      logger,
      faults: resolveFaults({}, isDrone, DRONES),
      onLockSeen: () => undefined,
      auth: 'none',
      operational: () => ({ read: () => Promise.resolve({ flight: 'grounded', battery: 100, mission: null }) }),
      trustedKeys,
    });
    const server = await serve(createRequestHandler({ resolve: (path) => drones.resolve(path), logger }), {
      port: 0,
      host: '127.0.0.1',
    });
    fleet = { url: server.url, drones, server };
    const inventory = join(work.path, 'fleet.yaml');
    await writeInventory(
      inventory,
      Array.from({ length: DRONES }, (_, index) => ({
        id: `drone-${index + 1}`,
        url: `${server.url}/d/drone-${index + 1}`,
        labels: { group: 'patrol' },
      })),
    );
    return inventory;
  }

  async function health(id: string): Promise<Health> {
    return (await (await fetch(`${fleet!.url}/d/${id}/v1/health`)).json()) as Health;
  }

  async function rollout(
    name: string,
    inventory: string,
    keyFile?: string,
    extra: readonly string[] = [],
  ): Promise<RolloutReport> {
    const spec = join(work.path, `${name}.yaml`);
    await writeFile(
      spec,
      [
        `name: ${name}`,
        'config:',
        `  file: ${FILE}`,
        `  source: ${await shippedConfig(work.path)}`,
        ...(keyFile === undefined ? [] : [`  sign: { key_file: ${keyFile} }`]),
        `fleet: { inventory: ${inventory} }`,
        'canary: { drones: 2, bake: 0s }',
        'waves: [{ percent: 100, bake: 0s }]',
        'push: { concurrency: 1, timeout: 5s, retries: 0 }',
        ...extra,
      ].join('\n'),
    );
    const running = await runRollout({
      plan: await loadPlan(spec),
      locks,
      store,
      owner: { host: hostname(), pid: process.pid, bootId: 'test-boot', user: 'tester' },
      specDigest: 'test',
      logger: pino({ level: 'silent' }),
      observer: silentObserver,
    });
    return running.done;
  }

  async function expectFleetUnchanged(): Promise<void> {
    for (let n = 1; n <= DRONES; n += 1) {
      const state = await health(`drone-${n}`);
      expect(state.configs[FILE], `drone-${n}`).toMatchObject({ version: SIM_INITIAL_VERSION, fence: 0 });
    }
  }

  it('is promoted on drones that trust its key, one of two during a rotation', async () => {
    const old = await keyPair('old');
    const next = await keyPair('next');
    const inventory = await startFleet([old.publicKey, next.publicKey]);
    expect((await health('drone-1')).features).toContain('signed_config');

    const report = await rollout('signed', inventory, next.keyFile);

    expect(report.result, report.reason).toBe('promoted');
    for (let n = 1; n <= DRONES; n += 1)
      expect((await health(`drone-${n}`)).configs[FILE]?.version).toBe(report.config.version);
  });

  it('whose key the drones do not trust stops at the first refusal, "signature refused", and changes no drone', async () => {
    const trusted = await keyPair('trusted');
    const stranger = await keyPair('stranger');
    const inventory = await startFleet([trusted.publicKey]);

    const report = await rollout('untrusted', inventory, stranger.keyFile);

    // Nothing landed, so nothing was rolled back: the rollout ends with the fleet unchanged, never HOT.
    expect(report.result, report.reason).toBe('unchanged');
    expect(report.hot).toEqual([]);
    expect(report.reason).toMatch(
      /^1 drone failed while pushing canary \(max_push_failures 0\); last: drone-1: bad_signature: signature refused by drone-1: the push of aim_lock_config\.conf \S+ by rollout untrusted-\S+ is signed by key "[0-9a-f]{16}", which this drone does not trust/,
    );
    expect(report.reason).not.toMatch(/token/);
    for (const state of Object.values(report.drones)) expect(state.state).toBe('unchanged');
    await expectFleetUnchanged();
  });

  it('counts each refused signature against abort.max_push_failures, as a refused push', async () => {
    const trusted = await keyPair('trusted');
    const stranger = await keyPair('stranger');
    const inventory = await startFleet([trusted.publicKey]);

    const report = await rollout('budget', inventory, stranger.keyFile, ['abort: { max_push_failures: 1 }']);

    expect(report.result).toBe('unchanged');
    expect(report.reason).toMatch(
      /^2 drones failed while pushing canary \(max_push_failures 1\); last: drone-2: bad_signature: signature refused by drone-2: /,
    );
    await expectFleetUnchanged();
  });

  it('that does not sign is refused by drones that trust keys', async () => {
    const trusted = await keyPair('trusted');
    const inventory = await startFleet([trusted.publicKey]);

    const report = await rollout('unsigned', inventory);

    expect(report.result).toBe('unchanged');
    expect(report.reason).toMatch(/signature refused by drone-1: .* is not signed/);
    await expectFleetUnchanged();
  });
});
