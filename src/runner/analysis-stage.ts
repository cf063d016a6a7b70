import { judgeInterval, summarize } from '../analysis/judge.js';
import { forEachDrone } from '../fleet/for-each-drone.js';
import type { AnalysisOutcome } from '../machine/types.js';
import { dronesOf, spread, type RolloutRuntime } from './context.js';

/** Drones read per group and interval: enough for a median, bounded for a 10,000-drone wave. */
const SAMPLED_DRONES = 32;

/**
 * Reads telemetry from the step's canary drones and from baseline drones (targeted, not yet pushed) and
 * judges the interval. Only samples taken after the step's push count.
 */
export class AnalysisStage {
  readonly #runtime: RolloutRuntime;
  readonly #cursors = new Map<string, number>();
  /** Baseline medians of the latest interval that had a baseline, for steps that have none left. */
  #fallback: Record<string, number> = {};
  #pushedAt = 0;

  constructor(runtime: RolloutRuntime) {
    this.#runtime = runtime;
  }

  /** Samples older than this are from before the push and never judged as canary or baseline. */
  markPushed(): void {
    this.#pushedAt = this.#runtime.now();
  }

  async analyse(input: { readonly stepIndex: number; readonly interval: number }, signal: AbortSignal): Promise<AnalysisOutcome> {
    const { plan, ledger } = this.#runtime;
    const step = plan.steps[input.stepIndex];
    if (!step) throw new RangeError(`step ${input.stepIndex} is not in the plan`);
    const canaryIds = spread(step.drones.filter((id) => ledger.get(id).now?.sha256 === plan.config.sha256), SAMPLED_DRONES);
    const baselineIds = spread(
      plan.drones.map((d) => d.id).filter((id) => !ledger.get(id).pushSent),
      SAMPLED_DRONES,
    );
    const canary = new Map<string, number[]>();
    const baseline = new Map<string, number[]>();
    const hot: string[] = [];
    const unreachable: string[] = [];
    const groups = [
      ...canaryIds.map((id) => ({ id, into: canary })),
      ...baselineIds.map((id) => ({ id, into: baseline })),
    ];
    const into = new Map(groups.map((g) => [g.id, g.into]));
    await forEachDrone(dronesOf(this.#runtime, groups.map((g) => g.id)), { concurrency: plan.spec.push.concurrency, signal }, async (drone, s) => {
      const reply = await this.#runtime.client.telemetry(drone, this.#cursors.get(drone.id) ?? 0, s);
      if (!reply.ok) {
        if (reply.kind === 'hot') hot.push(drone.id);
        else if (reply.kind !== 'cancelled') unreachable.push(drone.id);
        return reply.kind === 'hot' ? 'stop' : 'continue';
      }
      if (reply.body.configs?.[plan.config.file]?.lock === 'HOT') {
        hot.push(drone.id);
        return 'stop';
      }
      this.#cursors.set(drone.id, reply.body.next);
      const pool = into.get(drone.id) as Map<string, number[]>;
      for (const sample of reply.body.samples) {
        if (sample.t < this.#pushedAt) continue;
        for (const [metric, value] of Object.entries(sample.metrics)) {
          let values = pool.get(metric);
          if (!values) pool.set(metric, (values = []));
          values.push(value);
        }
      }
      return 'continue';
    });
    if (hot.length > 0) return { hot, verdict: 'fail', summary: `HOT lock mismatch on ${hot.join(', ')}` };

    const judgement = judgeInterval({
      metrics: plan.spec.analysis.metrics,
      minSamples: plan.spec.analysis.minSamples,
      canary: Object.fromEntries(canary),
      baseline: Object.fromEntries(baseline),
      baselineFallback: this.#fallback,
    });
    const baselineMedians = judgement.metrics.filter((m) => m.baselineSamples > 0 && m.baselineMedian !== null);
    if (baselineMedians.length > 0) {
      this.#fallback = { ...this.#fallback, ...Object.fromEntries(baselineMedians.map((m) => [m.metric, m.baselineMedian as number])) };
    }
    const summary = summarize(judgement) + (unreachable.length > 0 ? ` (${unreachable.length} drones gave no telemetry)` : '');
    this.#runtime.logger.info(
      { step: step.name, interval: input.interval + 1, verdict: judgement.verdict, metrics: judgement.metrics, canaryDrones: canaryIds.length, baselineDrones: baselineIds.length },
      'analysis interval judged',
    );
    return { hot: [], verdict: judgement.verdict, summary };
  }
}
