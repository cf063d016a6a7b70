import { describe, expect, it } from 'vitest';
import type { RolloutRuntime } from '../../src/rollout/context.js';
import { verifyPromotion } from '../../src/rollout/effects/verify.js';
import { Ledger } from '../../src/rollout/ledger.js';
import { fleetOf } from '../helpers/spec.js';

const NEW = { version: 'v43', sha256: 'b'.repeat(64) };
const OLD = { version: 'v42', sha256: 'a'.repeat(64) };

describe('verifyPromotion with trial configs', () => {
  it('counts a drone whose confirm went unanswered as not updated: it reverts at its deadline', async () => {
    const ledger = new Ledger();
    Object.assign(ledger.edit('d1'), { pushSent: true, now: NEW });
    Object.assign(ledger.edit('d2'), { pushSent: true, now: NEW, unconfirmed: true });
    Object.assign(ledger.edit('d3'), { pushSent: true, now: OLD, autoReverted: true });
    const runtime = { plan: { config: NEW, drones: fleetOf(3) }, ledger } as unknown as RolloutRuntime;

    expect(await verifyPromotion(runtime)).toEqual({ incomplete: ['d2', 'd3'] });
    expect(ledger.stateOf('d3', NEW.sha256, new Set(['d2', 'd3']))).toBe('auto_reverted');
    expect(ledger.stateOf('d2', NEW.sha256, new Set(['d2', 'd3']))).toBe('failed');
  });
});
