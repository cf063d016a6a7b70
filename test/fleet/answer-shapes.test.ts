import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { plainAnswer } from '../../src/fleet/answer-shapes.js';
import { pauseBodySchema, pushBodySchema, rollbackBodySchema } from '../../src/protocol/v1.js';

const REF = { version: 'v43', sha256: 'b'.repeat(64) };
const CONFIGS = { 'aim_lock_config.conf': { ...REF, lock: 'free', fence: 7 } };

describe('plain checks of the per-drone answers', () => {
  it('pass the usual pause, resume, push and rollback answers as they are', () => {
    const pause = { state: 'paused', configs: CONFIGS, holds: [{ rollout: 'r', expiresInMs: 1000 }], lapsed: [] };
    const push = { ...REF, previous: { version: 'v42', sha256: 'a'.repeat(64) }, seq: 12 };
    const rollback = { version: 'v42', sha256: 'a'.repeat(64), restored: true, seq: 13 };

    expect(plainAnswer(pauseBodySchema, pause)).toBe(pause);
    expect(plainAnswer(pauseBodySchema, { state: 'active' })).toEqual({ state: 'active' });
    expect(plainAnswer(pushBodySchema, push)).toBe(push);
    expect(plainAnswer(rollbackBodySchema, rollback)).toBe(rollback);
  });

  it('leave to the schema what is unusual or wrong: a trial, a lapsed hold, a bad lock, a fence as text', () => {
    expect(plainAnswer(pushBodySchema, { ...REF, previous: null, trial: { rollout: 'r', expiresInMs: 5 } })).toBe(
      undefined,
    );
    expect(plainAnswer(pauseBodySchema, { state: 'paused', lapsed: [{ rollout: 'r', at: 1 }] })).toBeUndefined();
    expect(plainAnswer(pauseBodySchema, { state: 'paused', configs: { f: { ...REF, lock: 'hot', fence: 1 } } })).toBe(
      undefined,
    );
    expect(
      plainAnswer(pauseBodySchema, { state: 'paused', configs: { f: { ...REF, lock: 'free', fence: '1' } } }),
    ).toBe(undefined);
  });

  it('never pass an answer its zod schema refuses', () => {
    const value = fc.oneof(
      fc.constantFrom('active', 'paused', 'free', 'HOT', 'v42', null, true, -1, 0, 1.5, 7),
      fc.constant(REF),
    );
    const configState = fc.record(
      { version: value, sha256: value, lock: value, fence: value, trial: value },
      { requiredKeys: [] },
    );
    const answer = fc.record(
      {
        state: value,
        configs: fc.oneof(value, fc.dictionary(fc.constantFrom('a', 'b'), configState)),
        holds: fc.oneof(value, fc.array(fc.record({ rollout: value, expiresInMs: value }, { requiredKeys: [] }))),
        lapsed: fc.oneof(value, fc.array(value)),
        version: value,
        sha256: value,
        previous: value,
        seq: value,
        restored: value,
      },
      { requiredKeys: [] },
    );
    fc.assert(
      fc.property(answer, (body) => {
        if (plainAnswer(pauseBodySchema, body) !== undefined)
          expect(pauseBodySchema.safeParse(body).success).toBe(true);
        if (plainAnswer(pushBodySchema, body) !== undefined) expect(pushBodySchema.safeParse(body).success).toBe(true);
        if (plainAnswer(rollbackBodySchema, body) !== undefined)
          expect(rollbackBodySchema.safeParse(body).success).toBe(true);
      }),
      { numRuns: 2_000 },
    );
  });
});
