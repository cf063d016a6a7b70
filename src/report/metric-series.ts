import type { AuditEvent } from '../store/types.js';

/** One analysis interval of one metric: canary against baseline, the limits it was held to, its verdict. */
export interface MetricPoint {
  readonly step: string;
  readonly interval: number;
  readonly verdict: string;
  readonly canaryMedian: number | null;
  readonly baselineMedian: number | null;
  readonly pValue: number | null;
  /** The canary median may not go above `upper` or below `lower` (absolute or relative to the baseline). */
  readonly upper: number | null;
  readonly lower: number | null;
  readonly detail: string;
}

export interface MetricSeries {
  readonly metric: string;
  readonly points: readonly MetricPoint[];
}

/** One judged interval, as the analysis recorded it (without its samples). */
export interface IntervalRecord {
  readonly t: number;
  readonly step: string;
  readonly interval: number;
  readonly verdict: string;
  readonly score: number | null;
  readonly reason: string;
  readonly metrics: readonly JudgedMetric[];
}

interface JudgedMetric {
  readonly metric: string;
  readonly verdict: string;
  readonly canaryMedian: number | null;
  readonly baselineMedian: number | null;
  readonly pValue: number | null;
  readonly detail: string;
  readonly thresholds: {
    readonly max?: number;
    readonly min?: number;
    readonly maxIncrease?: number;
    readonly maxDecrease?: number;
  };
}

function numberOrNull(value: unknown): number | null {
  return typeof value === 'number' && Number.isFinite(value) ? value : null;
}

function judgedMetric(value: unknown): JudgedMetric | null {
  if (value === null || typeof value !== 'object') return null;
  const m = value as Record<string, unknown>;
  if (typeof m.metric !== 'string') return null;
  const t = (m.thresholds ?? {}) as Record<string, unknown>;
  const thresholds: Record<string, number> = {};
  for (const key of ['max', 'min', 'maxIncrease', 'maxDecrease']) {
    const n = numberOrNull(t[key]);
    if (n !== null) thresholds[key] = n;
  }
  return {
    metric: m.metric,
    verdict: typeof m.verdict === 'string' ? m.verdict : 'unknown',
    canaryMedian: numberOrNull(m.canaryMedian),
    baselineMedian: numberOrNull(m.baselineMedian),
    pValue: numberOrNull(m.pValue),
    detail: typeof m.detail === 'string' ? m.detail : '',
    thresholds,
  };
}

/** The judged intervals in the audit log (`judgement` events), oldest first, without their samples. */
export function intervalRecords(audit: readonly AuditEvent[]): IntervalRecord[] {
  return audit
    .filter((event) => event.kind === 'judgement' && typeof event.step === 'string')
    .map((event) => ({
      t: event.t,
      step: event.step as string,
      interval: numberOrNull(event.interval) ?? 0,
      verdict: typeof event.verdict === 'string' ? event.verdict : 'unknown',
      score: numberOrNull(event.score),
      reason: typeof event.reason === 'string' ? event.reason : '',
      metrics: (Array.isArray(event.metrics) ? event.metrics : [])
        .map(judgedMetric)
        .filter((m): m is JudgedMetric => m !== null),
    }));
}

/** The tightest of the limits given; null when there is none. */
function tightest(limits: readonly (number | null)[], pick: (a: number, b: number) => number): number | null {
  const given = limits.filter((n): n is number => n !== null);
  return given.length === 0 ? null : given.reduce((a, b) => pick(a, b));
}

function limitsOf(m: JudgedMetric): { upper: number | null; lower: number | null } {
  const { max, min, maxIncrease, maxDecrease } = m.thresholds;
  const base = m.baselineMedian;
  const relative = (share: number | undefined, sign: 1 | -1) =>
    share === undefined || base === null ? null : base + sign * Math.abs(base) * share;
  return {
    upper: tightest([max ?? null, relative(maxIncrease, 1)], Math.min),
    lower: tightest([min ?? null, relative(maxDecrease, -1)], Math.max),
  };
}

/** Per metric, every interval it was judged in, in the order judged: what the charts draw. */
export function metricSeries(intervals: readonly IntervalRecord[]): MetricSeries[] {
  const byMetric = new Map<string, MetricPoint[]>();
  for (const record of intervals) {
    for (const m of record.metrics) {
      const points = byMetric.get(m.metric) ?? [];
      points.push({
        step: record.step,
        interval: record.interval,
        verdict: m.verdict,
        canaryMedian: m.canaryMedian,
        baselineMedian: m.baselineMedian,
        pValue: m.pValue,
        ...limitsOf(m),
        detail: m.detail,
      });
      byMetric.set(m.metric, points);
    }
  }
  return [...byMetric].map(([metric, points]) => ({ metric, points }));
}
