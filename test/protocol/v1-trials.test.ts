import { describe, expect, test } from 'vitest';
import {
  confirmBodySchema,
  confirmPath,
  confirmRequestSchema,
  healthBodySchema,
  MAX_TRIAL_MS,
  pushBodySchema,
  pushRequestSchema,
  telemetryBodySchema,
} from '../../src/protocol/v1.js';

/* Trial configs on the wire: new members are optional, so the answers of older agents still read. */

const SHA = 'a'.repeat(64);
const PUSH = { rollout: 'r-1', version: 'v43', sha256: SHA, fence: 2, content: 'x = 1\n' };
const CONFIG = { version: 'v43', sha256: SHA, lock: 'free', fence: 2 };

describe('requests', () => {
  test('a push may ask for a trial of 1 ms up to a day; without trialMs it is no trial', () => {
    expect(pushRequestSchema.parse(PUSH)).toEqual(PUSH);
    expect(pushRequestSchema.parse({ ...PUSH, trialMs: 120_000 }).trialMs).toBe(120_000);
    expect(pushRequestSchema.safeParse({ ...PUSH, trialMs: MAX_TRIAL_MS }).success).toBe(true);
    for (const trialMs of [0, -1, 2.5, MAX_TRIAL_MS + 1, '2m', null])
      expect(pushRequestSchema.safeParse({ ...PUSH, trialMs }).success, String(trialMs)).toBe(false);
  });

  test('a confirm names the rollout, its fence and the sha256 of the config it keeps', () => {
    const request = { rollout: 'r-1', fence: 2, sha256: SHA };
    expect(confirmRequestSchema.parse(request)).toEqual(request);
    expect(confirmRequestSchema.safeParse({ rollout: 'r-1', fence: 2 }).success).toBe(false);
    expect(confirmRequestSchema.safeParse({ ...request, fence: 0 }).success).toBe(false);
    expect(confirmPath('a b.conf')).toBe('/v1/configs/a%20b.conf/confirm');
  });
});

describe('answers', () => {
  test('configs carry trial and reverted when the agent has them, and read without them', () => {
    const trial = { ...CONFIG, trial: { rollout: 'r-1', expiresInMs: 0 } };
    const reverted = { ...CONFIG, reverted: { version: 'v44', sha256: SHA, rollout: 'r-1', at: 1_700_000_000_000 } };
    const older = { id: 'drone-1', state: 'active', configs: { 'a.conf': CONFIG } };

    expect(healthBodySchema.parse({ ...older, configs: { 'a.conf': trial, 'b.conf': reverted } }).configs).toEqual({
      'a.conf': trial,
      'b.conf': reverted,
    });
    expect(healthBodySchema.parse(older).configs).toEqual({ 'a.conf': CONFIG });
    expect(telemetryBodySchema.safeParse({ samples: [], next: 0, configs: { 'a.conf': trial } }).success).toBe(true);
    expect(
      healthBodySchema.safeParse({ ...older, configs: { 'a.conf': { ...CONFIG, trial: { rollout: 'r-1' } } } }).success,
    ).toBe(false);
  });

  test('a push answer says the trial when the drone took one; an older agent sends none', () => {
    const answer = { version: 'v43', sha256: SHA, previous: null, seq: 3 };
    expect(pushBodySchema.parse({ ...answer, trial: { rollout: 'r-1', expiresInMs: 120_000 } }).trial).toEqual({
      rollout: 'r-1',
      expiresInMs: 120_000,
    });
    expect(pushBodySchema.parse(answer).trial).toBeUndefined();
  });

  test('a confirm answer is the config kept, confirmed', () => {
    expect(confirmBodySchema.parse({ version: 'v43', sha256: SHA, confirmed: true })).toEqual({
      version: 'v43',
      sha256: SHA,
      confirmed: true,
    });
    expect(confirmBodySchema.safeParse({ version: 'v43', sha256: SHA, confirmed: false }).success).toBe(false);
  });
});
