import { describe, expect, it } from 'vitest';
import { benchStateStore } from '../../bench/store.js';
import { makeStateDir } from './temp-dir.js';

describe('benchStateStore', () => {
  it('persists a 1,000-drone rollout and keeps the audit log under 2 KB per drone', async () => {
    const { dir, remove } = await makeStateDir();
    try {
      const result = await benchStateStore(dir, 1_000);
      expect(result.transitions).toBe(40);
      expect(result.totalMs).toBeGreaterThan(0);
      expect(result.perTransitionMs).toBeCloseTo(result.totalMs / result.transitions, 1);
      expect(result.auditBytesPerDrone).toBeLessThan(2_048);
      await expect(benchStateStore(dir, 0)).rejects.toThrow(/`drones`/);
    } finally {
      await remove();
    }
  });
});
