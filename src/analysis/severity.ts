import type { IntervalVerdict } from '../rollout/machine-types.js';

/** One metric's verdict in one interval: within its limits, above or below them, or not enough data. */
export type MetricVerdict = 'pass' | 'high' | 'low' | 'nodata';

/** Interval verdicts from the mildest to the most severe. */
export const SEVERITY_ORDER: readonly IntervalVerdict[] = ['pass', 'inconclusive', 'fail'];

/** The more severe of two verdicts: fail beats inconclusive beats pass. */
export function worst(a: IntervalVerdict, b: IntervalVerdict): IntervalVerdict {
  return SEVERITY_ORDER.indexOf(a) >= SEVERITY_ORDER.indexOf(b) ? a : b;
}

/** The interval verdict a score earns: at least `passScore` passes, at least `marginalScore` is inconclusive. */
export function verdictOfScore(score: number, passScore: number, marginalScore: number): IntervalVerdict {
  if (score >= passScore) return 'pass';
  return score >= marginalScore ? 'inconclusive' : 'fail';
}
