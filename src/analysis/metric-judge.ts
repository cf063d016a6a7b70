import type { MetricDirection, MetricSpec, NoDataPolicy } from '../spec/types.js';
import { mannWhitneySorted, sortedFinite, sortedMedian, type MannWhitneyResult } from './mann-whitney.js';
import type { MetricVerdict } from './severity.js';

/** What one metric is judged with, besides its own spec. */
export interface MetricSettings {
  /** Samples each side needs: fewer canary samples is no data; fewer baseline samples is no baseline. */
  readonly minSamples: number;
  /** Confidence level of comparisons whose metric sets none. */
  readonly confidence: number;
  /** Fewer canary drones reporting the metric than this is no data. */
  readonly minReportingDrones: number;
}

/** One metric's samples in one interval. */
export interface MetricInput {
  readonly canary: ArrayLike<number>;
  readonly baseline: ArrayLike<number>;
  /** Canary drones that gave at least one sample of the metric; leave out when not counted. */
  readonly canaryDrones?: number;
}

/** The statistical comparison of a metric, with its defaults applied. */
export interface Comparison {
  readonly direction: MetricDirection;
  readonly confidence: number;
  readonly allowedIncrease?: number;
  readonly allowedDecrease?: number;
}

/** Every limit a metric was judged against, defaults applied; the keys the spec did not give are absent. */
export interface MetricThresholds {
  readonly max?: number;
  readonly min?: number;
  readonly maxIncrease?: number;
  readonly maxDecrease?: number;
  readonly comparison?: Comparison;
}

/** One metric's verdict in one interval, with everything it was decided from (this is what gets logged). */
export interface MetricJudgement {
  readonly metric: string;
  readonly verdict: MetricVerdict;
  readonly critical: boolean;
  readonly weight: number;
  readonly nodata: NoDataPolicy;
  readonly dryRun: boolean;
  readonly canarySamples: number;
  readonly baselineSamples: number;
  /** Canary drones reporting the metric; null when not counted. */
  readonly canaryDrones: number | null;
  readonly canaryMedian: number | null;
  readonly baselineMedian: number | null;
  /** Effect size: the relative median change (canary − baseline) / |baseline|; null without one (or from 0). */
  readonly effect: number | null;
  /** Mann-Whitney U of the canary against the baseline; null when not compared. */
  readonly u: number | null;
  /** Two-sided p-value of that comparison. */
  readonly pValue: number | null;
  readonly test: MannWhitneyResult['method'] | null;
  readonly thresholds: MetricThresholds;
  /** Why this verdict, in words: the limits broken, the comparison, or what was missing. */
  readonly detail: string;
}

/** The comparison a metric asks for: on when it sets a direction, a tolerance or a confidence level. */
export function comparisonOf(metric: MetricSpec, defaultConfidence: number): Comparison | undefined {
  const { direction, allowedIncrease, allowedDecrease, confidence } = metric;
  if ([direction, allowedIncrease, allowedDecrease, confidence].every((key) => key === undefined)) return undefined;
  return {
    direction: direction ?? 'either',
    confidence: confidence ?? defaultConfidence,
    ...(allowedIncrease === undefined ? {} : { allowedIncrease }),
    ...(allowedDecrease === undefined ? {} : { allowedDecrease }),
  };
}

interface Finding {
  readonly side: 'high' | 'low';
  readonly text: string;
}

/**
 * Judges one metric in one interval. Absolute limits (`max`, `min`) apply to the canary's median,
 * relative ones (`max_increase`, `max_decrease`) to its change against the baseline's median, and the
 * comparison flags a shift of the whole distribution that is significant at the confidence level
 * (two-sided, as Kayenta's judge) in a direction that counts and larger than its tolerance.
 * A metric breaking limits both ways is `high`: that keeps a rising canary from ever turning `high` to `pass`.
 */
export function judgeMetric(metric: MetricSpec, input: MetricInput, settings: MetricSettings): MetricJudgement {
  const canary = sortedFinite(input.canary);
  const baseline = sortedFinite(input.baseline);
  const comparison = comparisonOf(metric, settings.confidence);
  const thresholds: MetricThresholds = {
    ...pick(metric),
    ...(comparison === undefined ? {} : { comparison }),
  };
  const canaryDrones = input.canaryDrones ?? null;
  const canaryMedian = sortedMedian(canary);
  const hasBaseline = baseline.length >= settings.minSamples && baseline.length > 0;
  const baselineMedian = hasBaseline ? sortedMedian(baseline) : null;
  const change = canaryMedian === null || baselineMedian === null ? null : relativeChange(canaryMedian, baselineMedian);
  const judged = {
    metric: metric.name,
    critical: metric.critical ?? false,
    weight: metric.weight ?? 1,
    nodata: metric.nodata ?? 'inconclusive',
    dryRun: metric.dryRun ?? false,
    canarySamples: canary.length,
    baselineSamples: baseline.length,
    canaryDrones,
    canaryMedian,
    baselineMedian,
    effect: change !== null && Number.isFinite(change) ? change : null,
    u: null,
    pValue: null,
    test: null,
    thresholds,
  };

  if (canaryMedian === null || canary.length < settings.minSamples) {
    return { ...judged, verdict: 'nodata', detail: `${canary.length} canary samples, need ${settings.minSamples}` };
  }
  if (canaryDrones !== null && canaryDrones < settings.minReportingDrones) {
    const detail = `${canaryDrones} canary drones reporting, need ${settings.minReportingDrones}`;
    return { ...judged, verdict: 'nodata', detail };
  }

  const findings = [...absoluteFindings(metric, canaryMedian)];
  if (change !== null && baselineMedian !== null) findings.push(...relativeFindings(metric, change, baselineMedian));
  const test = comparison !== undefined && hasBaseline ? mannWhitneySorted(canary, baseline) : undefined;
  const tested = test === undefined ? {} : { u: test.u, pValue: test.pValue, test: test.method };
  let comparisonNote = '';
  if (test !== undefined && comparison !== undefined && change !== null && baselineMedian !== null) {
    const shift = compare(comparison, test, change, baselineMedian);
    if ('finding' in shift) findings.push(shift.finding);
    else comparisonNote = shift.note;
  }

  const verdict = findings.some((f) => f.side === 'high') ? 'high' : findings.length > 0 ? 'low' : 'pass';
  if (verdict !== 'pass') {
    return { ...judged, ...tested, verdict, detail: findings.map((f) => f.text).join('; ') };
  }
  const needsBaseline =
    comparison !== undefined || metric.maxIncrease !== undefined || metric.maxDecrease !== undefined;
  if (needsBaseline && baselineMedian === null) {
    const detail = `no baseline to compare with (${baseline.length} samples, need ${settings.minSamples})`;
    return { ...judged, verdict: 'nodata', detail };
  }
  const versus =
    baselineMedian === null || change === null ? '' : ` vs baseline ${num(baselineMedian)} (${signed(change)})`;
  const detail = `median ${num(canaryMedian)}${versus} within limits${comparisonNote}`;
  return { ...judged, ...tested, verdict, detail };
}

