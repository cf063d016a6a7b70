import type { Threshold } from './types.js';

/** The largest count a threshold allows out of `total` drones. */
export function allowed(threshold: Threshold, total: number): number {
  return threshold.kind === 'count' ? threshold.value : Math.floor((threshold.value / 100) * total);
}

export function describeThreshold(threshold: Threshold): string {
  return threshold.kind === 'count' ? String(threshold.value) : `${threshold.value}%`;
}
