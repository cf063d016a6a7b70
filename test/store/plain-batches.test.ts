import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  auditBatchSchema,
  checkInput,
  isPlainAuditBatch,
  isPlainProgressBatch,
  progressBatchSchema,
} from '../../src/store/record-schemas.js';

const REF = { version: 'v43', sha256: 'b'.repeat(64) };
const PROGRESS = { before: null, now: REF, pauseSent: true, pushSent: true, rolledBack: false, lastError: null };

describe('plain checks of the batches a rollout writes', () => {
  it('take the usual progress and audit batches as they are, uncopied', () => {
    const progress = { 'drone-1': PROGRESS, 'drone-2': { ...PROGRESS, lastError: 'timeout', deferred: { until: 1 } } };
    const audit = [
      { t: 1, kind: 'push', drone: 'drone-1', ok: true },
      { t: 2, kind: 'transition' },
    ];

    expect(checkInput(progressBatchSchema, progress, 'changes', isPlainProgressBatch)).toBe(progress);
    expect(checkInput(auditBatchSchema, audit, 'events', isPlainAuditBatch)).toBe(audit);
  });

  it('leave what is wrong to the schema, which names it', () => {
    expect(() =>
      checkInput(progressBatchSchema, { 'drone-1': { ...PROGRESS, pushSent: 'yes' } }, 'changes', isPlainProgressBatch),
    ).toThrow(/`changes` to be valid: .*pushSent/);
    expect(() => checkInput(auditBatchSchema, [{ t: 1, kind: '' }], 'events', isPlainAuditBatch)).toThrow(
      /`events` to be valid/,
    );
  });

  it('leave a batch with a `__proto__` key to the schema, which leaves the key out, as a read always did', () => {
    const record = JSON.stringify(PROGRESS);
    for (const text of [
      `{"__proto__":${record},"drone-2":${record}}`,
      `{"drone-2":${record.replace('"now":{', '"now":{"__proto__":"x",')}}`,
      `{"drone-2":${record.replace('{', '{"__proto__":{"x":1},')}}`,
    ]) {
      const batch: unknown = JSON.parse(text);
      expect(isPlainProgressBatch(batch)).toBe(false);
      const read = checkInput(progressBatchSchema, batch, 'changes', isPlainProgressBatch);
      expect(Object.keys(read)).toEqual(['drone-2']);
      expect(JSON.stringify(read)).not.toContain('__proto__');
    }
    expect(isPlainAuditBatch(JSON.parse('[{"t":1,"kind":"push","__proto__":{"x":1}}]'))).toBe(false);
  });

  it('never pass a batch their schema refuses', () => {
    const value = fc.oneof(
      fc.constantFrom(null, true, false, '', 'v42', 0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY),
      fc.constant(REF),
      fc.constant([]),
      fc.record({ version: fc.constantFrom('v1', 1, null), sha256: fc.constantFrom('a', 2) }, { requiredKeys: [] }),
    );
    const progress = fc.record(
      { before: value, now: value, pauseSent: value, pushSent: value, rolledBack: value, lastError: value },
      { requiredKeys: [] },
    );
    const event = fc.record({ t: value, kind: value, drone: value }, { requiredKeys: [] });
    fc.assert(
      fc.property(
        fc.oneof(value, fc.dictionary(fc.constantFrom('', 'd1', 'd2'), fc.oneof(value, progress))),
        (batch) => {
          if (isPlainProgressBatch(batch)) expect(progressBatchSchema.safeParse(batch).success).toBe(true);
        },
      ),
      { numRuns: 2_000 },
    );
    fc.assert(
      fc.property(fc.oneof(value, fc.array(fc.oneof(value, event))), (batch) => {
        if (isPlainAuditBatch(batch)) expect(auditBatchSchema.safeParse(batch).success).toBe(true);
      }),
      { numRuns: 2_000 },
    );
  });
});
