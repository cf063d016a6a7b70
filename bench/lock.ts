import { performance } from 'node:perf_hooks';
import { assertPositiveInteger } from '../src/infra/argument-checks.js';
import { createEmbeddedLockStore } from '../src/lock/embedded/store.js';
import { hostIdentity } from '../src/infra/host.js';
import type { LockStore } from '../src/lock/types.js';

export interface LatencySummary {
  readonly p50: number;
  readonly p95: number;
}

export interface LockBench {
  readonly acquireMs: LatencySummary;
  readonly releaseMs: LatencySummary;
}

/**
 * Times `rounds` uncontended acquire/release pairs on an embedded store in `dir` (each one a critical
 * section, an fsync and a rename), in milliseconds.
 */
export async function benchEmbeddedLock(dir: string, rounds: number): Promise<LockBench> {
  assertPositiveInteger('rounds', rounds);
  return benchLockStore(createEmbeddedLockStore({ dir }), rounds, `bench.conf in ${dir}`);
}

/** Times `rounds` uncontended acquire/release pairs of `bench.conf` on `store`, and closes it. */
export async function benchLockStore(store: LockStore, rounds: number, where: string): Promise<LockBench> {
  const owner = { ...hostIdentity(), pid: process.pid, rollout: 'bench' };
  const acquireMs: number[] = [];
  const releaseMs: number[] = [];
  try {
    for (let round = 0; round < rounds; round += 1) {
      const started = performance.now();
      const result = await store.acquire('bench.conf', owner, { ttlMs: 10_000, waitMs: 0 });
      const acquired = performance.now();
      if (!result.acquired) {
        throw new Error(`lock bench: ${where} is held by rollout ${result.holder.owner.rollout}`);
      }
      await store.release(result.lease);
      releaseMs.push(performance.now() - acquired);
      acquireMs.push(acquired - started);
    }
  } finally {
    await store.close();
  }
  return { acquireMs: summarize(acquireMs), releaseMs: summarize(releaseMs) };
}

/** Nearest-rank percentiles, rounded to microseconds. */
export function summarize(samples: number[]): LatencySummary {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (quantile: number): number => {
    const value = sorted[Math.min(sorted.length - 1, Math.ceil(quantile * sorted.length) - 1)] ?? 0;
    return Math.round(value * 1000) / 1000;
  };
  return { p50: at(0.5), p95: at(0.95) };
}
