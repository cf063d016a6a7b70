import type { IntervalVerdict } from '../rollout/machine-types.js';
import type { MetricSpec, RolloutSpec } from '../spec/types.js';
import { sortedFinite, sortedMedian } from './mann-whitney.js';
import { judgeMetric, num, type MetricJudgement } from './metric-judge.js';
import { verdictOfScore, worst, type MetricVerdict } from './severity.js';

export { worst, type MetricVerdict } from './severity.js';
export {
  comparisonOf,
  judgeMetric,
  type Comparison,
  type MetricJudgement,
  type MetricThresholds,
} from './metric-judge.js';

/** Samples of one interval, per metric, pooled over the drones of each group. */
export type MetricSamples = Readonly<Record<string, ArrayLike<number>>>;

/** The analysis-wide settings of the judge, as in the spec's `analysis` section. */
export interface JudgeSettings {
  /** Samples each side needs before a verdict (`min_samples`). */
  readonly minSamples: number;
  /** Confidence level of comparisons whose metric sets none. @default 0.98 */
  readonly confidence?: number;
  /** An interval scoring at least this (0-100) passes. @default 95 */
  readonly passScore?: number;
  /** An interval scoring at least this, below `passScore`, is inconclusive; lower fails. @default 75 */
  readonly marginalScore?: number;
  /** Fewer canary drones reporting a metric than this: the metric has no data. @default 1 */
  readonly minReportingDrones?: number;
}

export const JUDGE_DEFAULTS = { confidence: 0.98, passScore: 95, marginalScore: 75, minReportingDrones: 1 } as const;

export interface JudgeInput extends JudgeSettings {
  readonly metrics: readonly MetricSpec[];
  readonly canary: MetricSamples;
  readonly baseline: MetricSamples;
  /** Canary drones that reported each metric; a metric missing here had none. Leave out to not count drones. */
  readonly canaryDrones?: Readonly<Record<string, number>>;
}

export interface IntervalJudgement {
  readonly verdict: IntervalVerdict;
  /** Weighted share (0-100) of passing metrics among those scored; null when none could be scored. */
  readonly score: number | null;
  readonly passScore: number;
  readonly marginalScore: number;
  /** Why the interval got its verdict: a critical failure, the score, or missing data. */
  readonly reason: string;
  readonly metrics: readonly MetricJudgement[];
}

export function median(values: ArrayLike<number>): number | null {
  return sortedMedian(sortedFinite(values));
}

/** Whether a metric's verdict counts as a failure, given its no-data policy. */
export function isFailing(metric: Pick<MetricJudgement, 'verdict' | 'nodata'>): boolean {
  return (
    metric.verdict === 'high' || metric.verdict === 'low' || (metric.verdict === 'nodata' && metric.nodata === 'fail')
  );
}

/**
 * Judges one analysis interval. Each metric is judged on its own (see `judgeMetric`); the interval's
 * score is the weighted share of passing metrics among those acted on (dry-run metrics are not) and
 * with data (no-data metrics count as failing under `nodata: fail` and are left out otherwise).
 * A failing critical metric fails the interval; otherwise the score decides (pass ≥ passScore,
 * inconclusive ≥ marginalScore, else fail), and a no-data metric under `nodata: inconclusive` keeps
 * the interval from passing. Pure: no I/O, no clock.
 */
export function judgeInterval(input: JudgeInput): IntervalJudgement {
  const passScore = input.passScore ?? JUDGE_DEFAULTS.passScore;
  const marginalScore = input.marginalScore ?? JUDGE_DEFAULTS.marginalScore;
  const settings = {
    minSamples: input.minSamples,
    confidence: input.confidence ?? JUDGE_DEFAULTS.confidence,
    minReportingDrones: input.minReportingDrones ?? JUDGE_DEFAULTS.minReportingDrones,
  };
  const metrics = input.metrics.map((metric) =>
    judgeMetric(
      metric,
      {
        canary: input.canary[metric.name] ?? [],
        baseline: input.baseline[metric.name] ?? [],
        ...(input.canaryDrones === undefined ? {} : { canaryDrones: input.canaryDrones[metric.name] ?? 0 }),
      },
      settings,
    ),
  );
  return { ...scoreInterval(metrics, passScore, marginalScore), passScore, marginalScore, metrics };
}

