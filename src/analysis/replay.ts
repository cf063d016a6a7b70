import type { RolloutSpec } from '../spec/types.js';
import { judgeWithSpec, summarize, type MetricSamples } from './judge.js';
import type { IntervalVerdict } from '../rollout/machine-types.js';

/** The telemetry an analysis interval was judged on, as the audit log keeps it. */
export interface RecordedInterval {
  readonly step: string;
  readonly interval: number;
  readonly verdict: IntervalVerdict;
  readonly samples: {
    readonly canary: Readonly<Record<string, readonly number[]>>;
    readonly baseline: Readonly<Record<string, readonly number[]>>;
    readonly canaryDrones: Readonly<Record<string, number>>;
  };
}

export interface ReplayedInterval {
  readonly step: string;
  readonly interval: number;
  readonly recorded: IntervalVerdict;
  readonly replayed: IntervalVerdict;
  readonly summary: string;
}

export interface ReplayResult {
  readonly intervals: readonly ReplayedInterval[];
  /** Where the replayed judge would have rolled the rollout back, if anywhere. */
  readonly rollbackAt: { readonly step: string; readonly interval: number; readonly why: string } | null;
}

/** Values kept to 6 significant digits: plenty for a judge, a third of the bytes in the audit log. */
export function compactSamples(samples: MetricSamples): Record<string, number[]> {
  return Object.fromEntries(
    Object.entries(samples).map(([metric, values]) => [metric, Array.from(values, (v) => Number(v.toPrecision(6)))]),
  );
}

/**
 * Re-judges recorded intervals with another spec's analysis settings, and replays the rollout's rules
 * on the verdicts: more failed intervals in a step than `failure_limit`, or a step none of whose
 * intervals passed, would have rolled it back. Only the intervals the rollout ran can be replayed: a
 * rollout that ended early has no telemetry for its later steps. Pure: the caller reads the audit log.
 */
export function replayIntervals(
  recorded: readonly RecordedInterval[],
  analysis: RolloutSpec['analysis'],
): ReplayResult {
  const intervals: ReplayedInterval[] = [];
  let rollbackAt: ReplayResult['rollbackAt'] = null;
  const byStep = new Map<string, { failed: number; passed: number; last: ReplayedInterval | undefined }>();
  for (const record of recorded) {
    const judgement = judgeWithSpec(analysis, record.samples);
    const replayed: ReplayedInterval = {
      step: record.step,
      interval: record.interval,
      recorded: record.verdict,
      replayed: judgement.verdict,
      summary: summarize(judgement),
    };
    intervals.push(replayed);
    const step = byStep.get(record.step) ?? { failed: 0, passed: 0, last: undefined };
    byStep.set(record.step, step);
    step.last = replayed;
    if (judgement.verdict === 'fail') step.failed += 1;
    if (judgement.verdict === 'pass') step.passed += 1;
    if (rollbackAt === null && step.failed > analysis.failureLimit) {
      rollbackAt = {
        step: record.step,
        interval: record.interval,
        why: `${step.failed} failed intervals > failure_limit ${analysis.failureLimit}`,
      };
    }
  }
  if (rollbackAt === null) {
    for (const [name, step] of byStep) {
      if (step.passed === 0 && step.last && analysis.inconclusive === 'rollback') {
        rollbackAt = { step: name, interval: step.last.interval, why: 'no interval of the step passed' };
        break;
      }
    }
  }
  return { intervals, rollbackAt };
}
