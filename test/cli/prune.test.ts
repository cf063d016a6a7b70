import { describe, expect, it } from 'vitest';
import { parsePruneRule, selectPrunable } from '../../src/cli/prune.js';
import type { RolloutRecord } from '../../src/store/types.js';
import { sampleRecord, START } from '../store/conformance.js';

const DAY = 86_400_000;

function ended(id: string, daysAgo: number): RolloutRecord {
  return {
    ...sampleRecord(id, START - daysAgo * DAY - 60_000),
    result: 'promoted',
    ended: START - daysAgo * DAY,
    stage: 'ended',
  };
}

describe('parsePruneRule', () => {
  it('reads an age with a unit up to days, or a count of rollouts to keep', () => {
    expect(parsePruneRule('30d')).toEqual({ kind: 'age', ms: 30 * DAY });
    expect(parsePruneRule('12h')).toEqual({ kind: 'age', ms: 12 * 3_600_000 });
    expect(parsePruneRule('500ms')).toEqual({ kind: 'age', ms: 500 });
    expect(parsePruneRule('50')).toEqual({ kind: 'count', keep: 50 });
    expect(parsePruneRule('0')).toEqual({ kind: 'count', keep: 0 });
  });

  it('refuses anything else', () => {
    for (const text of ['', '30 d', '-5', '1.5d', '3w', 'd', '30D']) expect(parsePruneRule(text)).toBeUndefined();
  });
});

describe('selectPrunable', () => {
  const running = sampleRecord('running', START - 90 * DAY);
  const gone = { ...sampleRecord('gone', START - 90 * DAY), stage: 'canary: baking' };
  const records = [ended('d1', 1), running, ended('d40', 40), gone, ended('d31', 31), ended('d10', 10)];

  it('by age: only ended rollouts that ended longer ago than the age, never running or gone ones', () => {
    expect(selectPrunable(records, { kind: 'age', ms: 30 * DAY }, START).map((r) => r.id)).toEqual(['d31', 'd40']);
    expect(selectPrunable(records, { kind: 'age', ms: 90 * DAY }, START)).toEqual([]);
  });

  it('by count: keeps the newest ended ones by end time; running and gone ones neither go nor count', () => {
    expect(selectPrunable(records, { kind: 'count', keep: 2 }, START).map((r) => r.id)).toEqual(['d31', 'd40']);
    expect(selectPrunable(records, { kind: 'count', keep: 0 }, START).map((r) => r.id)).toEqual([
      'd1',
      'd10',
      'd31',
      'd40',
    ]);
    expect(selectPrunable(records, { kind: 'count', keep: 4 }, START)).toEqual([]);
  });
});