/** Judges one interval with a spec's `analysis` settings: what the rollout and `rollout replay` both do. */
export function judgeWithSpec(
  analysis: RolloutSpec['analysis'],
  samples: {
    readonly canary: MetricSamples;
    readonly baseline: MetricSamples;
    readonly canaryDrones: Readonly<Record<string, number>>;
  },
): IntervalJudgement {
  return judgeInterval({
    metrics: analysis.metrics,
    minSamples: analysis.minSamples,
    confidence: analysis.confidence,
    passScore: analysis.passScore,
    marginalScore: analysis.marginalScore,
    minReportingDrones: analysis.minReportingDrones,
    ...samples,
  });
}

function scoreInterval(
  metrics: readonly MetricJudgement[],
  passScore: number,
  marginalScore: number,
): { readonly verdict: IntervalVerdict; readonly score: number | null; readonly reason: string } {
  const acted = metrics.filter((m) => !m.dryRun);
  const scored = acted.filter((m) => m.verdict !== 'nodata' || m.nodata === 'fail');
  const total = scored.reduce((sum, m) => sum + m.weight, 0);
  const passing = scored.reduce((sum, m) => sum + (m.verdict === 'pass' ? m.weight : 0), 0);
  const score = total > 0 ? (100 * passing) / total : null;
  const criticalFailures = acted.filter((m) => m.critical && isFailing(m));
  if (criticalFailures.length > 0) {
    return { verdict: 'fail', score, reason: `critical ${criticalFailures.map((m) => m.metric).join(', ')} failed` };
  }
  if (acted.length === 0) {
    return {
      verdict: 'pass',
      score,
      reason: metrics.length === 0 ? 'no metrics configured' : 'every metric is a dry run',
    };
  }
  const waiting = acted.filter((m) => m.verdict === 'nodata' && m.nodata === 'inconclusive');
  const noData = waiting.length > 0 ? `, no data for ${waiting.map((m) => m.metric).join(', ')}` : '';
  if (score === null) return { verdict: 'inconclusive', score, reason: `nothing to score${noData}` };
  const byScore = verdictOfScore(score, passScore, marginalScore);
  const verdict = worst(byScore, waiting.length > 0 ? 'inconclusive' : 'pass');
  const against =
    byScore === 'pass'
      ? `≥ ${num(passScore)}`
      : byScore === 'inconclusive'
        ? `< ${num(passScore)}`
        : `< ${num(marginalScore)}`;
  return { verdict, score, reason: `score ${num(score)} ${against}${noData}` };
}

const SHOWN: Readonly<Record<IntervalVerdict, readonly MetricVerdict[]>> = {
  pass: ['pass', 'high', 'low', 'nodata'],
  inconclusive: ['high', 'low', 'nodata'],
  fail: ['high', 'low', 'nodata'],
};

/**
 * One line for logs, progress and the audit trail (the verdict itself travels beside it): the verdict's
 * reason, then the metrics that decided it (every metric when it passed), then dry-run metrics that would
 * have failed.
 */
export function summarize(judgement: IntervalJudgement): string {
  const acted = judgement.metrics.filter((m) => !m.dryRun && SHOWN[judgement.verdict].includes(m.verdict));
  const dryRuns = judgement.metrics.filter((m) => m.dryRun && isFailing(m));
  const parts = [
    ...acted.map((m) => `${m.metric} ${m.verdict}: ${m.detail}`),
    ...dryRuns.map((m) => `${m.metric} would have failed (dry run, ${m.verdict}): ${m.detail}`),
  ];
  return [judgement.reason, ...parts].join('; ');
}
