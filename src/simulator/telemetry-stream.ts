import type { TelemetryClock, TelemetryPage as SourcePage } from '../agent/telemetry-source.js';
import type { TelemetryModel } from './telemetry-model.js';

export type { TelemetryClock } from '../agent/telemetry-source.js';

export interface Sample {
  readonly seq: number;
  /** Epoch milliseconds. */
  readonly t: number;
  readonly metrics: { readonly heart_rate: number; readonly trajectory_error: number };
}

export type TelemetryPage = SourcePage<Sample>;

interface ModelSegment {
  readonly fromSeq: number;
  readonly model: TelemetryModel;
}

/** A drone keeps at most this many samples; older ones are gone. */
export const MAX_SAMPLES = 200;

/**
 * One drone's telemetry, computed lazily. Sample `seq` is taken at `t = seq * intervalMs` (epoch
 * anchored, so seqs keep growing across agent restarts) and is a pure function of the drone's key
 * (seed + drone index), the seq and the model in force then: a counter-based PRNG needs no state
 * and no timer, so an idle drone costs nothing and the same seed always gives the same samples.
 * The model history is a short list of segments, pruned once they fall out of the sample window.
 */
export class TelemetryStream {
  readonly #key: number;
  readonly #clock: TelemetryClock;
  /** The model of every seq before the first change still in view. */
  #base: TelemetryModel;
  /** Config changes still in view, oldest first, each from its `fromSeq` on. */
  #changes: ModelSegment[] = [];

  constructor(key: number, clock: TelemetryClock, model: TelemetryModel) {
    this.#key = mix32(key | 0);
    this.#clock = clock;
    this.#base = model;
  }

  /**
   * The drone's config changed at `nowMs`: samples after it follow `model`, earlier ones keep theirs.
   * Answers the first seq that follows `model`.
   */
  setModel(model: TelemetryModel, nowMs: number): number {
    const latest = this.#latestSeq(nowMs);
    // Changes within one sample interval supersede each other.
    while ((this.#changes.at(-1)?.fromSeq ?? Number.NEGATIVE_INFINITY) > latest) this.#changes.pop();
    this.#changes.push({ fromSeq: latest + 1, model });
    const oldestVisible = latest - MAX_SAMPLES + 1;
    for (
      let first = this.#changes[0];
      first !== undefined && first.fromSeq <= oldestVisible;
      first = this.#changes[0]
    ) {
      this.#base = first.model;
      this.#changes.shift();
    }
    return latest + 1;
  }

  /** The seq of the next sample to be taken after `nowMs`. */
  nextSeq(nowMs: number): number {
    return this.#latestSeq(nowMs) + 1;
  }

  /** Samples with seq > `since`, at most the latest MAX_SAMPLES. */
  read(since: number, nowMs: number): TelemetryPage {
    const latest = this.#latestSeq(nowMs);
    // A cursor from the future (the clock stepped back, or a different agent): resync on ours.
    if (since > latest) return { samples: [], next: latest };
    const first = Math.max(
      since + 1,
      latest - MAX_SAMPLES + 1,
      Math.floor(this.#clock.bootMs / this.#clock.intervalMs) + 1,
    );
    const samples: Sample[] = [];
    for (let seq = first; seq <= latest; seq += 1) samples.push(this.#sample(seq));
    return { samples, next: latest };
  }

  #latestSeq(nowMs: number): number {
    return Math.floor(nowMs / this.#clock.intervalMs);
  }

  #sample(seq: number): Sample {
    const model = this.#modelAt(seq);
    // Box-Muller: two independent uniforms give two independent standard normals.
    const radius = Math.sqrt(-2 * Math.log(this.#uniform(seq, 0)));
    const angle = 2 * Math.PI * this.#uniform(seq, 1);
    const heartRate = model.heartRateMean + model.heartRateSd * radius * Math.cos(angle);
    const trajectoryError = Math.max(0, model.trajectoryErrorMean + model.trajectoryErrorSd * radius * Math.sin(angle));
    return {
      seq,
      t: seq * this.#clock.intervalMs,
      metrics: { heart_rate: round(heartRate, 2), trajectory_error: round(trajectoryError, 6) },
    };
  }

  #modelAt(seq: number): TelemetryModel {
    let model = this.#base;
    for (const change of this.#changes) if (change.fromSeq <= seq) model = change.model;
    return model;
  }

  /** A uniform in (0, 1] for (drone, seq, lane); seqs beyond 2^32 fold in their high word. */
  #uniform(seq: number, lane: number): number {
    const low = seq >>> 0;
    const high = Math.floor(seq / 2 ** 32) >>> 0;
    const hash = mix32(mix32(mix32(this.#key ^ low) + high) ^ Math.imul(lane + 1, 0x27d4eb2d));
    return (hash + 1) / 2 ** 32;
  }
}

/** murmur3's finaliser: a cheap 32-bit mix whose output bits all depend on every input bit. */
function mix32(value: number): number {
  let hash = value | 0;
  hash ^= hash >>> 16;
  hash = Math.imul(hash, 0x85ebca6b);
  hash ^= hash >>> 13;
  hash = Math.imul(hash, 0xc2b2ae35);
  hash ^= hash >>> 16;
  return hash >>> 0;
}

function round(value: number, digits: number): number {
  const scale = 10 ** digits;
  return Math.round(value * scale) / scale;
}
