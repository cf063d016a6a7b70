import type { TelemetrySample } from '../protocol/v1.js';

/**
 * Where a drone's telemetry comes from. The agent knows none of the metrics: it tells its source when a
 * config changes and pages through what the source reports. A real drone would read its sensors; the
 * simulator's drones (and `rollout agent`, since this project has no sensors) answer from a model.
 */

/** The sample clock every drone of one server shares, kept once instead of per drone. */
export interface TelemetryClock {
  /** One sample per this many milliseconds: sample `seq` is taken at `t = seq * intervalMs`. @default 200 */
  readonly intervalMs: number;
  /** When the server booted, epoch ms: there are no samples before it. */
  readonly bootMs: number;
}

export interface TelemetryPage<S extends TelemetrySample = TelemetrySample> {
  readonly samples: readonly S[];
  /** Pass as `since` next time. */
  readonly next: number;
}

/** A config's current content, and its sha256 (so a source can cache what it derives from it). */
export interface ConfigContent {
  readonly sha256: string;
  readonly content: string | Buffer;
}

export interface TelemetrySource {
  /** Samples with seq > `since` as of `nowMs`, and the cursor to pass next time. */
  read(since: number, nowMs: number): TelemetryPage;
  /** The seq of the next sample to be taken after `nowMs`. */
  nextSeq(nowMs: number): number;
  /** `file` now holds `config` (null: the file is gone) as of `nowMs`; answers the first seq taken under it. */
  configChanged(file: string, config: ConfigContent | null, nowMs: number): number;
}

/** What a source is opened with: the drone, its sample clock and the live configs it booted with, by file. */
export interface TelemetryDrone {
  readonly id: string;
  readonly clock: TelemetryClock;
  readonly configs: ReadonlyMap<string, ConfigContent>;
}

/**
 * The source's latest sample as of `nowMs`, or undefined before its first: what `/metrics` exposes. It
 * asks for the samples after the one before the latest, so a source reads one sample, not a page.
 */
export function latestSample(source: TelemetrySource, nowMs: number): TelemetrySample | undefined {
  return source.read(Math.max(0, source.nextSeq(nowMs) - 2), nowMs).samples.at(-1);
}

/** Opens the telemetry source of one drone, once its configs are loaded. */
export type TelemetrySourceFactory = (drone: TelemetryDrone) => TelemetrySource;

/**
 * A drone without sensors: every page is empty, but seqs still count on the sample clock, so the
 * `seq` of a push answer keeps its meaning.
 */
export const noTelemetry: TelemetrySourceFactory = ({ clock }) => {
  const latestSeq = (nowMs: number): number => Math.floor(nowMs / clock.intervalMs);
  return {
    read: (_since, nowMs) => ({ samples: [], next: latestSeq(nowMs) }),
    nextSeq: (nowMs) => latestSeq(nowMs) + 1,
    configChanged: (_file, _config, nowMs) => latestSeq(nowMs) + 1,
  };
};
