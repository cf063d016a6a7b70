/**
 * How a simulated drone's body answers its config (this project has no real sensor, so `rollout agent`
 * reports these too, through ModelTelemetry). Per sample:
 *
 *   heart_rate       ~ N(72, 2.5)                          beats per minute, whatever the config
 *   trajectory_error ~ N(m, 0.1 * m), clamped at 0         with m = 0.02 * (1 + 1.5 * max(0, aim_sensitivity - 1.0))
 *
 * Up to 1.0 the aim loop damps its own sensitivity, so a sane tweak is invisible: the shipped good
 * config (aim_sensitivity 0.85) keeps m at 0.02. Past 1.0 the aim overshoots and the error grows
 * linearly: the shipped bad config (1.60) gives m = 0.038, +90%, which canary analysis must catch.
 * A config without `aim_sensitivity` behaves like a sane one.
 */

export interface TelemetryModel {
  readonly heartRateMean: number;
  readonly heartRateSd: number;
  readonly trajectoryErrorMean: number;
  readonly trajectoryErrorSd: number;
}

/** What the model reads from one config file. */
export interface ConfigParams {
  readonly aimSensitivity: number | undefined;
}

const BASE_TRAJECTORY_ERROR = 0.02;
const OVERSHOOT_GAIN = 1.5;
const DAMPED_SENSITIVITY = 1.0;
/** Distinct config contents seen by one process are few (a fleet shares them); the bound only guards against abuse. */
const PARAMS_CACHE_SIZE = 256;

export function modelFor(aimSensitivity: number | undefined): TelemetryModel {
  const overshoot = Math.max(0, (aimSensitivity ?? DAMPED_SENSITIVITY) - DAMPED_SENSITIVITY);
  const mean = BASE_TRAJECTORY_ERROR * (1 + OVERSHOOT_GAIN * overshoot);
  return { heartRateMean: 72, heartRateSd: 2.5, trajectoryErrorMean: mean, trajectoryErrorSd: 0.1 * mean };
}

/** `key = value` lines; `#` starts a comment; other lines are ignored (the model is not a config validator). */
export function parseConfigText(content: string): ReadonlyMap<string, string> {
  const entries = new Map<string, string>();
  for (const line of content.split(/\r?\n/u)) {
    const text = line.replace(/#.*$/u, '').trim();
    const equals = text.indexOf('=');
    if (equals <= 0) continue;
    entries.set(text.slice(0, equals).trim(), text.slice(equals + 1).trim());
  }
  return entries;
}

export function paramsOf(content: string): ConfigParams {
  const raw = parseConfigText(content).get('aim_sensitivity');
  const value = raw === undefined || raw === '' ? Number.NaN : Number(raw);
  return { aimSensitivity: Number.isFinite(value) ? value : undefined };
}

/** Parses each distinct content once: ten thousand simulated drones mostly share two or three. */
export class ConfigParamsCache {
  readonly #bySha = new Map<string, ConfigParams>();

  get(sha256: string, content: string): ConfigParams {
    const cached = this.#bySha.get(sha256);
    if (cached !== undefined) return cached;
    const params = paramsOf(content);
    if (this.#bySha.size >= PARAMS_CACHE_SIZE) {
      const oldest = this.#bySha.keys().next();
      if (oldest.done !== true) this.#bySha.delete(oldest.value);
    }
    this.#bySha.set(sha256, params);
    return params;
  }
}
