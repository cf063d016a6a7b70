import type { MetricSamples } from './judge.js';

/** One telemetry sample as the drone protocol carries it. */
export interface TimedSample {
  readonly t: number;
  readonly metrics: Readonly<Record<string, number>>;
}

/**
 * The samples of one group of drones (canary or baseline) in one interval, pooled per metric, with how
 * many drones reported each metric: a drone that gave nothing is not counted, so it can never vouch
 * for a metric it did not report.
 */
export class SamplePool {
  readonly #values = new Map<string, number[]>();
  readonly #drones = new Map<string, number>();

  /** Adds one drone's samples that `keep` accepts; returns how many values were added. */
  addDrone<S extends TimedSample>(samples: readonly S[], keep: (sample: S) => boolean = () => true): number {
    const reported = new Set<string>();
    let added = 0;
    for (const sample of samples) {
      if (!keep(sample)) continue;
      for (const [metric, value] of Object.entries(sample.metrics)) {
        if (typeof value !== 'number' || !Number.isFinite(value)) continue;
        let values = this.#values.get(metric);
        if (!values) this.#values.set(metric, (values = []));
        values.push(value);
        reported.add(metric);
        added += 1;
      }
    }
    for (const metric of reported) this.#drones.set(metric, (this.#drones.get(metric) ?? 0) + 1);
    return added;
  }

  /** Values of `metric` pooled over the drones; empty when none reported it. */
  values(metric: string): readonly number[] {
    return this.#values.get(metric) ?? [];
  }

  samples(): MetricSamples {
    return Object.fromEntries(this.#values);
  }

  /** Drones that reported each metric at least once. */
  drones(): Readonly<Record<string, number>> {
    return Object.fromEntries(this.#drones);
  }
}
