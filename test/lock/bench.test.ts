import { describe, expect, it } from 'vitest';
import { benchEmbeddedLock } from '../../bench/lock.js';
import { makeStateDir } from './temp-dir.js';

describe('benchEmbeddedLock', () => {
  it('reports p50 and p95 of acquire and release in milliseconds', async () => {
    const { dir, remove } = await makeStateDir();
    try {
      const result = await benchEmbeddedLock(dir, 20);
      for (const summary of [result.acquireMs, result.releaseMs]) {
        expect(summary.p50).toBeGreaterThan(0);
        expect(summary.p95).toBeGreaterThanOrEqual(summary.p50);
      }
      await expect(benchEmbeddedLock(dir, 0)).rejects.toThrow(/`rounds`/);
    } finally {
      await remove();
    }
  });
});