function pick(metric: MetricSpec): MetricThresholds {
  const { max, min, maxIncrease, maxDecrease } = metric;
  return {
    ...(max === undefined ? {} : { max }),
    ...(min === undefined ? {} : { min }),
    ...(maxIncrease === undefined ? {} : { maxIncrease }),
    ...(maxDecrease === undefined ? {} : { maxDecrease }),
  };
}

/** (canary − baseline) / |baseline|; from a baseline of 0 any change is infinitely large. */
export function relativeChange(canary: number, baseline: number): number {
  if (baseline === 0) return canary === 0 ? 0 : canary > 0 ? Number.POSITIVE_INFINITY : Number.NEGATIVE_INFINITY;
  return (canary - baseline) / Math.abs(baseline);
}

function absoluteFindings(metric: MetricSpec, median: number): Finding[] {
  const findings: Finding[] = [];
  if (metric.max !== undefined && median > metric.max) {
    findings.push({ side: 'high', text: `median ${num(median)} > max ${num(metric.max)}` });
  }
  if (metric.min !== undefined && median < metric.min) {
    findings.push({ side: 'low', text: `median ${num(median)} < min ${num(metric.min)}` });
  }
  return findings;
}

function relativeFindings(metric: MetricSpec, change: number, baselineMedian: number): Finding[] {
  const findings: Finding[] = [];
  if (metric.maxIncrease !== undefined && change > metric.maxIncrease) {
    findings.push({
      side: 'high',
      text: `${signed(change)} vs baseline ${num(baselineMedian)} > max_increase ${pct(metric.maxIncrease)}`,
    });
  }
  if (metric.maxDecrease !== undefined && -change > metric.maxDecrease) {
    findings.push({
      side: 'low',
      text: `${signed(change)} vs baseline ${num(baselineMedian)} > max_decrease ${pct(metric.maxDecrease)}`,
    });
  }
  return findings;
}

/**
 * The comparison's finding: a significant shift (p below 1 − confidence) the way U points, if that
 * direction counts and the median moved more than the tolerance allows; otherwise a note for the detail.
 */
function compare(
  comparison: Comparison,
  test: MannWhitneyResult,
  change: number,
  baselineMedian: number,
): { readonly finding: Finding } | { readonly note: string } {
  const alpha = 1 - comparison.confidence;
  const evidence = `p=${pValue(test.pValue)}, U=${num(test.u)}`;
  if (!(test.pValue < alpha) || test.u === test.uMean) return { note: `, no significant shift (${evidence})` };
  const side = test.u > test.uMean ? 'high' : 'low';
  const counts =
    comparison.direction === 'either' || comparison.direction === (side === 'high' ? 'increase' : 'decrease');
  const word = side === 'high' ? 'higher' : 'lower';
  if (!counts) return { note: `, significantly ${word} but only ${comparison.direction} counts (${evidence})` };
  const allowed = side === 'high' ? comparison.allowedIncrease : comparison.allowedDecrease;
  const key = side === 'high' ? 'allowed_increase' : 'allowed_decrease';
  const beyond = side === 'high' ? change : -change;
  const text = `significantly ${word} than baseline ${num(baselineMedian)} (${signed(change)}, ${evidence} < ${pValue(alpha)})`;
  if (allowed === undefined) return { finding: { side, text } };
  if (beyond > allowed) return { finding: { side, text: `${text} > ${key} ${pct(allowed)}` } };
  return { note: `, significantly ${word} (${evidence}) but within ${key} ${pct(allowed)}` };
}

/** A value as people read it: 4 significant digits, no trailing zeros. */
export function num(value: number): string {
  return Number(value.toPrecision(4)).toString();
}

/** A fraction as a percentage: 0.25 → 25%. */
export function pct(fraction: number): string {
  return `${Math.round(fraction * 1000) / 10}%`;
}

/** A relative change with its sign: +85%, -3.2%, or "+∞% (from 0)". */
export function signed(change: number): string {
  if (!Number.isFinite(change)) return `${change > 0 ? '+' : '-'}∞% (from 0)`;
  return change >= 0 ? `+${pct(change)}` : `-${pct(-change)}`;
}

/** A p-value: two significant digits, scientific below 0.001. */
export function pValue(p: number): string {
  return p < 0.001 ? p.toExponential(1) : Number(p.toPrecision(2)).toString();
}
