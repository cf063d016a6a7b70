import type { MetricSpec } from '../spec/types.js';
import type { IntervalVerdict } from '../machine/types.js';

/** Samples of one interval, per metric, pooled over the drones of each group. */
export type MetricSamples = Readonly<Record<string, readonly number[]>>;

export interface MetricJudgement {
  readonly metric: string;
  readonly verdict: IntervalVerdict;
  readonly canarySamples: number;
  readonly baselineSamples: number;
  readonly canaryMedian: number | null;
  readonly baselineMedian: number | null;
  /** Why this verdict: the limit broken, or what was missing. */
  readonly detail: string;
}

export interface IntervalJudgement {
  readonly verdict: IntervalVerdict;
  readonly metrics: readonly MetricJudgement[];
}

export interface JudgeInput {
  readonly metrics: readonly MetricSpec[];
  readonly minSamples: number;
  readonly canary: MetricSamples;
  readonly baseline: MetricSamples;
  /** Baseline medians from an earlier interval, used when no baseline drone is left (the last wave). */
  readonly baselineFallback: Readonly<Record<string, number>>;
}

const SEVERITY: Readonly<Record<IntervalVerdict, number>> = { pass: 0, inconclusive: 1, fail: 2 };

/** The more severe of two verdicts: fail beats inconclusive beats pass. */
export function worst(a: IntervalVerdict, b: IntervalVerdict): IntervalVerdict {
  return SEVERITY[a] >= SEVERITY[b] ? a : b;
}

export function median(values: readonly number[]): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((x, y) => x - y);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

function percent(fraction: number): string {
  return `${Math.round(fraction * 1000) / 10}%`;
}

function format(value: number): string {
  return Number(value.toPrecision(4)).toString();
}

/** The limits a metric breaks, given the canary's and (if known) the baseline's medians. */
function brokenLimits(metric: MetricSpec, canary: number, baseline: number | null): string[] {
  const broken: string[] = [];
  if (metric.max !== undefined && canary > metric.max) broken.push(`median ${format(canary)} > max ${format(metric.max)}`);
  if (metric.min !== undefined && canary < metric.min) broken.push(`median ${format(canary)} < min ${format(metric.min)}`);
  if (baseline !== null && baseline !== 0) {
    const change = (canary - baseline) / Math.abs(baseline);
    if (metric.maxIncrease !== undefined && change > metric.maxIncrease) {
      broken.push(`+${percent(change)} vs baseline ${format(baseline)} > max_increase ${percent(metric.maxIncrease)}`);
    }
    if (metric.maxDecrease !== undefined && -change > metric.maxDecrease) {
      broken.push(`-${percent(-change)} vs baseline ${format(baseline)} > max_decrease ${percent(metric.maxDecrease)}`);
    }
  }
  return broken;
}

function judgeMetric(metric: MetricSpec, input: JudgeInput): MetricJudgement {
  const canary = input.canary[metric.name] ?? [];
  const baseline = input.baseline[metric.name] ?? [];
  const canaryMedian = median(canary);
  const baselineMedian = baseline.length >= input.minSamples ? median(baseline) : (input.baselineFallback[metric.name] ?? null);
  const base = { metric: metric.name, canarySamples: canary.length, baselineSamples: baseline.length, canaryMedian, baselineMedian };
  if (canaryMedian === null || canary.length < input.minSamples) {
    return { ...base, verdict: 'inconclusive', detail: `${canary.length} canary samples, need ${input.minSamples}` };
  }
  const relative = metric.maxIncrease !== undefined || metric.maxDecrease !== undefined;
  const broken = brokenLimits(metric, canaryMedian, baselineMedian);
  if (broken.length > 0) return { ...base, verdict: 'fail', detail: broken.join('; ') };
  if (relative && baselineMedian === null) {
    return { ...base, verdict: 'inconclusive', detail: `no baseline to compare with (${baseline.length} samples)` };
  }
  return { ...base, verdict: 'pass', detail: `median ${format(canaryMedian)} within limits` };
}

/** Judges one analysis interval: each metric on its own, the interval as the worst of them. */
export function judgeInterval(input: JudgeInput): IntervalJudgement {
  const metrics = input.metrics.map((metric) => judgeMetric(metric, input));
  const verdict = metrics.reduce<IntervalVerdict>((acc, m) => worst(acc, m.verdict), 'pass');
  return { verdict, metrics };
}

/** One line for logs and progress: the metrics that decided the verdict, or all if it passed. */
export function summarize(judgement: IntervalJudgement): string {
  const shown = judgement.verdict === 'pass' ? judgement.metrics : judgement.metrics.filter((m) => m.verdict === judgement.verdict);
  if (shown.length === 0) return 'no metrics configured';
  return shown.map((m) => `${m.metric}: ${m.detail}`).join('; ');
}
