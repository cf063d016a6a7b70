import type {
  ConfigContent,
  TelemetryClock,
  TelemetryPage,
  TelemetrySource,
  TelemetrySourceFactory,
} from '../agent/telemetry-source.js';
import { ConfigParamsCache, modelFor, type ConfigParams } from './telemetry-model.js';
import { TelemetryStream, type Sample } from './telemetry-stream.js';

/** Seeds the telemetry PRNG when nothing else does. */
export const DEFAULT_SEED = 1;

export interface ModelTelemetryOptions {
  /** Keys one drone's PRNG: the seed, plus the drone's index in a simulated fleet. */
  readonly keyOf: (droneId: string) => number;
  /** Shared by every drone of one server, which mostly hold the same two or three contents. @default a new cache */
  readonly paramsCache?: ConfigParamsCache;
}

/** Telemetry from the model (telemetry-model.ts) for drones without sensors: the simulator's, and `rollout agent`. */
export function modelTelemetry(options: ModelTelemetryOptions): TelemetrySourceFactory {
  const paramsCache = options.paramsCache ?? new ConfigParamsCache();
  return (drone) => new ModelTelemetry(options.keyOf(drone.id), drone.clock, drone.configs, paramsCache);
}

/** One drone's model telemetry: the model follows `aim_sensitivity` of the first config (by name) that sets it. */
export class ModelTelemetry implements TelemetrySource {
  readonly #stream: TelemetryStream;
  readonly #paramsCache: ConfigParamsCache;
  /** file → what the model reads from its content, for live configs. */
  readonly #params = new Map<string, ConfigParams>();

  constructor(
    key: number,
    clock: TelemetryClock,
    configs: ReadonlyMap<string, ConfigContent>,
    paramsCache: ConfigParamsCache,
  ) {
    this.#paramsCache = paramsCache;
    for (const [file, config] of configs) this.#params.set(file, this.#paramsOf(config));
    this.#stream = new TelemetryStream(key, clock, modelFor(this.#aimSensitivity()));
  }

  read(since: number, nowMs: number): TelemetryPage<Sample> {
    return this.#stream.read(since, nowMs);
  }

  nextSeq(nowMs: number): number {
    return this.#stream.nextSeq(nowMs);
  }

  configChanged(file: string, config: ConfigContent | null, nowMs: number): number {
    if (config === null) this.#params.delete(file);
    else this.#params.set(file, this.#paramsOf(config));
    return this.#stream.setModel(modelFor(this.#aimSensitivity()), nowMs);
  }

  #paramsOf(config: ConfigContent): ConfigParams {
    return this.#paramsCache.get(config.sha256, config.content.toString());
  }

  #aimSensitivity(): number | undefined {
    for (const file of [...this.#params.keys()].sort()) {
      const aimSensitivity = this.#params.get(file)?.aimSensitivity;
      if (aimSensitivity !== undefined) return aimSensitivity;
    }
    return undefined;
  }
}
