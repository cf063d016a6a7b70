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
  readonly #elsewhere: ReadonlySet<string>;

  /** `elsewhere`: metrics read from a provider, never from the drones' samples (see `addValues`). */
  constructor(elsewhere: ReadonlySet<string> = new Set()) {
    this.#elsewhere = elsewhere;
  }

  /** Adds one drone's samples that `keep` accepts; returns how many values were added. */
  addDrone<S extends TimedSample>(samples: readonly S[], keep: (sample: S) => boolean = () => true): number {
    const reported = new Set<string>();
    let added = 0;
    for (const sample of samples) {
      if (!keep(sample)) continue;
      for (const [metric, value] of Object.entries(sample.metrics)) {
        if (this.#elsewhere.has(metric) || !this.#push(metric, value)) continue;
        reported.add(metric);
        added += 1;
      }
    }
    for (const metric of reported) this.#countDrone(metric);
    return added;
  }

  /** Adds one drone's values of one metric as a provider gave them; returns how many were added. */
  addValues(metric: string, values: readonly number[]): number {
    let added = 0;
    for (const value of values) if (this.#push(metric, value)) added += 1;
    if (added > 0) this.#countDrone(metric);
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

  #push(metric: string, value: unknown): boolean {
    if (typeof value !== 'number' || !Number.isFinite(value)) return false;
    let values = this.#values.get(metric);
    if (!values) this.#values.set(metric, (values = []));
    values.push(value);
    return true;
  }

  #countDrone(metric: string): void {
    this.#drones.set(metric, (this.#drones.get(metric) ?? 0) + 1);
  }
}
