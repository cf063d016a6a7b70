import { describe, expect, it } from 'vitest';
import { Ledger } from '../../src/rollout/ledger.js';
import type { RolloutOutput } from '../../src/rollout/machine-types.js';
import { buildReport, FULL_DRONE_LIST_MAX } from '../../src/rollout/report.js';
import type { Plan } from '../../src/spec/types.js';

const OLD = { version: 'v42', sha256: 'a'.repeat(64) };
const NEW = { version: 'v43', sha256: 'b'.repeat(64) };

/** A plan of `size` drones, as far as the report reads it. */
function planOf(size: number): Plan {
  const drones = Array.from({ length: size }, (_, i) => ({
    id: `drone-${i + 1}`,
    url: 'http://127.0.0.1',
    labels: {},
  }));
  return {
    spec: { name: 'aim-v43' },
    config: { file: 'aim_lock_config.conf', ...NEW },
    drones,
  } as unknown as Plan;
}

/** Every drone paused on OLD; the first `pushed` drones took NEW; `rolledBack` of those went back. */
function ledgerOf(size: number, pushed: number, rolledBack = 0): Ledger {
  const ledger = new Ledger();
  for (let i = 1; i <= size; i += 1) {
    const progress = ledger.edit(`drone-${i}`);
    progress.before = progress.now = ledger.ref(OLD.version, OLD.sha256);
    if (i <= pushed) {
      progress.pushSent = true;
      progress.now = ledger.ref(NEW.version, NEW.sha256);
    }
    if (i <= rolledBack) {
      progress.rolledBack = true;
      progress.now = ledger.ref(OLD.version, OLD.sha256);
    }
  }
  return ledger;
}

function output(result: RolloutOutput['result'], hot: string[] = []): RolloutOutput {
  return { result, reason: 'because', hot, attention: [], verdicts: [] };
}

describe('the JSON report', () => {
  it(`lists every drone up to ${FULL_DRONE_LIST_MAX} drones, with no summary`, () => {
    const report = buildReport({
      id: 'r',
      plan: planOf(3),
      ledger: ledgerOf(3, 3),
      output: output('promoted'),
      started: 0,
      ended: 1,
    });

    expect(report.drones).toEqual({
      'drone-1': { state: 'updated', version: 'v43' },
      'drone-2': { state: 'updated', version: 'v43' },
      'drone-3': { state: 'updated', version: 'v43' },
    });
    expect(report.droneSummary).toBeUndefined();
  });

  it('above that, counts every drone and lists only the drones outside the common outcome', () => {
    const size = FULL_DRONE_LIST_MAX + 5;
    // An abort in the last wave: all but the last 3 drones pushed and rolled back.
    const report = buildReport({
      id: 'r',
      plan: planOf(size),
      ledger: ledgerOf(size, size - 3, size - 3),
      output: output('aborted_hot', [`drone-${size - 2}`]),
      started: 0,
      ended: 1,
    });

    expect(report.droneSummary).toEqual({
      total: size,
      states: { rolled_back: size - 3, unchanged: 3 },
      versions: { v42: size },
      common: { state: 'rolled_back', version: 'v42', drones: size - 3 },
    });
    expect(report.drones).toEqual({
      [`drone-${size - 2}`]: { state: 'unchanged', version: 'v42' },
      [`drone-${size - 1}`]: { state: 'unchanged', version: 'v42' },
      [`drone-${size}`]: { state: 'unchanged', version: 'v42' },
    });
    expect(report.hot).toEqual([`drone-${size - 2}`]);
    expect(JSON.stringify(report).length).toBeLessThan(2_000);
  });
});

describe('Ledger.ref', () => {
  it('hands out one frozen VersionRef per version and sha256, however many drones answered it', () => {
    const ledger = new Ledger();
    const a = ledger.ref('v43', NEW.sha256);
    const b = ledger.ref('v43', `${NEW.sha256.slice(0, 10)}${NEW.sha256.slice(10)}`);

    expect(a).toBe(b);
    expect(Object.isFrozen(a)).toBe(true);
    expect(ledger.ref('v43', OLD.sha256)).not.toBe(a);
    expect(ledger.refOf(null)).toBeNull();
  });
});
