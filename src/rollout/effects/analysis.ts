import { baselineDrones } from '../../analysis/baseline-drones.js';
import { compactSamples } from '../../analysis/replay.js';
import { judgeWithSpec, summarize, type IntervalJudgement, type MetricSamples } from '../../analysis/judge.js';
import { SamplePool } from '../../analysis/sample-pool.js';
import { providerMetrics, readProviderMetrics, type ProviderMetric } from '../../signals/metric-providers.js';
import { forEachDrone, SAMPLED_DRONES, spread } from '../../fleet/for-each-drone.js';
import { isHot, type TelemetryBody, type TelemetrySample } from '../../protocol/v1.js';
import type { AnalysisOutcome } from '../machine-types.js';
import type { PlanStep } from '../../spec/types.js';
import { dronesOf, type RolloutRuntime } from '../context.js';
import { fleetVersions, offVersionDrones } from './fleet-versions.js';

/** Where an interval's baseline samples of a metric came from, best first. */
export type BaselineSource = 'baseline drones' | 'pre-push' | 'earlier baseline' | 'none';

/** What `capturePrePush` kept for a step. */
export interface PrePushCapture {
  readonly step: string;
  /** Drones asked (up to 32 of the step's drones not pushed yet). */
  readonly drones: number;
  /** Drones that gave samples in the window. */
  readonly reporting: number;
  /** Values kept, over every metric. */
  readonly values: number;
  /** Drones that answered HOT: the push that follows will meet them too. */
  readonly hot: readonly string[];
  readonly unreachable: readonly string[];
}

interface GroupRead {
  readonly hot: string[];
  readonly unreachable: string[];
}

/**
 * Reads telemetry from the step's canary drones and from baseline drones (targeted, not pushed yet) and
 * judges each interval. Only samples taken after the step's push count as canary or live baseline. When
 * no baseline drone gives enough samples (the last wave has none left), the step's own drones' samples
 * from just before their push stand in (see `capturePrePush`), then the latest live baseline seen.
 */
export class AnalysisStage {
  readonly #runtime: RolloutRuntime;
  readonly #cursors = new Map<string, number>();
  /** Per step index: samples the step's drones gave before their push. */
  readonly #prePush = new Map<number, { readonly pool: SamplePool; readonly capture: PrePushCapture }>();
  /** Per metric: the latest live baseline samples with enough values, for steps that have nothing better. */
  #earlierBaseline = new Map<string, readonly number[]>();
  #pushedAt = 0;
  /** Drones an adopted mixed fleet left on a third version, from the versions seen before the first push. */
  #offVersion: ReadonlySet<string> | undefined;

  /** Metrics read from a provider (Prometheus), not from the drones' telemetry. */
  readonly #providerMetrics: readonly ProviderMetric[];

  constructor(runtime: RolloutRuntime) {
    this.#runtime = runtime;
    this.#providerMetrics = providerMetrics(runtime.plan);
  }

  #pool(): SamplePool {
    return new SamplePool(new Set(this.#providerMetrics.map((metric) => metric.name)));
  }

  /** Samples up to this time are from before the push and never judged as canary or live baseline. */
  markPushed(): void {
    this.#pushedAt = this.#runtime.now();
  }

  /**
   * Keeps the latest analysis interval's worth of samples from up to 32 of the step's drones as that
   * step's pre-push baseline. Call it right before the step's push starts. A drone already pushed (in the
   * ledger, or reporting the new config) is skipped, so a restarted step does not mistake canary samples
   * for baseline; a second call for the same step keeps the first capture.
   */
  async capturePrePush(stepIndex: number, signal: AbortSignal): Promise<PrePushCapture> {
    const kept = this.#prePush.get(stepIndex);
    if (kept) return kept.capture;
    const { plan, ledger } = this.#runtime;
    const step = this.#step(stepIndex);
    const ids = spread(
      step.drones.filter((id) => !ledger.get(id).pushSent),
      SAMPLED_DRONES,
    );
    const until = this.#runtime.now();
    const from = until - plan.spec.analysis.intervalMs;
    const pool = this.#pool();
    let reporting = 0;
    let values = 0;
    const onNewConfig = new Set<string>();
    const read = await this.#read(ids, signal, (id, body, offset) => {
      if (this.#configSha(body) === plan.config.sha256) {
        onNewConfig.add(id);
        return;
      }
      const added = pool.addDrone(body.samples, (sample) => sample.t - offset > from && sample.t - offset <= until);
      values += added;
      if (added > 0) reporting += 1;
    });
    const asked = ids.filter((id) => !onNewConfig.has(id));
    await readProviderMetrics(this.#providerMetrics, asked, { startMs: from, endMs: until }, pool, signal);
    // A drone counts as reporting when it gave any metric, from its telemetry or from a provider.
    reporting = Math.max(reporting, ...Object.values(pool.drones()));
    values += this.#providerMetrics.reduce((sum, metric) => sum + pool.values(metric.name).length, 0);
    const capture: PrePushCapture = { step: step.name, drones: ids.length, reporting, values, ...read };
    if (!signal.aborted && values > 0) this.#prePush.set(stepIndex, { pool, capture });
    this.#runtime.logger.info({ ...capture, windowMs: plan.spec.analysis.intervalMs }, 'pre-push baseline captured');
    return capture;
  }

