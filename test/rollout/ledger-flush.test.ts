import pino from 'pino';
import { describe, expect, it } from 'vitest';
import type { DroneClient, DroneReply } from '../../src/fleet/drone-client.js';
import type { PauseBody, PushBody, RollbackBody } from '../../src/protocol/v1.js';
import type { RolloutRuntime } from '../../src/rollout/context.js';
import { pauseFleet } from '../../src/rollout/effects/pause.js';
import { pushDrones } from '../../src/rollout/effects/push.js';
import { rollBack } from '../../src/rollout/effects/rollback.js';
import { Ledger } from '../../src/rollout/ledger.js';
import { fleetOf, specWithDefaults } from '../helpers/spec.js';

const FILE = 'app.conf';
const OLD = { version: 'v42', sha256: 'a'.repeat(64) };
const NEW = { version: 'v43', sha256: 'b'.repeat(64) };

/**
 * One request held in flight until the test answers it: the state store's periodic flush (the runner's
 * `ledger.takeChanged()`, every second) falls between a drone's request and its answer, as it does for a
 * drone that answers slowly.
 */
class HeldRequest<T> {
  #answer: ((reply: DroneReply<T>) => void) | undefined;
  readonly #sent: Promise<void>;
  #markSent: () => void = () => undefined;

  constructor() {
    this.#sent = new Promise((resolve) => (this.#markSent = resolve));
  }

  send(): Promise<DroneReply<T>> {
    this.#markSent();
    return new Promise((resolve) => (this.#answer = resolve));
  }

  async answer(body: T): Promise<void> {
    await this.#sent;
    this.#answer?.({ ok: true, body });
  }

  get sent(): Promise<void> {
    return this.#sent;
  }
}

function runtimeWith(client: Partial<DroneClient>, bakeMs = 0): { runtime: RolloutRuntime; ledger: Ledger } {
  const ledger = new Ledger();
  const drones = fleetOf(1);
  const runtime = {
    rolloutId: 'r1',
    plan: {
      spec: specWithDefaults({ config: { file: FILE, source: '/a/app.conf', validate: [] } }),
      config: { file: FILE, content: 'new', ...NEW },
      drones,
      steps: [{ name: 'canary', drones: drones.map((drone) => drone.id), bakeMs }],
    },
    client: client as DroneClient,
    ledger,
    recorder: { audit: () => undefined, flush: async () => undefined, flushOrLog: async () => undefined },
    logger: pino({ level: 'silent' }),
    observer: { progress: () => undefined },
    now: () => 0,
    drones: new Map(drones.map((drone) => [drone.id, drone])),
    configSeq: new Map(),
  } as unknown as RolloutRuntime;
  return { runtime, ledger };
}

const never = new AbortController().signal;
const fenced = { fence: 7, mayWrite: () => true };

describe('a drone answer that arrives after the store flushed its request', () => {
  it('a pause: the version the drone answered with reaches the next flush', async () => {
    const held = new HeldRequest<PauseBody>();
    const { runtime, ledger } = runtimeWith({ pause: () => held.send() });
    const pausing = pauseFleet(runtime, never);
    await held.sent;
    expect(ledger.takeChanged().d1).toMatchObject({ pauseSent: true, before: null });

    await held.answer({ state: 'paused', configs: { [FILE]: { ...OLD, lock: 'free', fence: 3 } } });
    expect(await pausing).toMatchObject({ hot: [], highestFence: 3 });
    expect(ledger.takeChanged().d1).toMatchObject({ pauseSent: true, before: OLD, now: OLD });
  });

  it('a push: the drone is on the new config in the next flush, not only pushed', async () => {
    const held = new HeldRequest<PushBody>();
    const { runtime, ledger } = runtimeWith({ push: () => held.send() });
    const pushing = pushDrones(runtime, fleetOf(1), { ...fenced, label: 'canary' }, never);
    await held.sent;
    expect(ledger.takeChanged().d1).toMatchObject({ pushSent: true, now: null });

    await held.answer({ ...NEW, previous: OLD });
    expect((await pushing).pushed.map((drone) => drone.id)).toEqual(['d1']);
    expect(ledger.takeChanged().d1).toMatchObject({ pushSent: true, before: OLD, now: NEW, lastError: null });
  });

  it('a rollback: the drone is back on its old config in the next flush', async () => {
    const held = new HeldRequest<RollbackBody>();
    const { runtime, ledger } = runtimeWith({ rollback: () => held.send() });
    Object.assign(ledger.edit('d1'), { pushSent: true, before: OLD, now: NEW });
    ledger.takeChanged();
    const rolling = rollBack(runtime, fenced, never);
    await held.sent;
    expect(ledger.hasChanged).toBe(false);

    await held.answer({ ...OLD });
    await rolling;
    expect(ledger.takeChanged().d1).toMatchObject({ rolledBack: true, now: OLD });
  });

  it("a push's telemetry seq is kept for the analysis of a bake, and not kept without one", async () => {
    for (const bakeMs of [0, 5_000]) {
      const held = new HeldRequest<PushBody>();
      const { runtime } = runtimeWith({ push: () => held.send() }, bakeMs);
      const pushing = pushDrones(runtime, fleetOf(1), { ...fenced, label: 'canary' }, never);
      await held.answer({ ...NEW, previous: OLD, seq: 41 });
      await pushing;
      expect([...runtime.configSeq]).toEqual(bakeMs === 0 ? [] : [['d1', 41]]);
    }
  });
});
