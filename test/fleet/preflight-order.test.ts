import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { preflight } from '../../src/fleet/preflight.js';
import { startFleetSim, type RunningFleet } from '../../src/simulator/fleet-sim.js';
import type { Plan } from '../../src/spec/types.js';
import { specWithDefaults } from '../helpers/spec.js';

let fleet: RunningFleet | undefined;
afterEach(async () => {
  await fleet?.close();
  fleet = undefined;
});

describe('preflight', () => {
  it('lists its checks and HOT drones in the inventory order, whichever drone answers first', async () => {
    // drone-1 and drone-3 answer last; drone-3 and drone-4 are HOT.
    fleet = await startFleetSim({
      drones: 4,
      slow: ['drone-1', 'drone-3'],
      slowMs: 300,
      hot: ['drone-4', 'drone-3'],
      logger: pino({ level: 'silent' }),
    });
    const spec = specWithDefaults({ push: { concurrency: 4, timeoutMs: 5_000, retries: 0 } });
    const plan = {
      specPath: '/a/x.yaml',
      spec: { ...spec, config: { ...spec.config, file: 'aim_lock_config.conf' } },
      config: { file: 'aim_lock_config.conf', content: 'x\n', version: 'v43', sha256: 'b'.repeat(64) },
      drones: fleet.drones,
      steps: [],
    } as unknown as Plan;

    const found = await preflight(plan, undefined);

    expect(found.checks.map((check) => check.id)).toEqual(['drone-1', 'drone-2', 'drone-3', 'drone-4']);
    expect(found.hot).toEqual(['drone-3', 'drone-4']);
  });
});