  async analyse(
    input: { readonly stepIndex: number; readonly interval: number },
    signal: AbortSignal,
  ): Promise<AnalysisOutcome> {
    const { plan, ledger } = this.#runtime;
    const { analysis } = plan.spec;
    const step = this.#step(input.stepIndex);
    const canaryIds = spread(
      step.drones.filter((id) => ledger.get(id).now?.sha256 === plan.config.sha256),
      SAMPLED_DRONES,
    );
    // Drones another rollout left on a third version (an adopted mixed fleet) are never baseline.
    this.#offVersion ??= offVersionDrones(fleetVersions(this.#runtime));
    const offVersion = this.#offVersion;
    // With canary.spread_by, baseline drones like the step's drones (same label values) come first.
    const baselineIds = baselineDrones(
      plan.drones.filter((d) => !ledger.get(d.id).pushSent && !offVersion.has(d.id)),
      dronesOf(this.#runtime, step.drones),
      plan.spec.canary.spreadBy,
      SAMPLED_DRONES,
    );
    const canary = this.#pool();
    const live = this.#pool();
    const isCanary = new Set(canaryIds);
    const read = await this.#read([...canaryIds, ...baselineIds], signal, (id, body, offset) => {
      const sha = this.#configSha(body);
      // By the drone's own sequence where its push answer said where the new config took effect; else
      // by time, translated into the drone's clock. Strictly after: a drone that took the push in the same
      // millisecond still gave that sample on the old config.
      const fromSeq = this.#runtime.configSeq.get(id);
      const afterPush = (sample: TelemetrySample) =>
        fromSeq === undefined ? sample.t - offset > this.#pushedAt : sample.seq >= fromSeq;
      if (isCanary.has(id)) {
        if (sha === undefined || sha === plan.config.sha256) canary.addDrone(body.samples, afterPush);
      } else if (sha !== plan.config.sha256) {
        live.addDrone(body.samples, (sample) => sample.t - offset > this.#pushedAt);
      }
    });
    if (read.hot.length > 0)
      return { hot: read.hot, verdict: 'fail', summary: `HOT lock mismatch on ${read.hot.join(', ')}` };

    // Provider metrics over the interval's window, never from before the push.
    const until = this.#runtime.now();
    const window = { startMs: Math.max(until - analysis.intervalMs, this.#pushedAt), endMs: until };
    const baselineAsked = baselineIds.filter((id) => !read.unreachable.includes(id));
    const [canaryErrors] = await Promise.all([
      readProviderMetrics(this.#providerMetrics, canaryIds, window, canary, signal),
      readProviderMetrics(this.#providerMetrics, baselineAsked, window, live, signal),
    ]);

    const { samples: baseline, sources } = this.#baselineFor(input.stepIndex, live);
    const judgement = withProviderErrors(
      judgeWithSpec(analysis, { canary: canary.samples(), canaryDrones: canary.drones(), baseline }),
      canaryErrors,
    );
    const silentCanary = read.unreachable.filter((id) => isCanary.has(id));
    const notes = [describeSources(sources)];
    if (silentCanary.length > 0)
      notes.push(`${silentCanary.length} of ${canaryIds.length} canary drones gave no telemetry`);
    const silentBaseline = read.unreachable.length - silentCanary.length;
    if (silentBaseline > 0) notes.push(`${silentBaseline} of ${baselineIds.length} baseline drones gave no telemetry`);
    const summary = `${summarize(judgement)} [${notes.join('; ')}]`;
    const judged = {
      step: step.name,
      interval: input.interval + 1,
      verdict: judgement.verdict,
      score: judgement.score,
      reason: judgement.reason,
      metrics: judgement.metrics,
      canaryDrones: canaryIds.length,
      baselineDrones: baselineIds.length,
      baselineSources: sources,
    };
    this.#runtime.logger.info({ ...judged, unreachable: read.unreachable }, 'analysis interval judged');
    // The samples too, so `rollout replay` can judge this interval again with other thresholds.
    this.#runtime.recorder.audit('judgement', {
      ...judged,
      samples: {
        canary: compactSamples(canary.samples()),
        baseline: compactSamples(baseline),
        canaryDrones: canary.drones(),
      },
    });
    return { hot: [], verdict: judgement.verdict, summary };
  }

  #step(stepIndex: number): PlanStep {
    const step = this.#runtime.plan.steps[stepIndex];
    if (!step) throw new RangeError(`step ${stepIndex} is not in the plan`);
    return step;
  }

  /** The config the drone reports running, when its telemetry says. */
  #configSha(body: TelemetryBody): string | undefined {
    return body.configs?.[this.#runtime.plan.config.file]?.sha256;
  }

  /** Per metric, the best baseline with at least min_samples values: live drones, pre-push, earlier live. */
  #baselineFor(
    stepIndex: number,
    live: SamplePool,
  ): { samples: MetricSamples; sources: Record<string, BaselineSource> } {
    const { minSamples, metrics } = this.#runtime.plan.spec.analysis;
    const prePush = this.#prePush.get(stepIndex)?.pool;
    const samples: Record<string, readonly number[]> = {};
    const sources: Record<string, BaselineSource> = {};
    for (const { name } of metrics) {
      const candidates: [BaselineSource, readonly number[]][] = [
        ['baseline drones', live.values(name)],
        ['pre-push', prePush?.values(name) ?? []],
        ['earlier baseline', this.#earlierBaseline.get(name) ?? []],
      ];
      const [source, values] = candidates.find(([, v]) => v.length >= minSamples) ?? ['none', live.values(name)];
      samples[name] = values;
      sources[name] = source;
      if (source === 'baseline drones') this.#earlierBaseline.set(name, values);
    }
    return { samples, sources };
  }

  /**
   * Reads telemetry from `ids` since each drone's cursor; HOT stops the read. `offset` is how far the
   * drone's clock runs ahead of ours (from the `now` it answers with; 0 from an agent that does not say),
   * so windows never depend on the drones' clocks agreeing with the orchestrator's.
   */
  async #read(
    ids: readonly string[],
    signal: AbortSignal,
    onBody: (id: string, body: TelemetryBody, offset: number) => void,
  ): Promise<GroupRead> {
    const { plan, client } = this.#runtime;
    const hot: string[] = [];
    const unreachable: string[] = [];
    await forEachDrone(
      dronesOf(this.#runtime, ids),
      { concurrency: plan.spec.push.concurrency, signal },
      async (drone, s) => {
        const reply = await client.telemetry(drone, this.#cursors.get(drone.id) ?? 0, s);
        if (!reply.ok) {
          if (reply.kind === 'hot') hot.push(drone.id);
          else if (reply.kind !== 'cancelled') unreachable.push(drone.id);
          return reply.kind === 'hot' ? 'stop' : 'continue';
        }
        if (isHot(reply.body.configs, plan.config.file)) {
          hot.push(drone.id);
          return 'stop';
        }
        this.#cursors.set(drone.id, reply.body.next);
        onBody(drone.id, reply.body, reply.body.now === undefined ? 0 : reply.body.now - this.#runtime.now());
        return 'continue';
      },
    );
    return { hot, unreachable };
  }
}

/** A provider metric without data says why: the provider's error names it and the query. */
function withProviderErrors(judgement: IntervalJudgement, errors: ReadonlyMap<string, string>): IntervalJudgement {
  if (errors.size === 0) return judgement;
  return {
    ...judgement,
    metrics: judgement.metrics.map((metric) => {
      const error = errors.get(metric.metric);
      return error === undefined || metric.verdict !== 'nodata' ? metric : { ...metric, detail: error };
    }),
  };
}

/** `baseline: baseline drones`, or per metric when the sources differ. */
function describeSources(sources: Readonly<Record<string, BaselineSource>>): string {
  const distinct = new Set(Object.values(sources));
  if (distinct.size === 0) return 'no metrics';
  if (distinct.size === 1) return `baseline: ${[...distinct].join('')}`;
  return `baseline: ${Object.entries(sources)
    .map(([metric, source]) => `${metric} ${source}`)
    .join(', ')}`;
}
