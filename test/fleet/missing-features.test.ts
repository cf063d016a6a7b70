import { describe, expect, it } from 'vitest';
import { missingFeatures, type DroneCheck } from '../../src/fleet/preflight.js';
import type { Plan } from '../../src/spec/types.js';
import { specWithDefaults } from '../helpers/spec.js';

function planWith(pauseFleet: boolean): Plan {
  const spec = specWithDefaults();
  return {
    specPath: '/a/x.yaml',
    spec: { ...spec, pause: { ...spec.pause, fleet: pauseFleet } },
    config: { file: 'app.conf', sourcePath: '/a/app.conf', content: '', sha256: '0'.repeat(64), version: 'v1' },
    drones: [],
    steps: [],
  };
}

const current = (id: string): DroneCheck => ({ id, state: 'active', features: ['pause_hold', 'trial_config'] });
const older = (id: string): DroneCheck => ({ id, state: 'active', features: [] });
const unreachable = (id: string): DroneCheck => ({ id, error: 'connect ECONNREFUSED' });

describe('missingFeatures', () => {
  it('names the drones whose agent predates pause holds, when the rollout pauses the fleet', () => {
    const checks = [current('drone-1'), older('drone-2'), unreachable('drone-3'), older('drone-4')];
    expect(missingFeatures(planWith(true), checks)).toEqual([
      'drone-2, drone-4 run agents without pause holds that lapse: if this rollout dies, such a drone stays paused until `rollout resume`',
    ]);
    expect(missingFeatures(planWith(true), [older('drone-9')])).toEqual([
      'drone-9 runs an agent without pause holds that lapse: if this rollout dies, such a drone stays paused until `rollout resume`',
    ]);
  });

  it('says nothing when every reachable agent has them, or the rollout does not pause', () => {
    expect(missingFeatures(planWith(true), [current('drone-1'), unreachable('drone-2')])).toEqual([]);
    expect(missingFeatures(planWith(false), [older('drone-1')])).toEqual([]);
  });
});
