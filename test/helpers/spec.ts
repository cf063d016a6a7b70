import { expect } from 'vitest';
import { SpecError, validateSpecText } from '../../src/spec/index.js';
import type { Drone, RolloutSpec } from '../../src/spec/types.js';

/** `analysis` as validation fills it in when a spec sets none of its keys. */
export const DEFAULT_ANALYSIS: RolloutSpec['analysis'] = {
  intervalMs: 5_000,
  minSamples: 3,
  failureLimit: 1,
  metrics: [],
  confidence: 0.98,
  passScore: 95,
  marginalScore: 75,
  minReportingDrones: 1,
  inconclusive: 'rollback',
};

/**
 * A validated spec that sets only its name, config, fleet and a canary of one drone: every other key at
 * its default. Each override replaces a whole section.
 */
export function specWithDefaults(overrides: Partial<RolloutSpec> = {}): RolloutSpec {
  return {
    name: 'x',
    config: { file: 'app.conf', source: '/a/app.conf', validate: [] },
    fleet: { inventory: '/a/fleet.yaml', mixedVersions: 'refuse' },
    pause: { fleet: true, timeoutMs: 30_000, holdMs: 120_000 },
    lock: { ttlMs: 15_000, waitMs: 0 },
    canary: { drones: 1, bakeMs: 30_000, approval: 'auto', random: false },
    analysis: DEFAULT_ANALYSIS,
    waves: [{ percent: 100, bakeMs: 0 }],
    push: { concurrency: 32, timeoutMs: 5_000, retries: 2 },
    abort: { maxPushFailures: { kind: 'count', value: 0 }, maxUnreachable: { kind: 'percent', value: 10 } },
    providers: {},
    webhooks: [],
    notify: [],
    ...overrides,
  };
}

/** Drones d1 to d`count` behind the simulator's address, labelled by `labels`. */
export function fleetOf(count: number, labels: (index: number) => Record<string, string> = () => ({})): Drone[] {
  return Array.from({ length: count }, (_, index) => ({
    id: `d${index + 1}`,
    url: `http://127.0.0.1:7100/d/d${index + 1}`,
    labels: labels(index),
  }));
}

/** The file the spec texts below claim to be, as their errors name it; their paths resolve against /base. */
export const SPEC_FILE = 'rollouts/x.yaml';

/** A valid spec text; a test swaps one part to break it, or adds `rest` from line 5 on. */
export function specText(parts: { config?: string; canary?: string; rest?: string } = {}): string {
  return [
    'name: x',
    parts.config ?? 'config: { file: app.conf, source: app.conf }',
    'fleet: { inventory: fleet.yaml }',
    parts.canary ?? 'canary: { drones: 1 }',
    parts.rest ?? '',
  ].join('\n');
}

/** The error lines validation reports for a spec text; fails the test when the text is valid. */
export function specErrors(text: string): string[] {
  try {
    validateSpecText(text, SPEC_FILE, '/base');
  } catch (error) {
    expect(error).toBeInstanceOf(SpecError);
    return (error as SpecError).message.split('\n');
  }
  throw new Error('expected the spec to be invalid');
}
