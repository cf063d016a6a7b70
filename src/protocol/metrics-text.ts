import { METRIC_NAME_PATTERN } from '../spec/spec-schema.js';

/**
 * The drones' latest telemetry as Prometheus gauges, in the text exposition format 0.0.4, served at
 * `GET /metrics` by `rollout agent` (its own drone) and by the simulator (every drone, or one under
 * `/d/<id>/metrics`). Telemetry metric `heart_rate` of drone `drone-1` reads
 * `drone_heart_rate{drone="drone-1"} 71.2`. No timestamps are written: Prometheus stamps each value
 * with its scrape time, so a drone's clock (which may be off) never reaches the TSDB.
 */

export const METRICS_PATH = '/metrics';
export const METRICS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

/** One drone's latest sample: its metrics by telemetry name. */
export interface DroneMetrics {
  readonly id: string;
  readonly metrics: Readonly<Record<string, number>>;
}

const GAUGE_PREFIX = 'drone_';

/**
 * The gauge of telemetry metric `metric`: `drone_` + the name with every `.` and `-` turned into `_`
 * (`heart_rate` → `drone_heart_rate`, `gps.hdop-max` → `drone_gps_hdop_max`). Names the spec allows
 * (METRIC_NAME_PATTERN) always give a valid Prometheus metric name; so `a.b` and `a_b` share one gauge.
 * Undefined for a name the spec does not allow: no query could name it, so it is not exported.
 */
export function gaugeName(metric: string): string | undefined {
  return METRIC_NAME_PATTERN.test(metric) ? GAUGE_PREFIX + metric.replace(/[.-]/gu, '_') : undefined;
}

/**
 * The exposition of `drones`: one family per gauge (sorted by name, each with its `# HELP` and
 * `# TYPE` once), one line per drone in the order given. When two metrics of one drone map to the same
 * gauge, the one whose telemetry name sorts first is written, so no series appears twice. One pass
 * over the drones; no drone, no line.
 */
export function formatMetrics(drones: Iterable<DroneMetrics>): string {
  // Built for 10,000 drones scraped every second: gauge names are mapped once per call, not per line.
  const gauges = new Map<string, string | undefined>();
  const families = new Map<string, Family>();
  let index = 0;
  for (const drone of drones) {
    index += 1;
    const label = `{drone="${escapeLabelValue(drone.id)}"} `;
    for (const metric of Object.keys(drone.metrics).sort()) {
      let gauge = gauges.get(metric);
      if (gauge === undefined && !gauges.has(metric)) {
        gauge = gaugeName(metric);
        gauges.set(metric, gauge);
      }
      const value = drone.metrics[metric];
      if (gauge === undefined || value === undefined) continue;
      let family = families.get(gauge);
      if (family === undefined) {
        family = { metric, lines: [], lastDrone: 0 };
        families.set(gauge, family);
      } else if (family.lastDrone === index) {
        continue;
      }
      family.lastDrone = index;
      family.lines.push(gauge + label + formatValue(value));
    }
  }
  let text = '';
  for (const gauge of [...families.keys()].sort()) {
    const family = families.get(gauge);
    if (family === undefined) continue;
    text += `# HELP ${gauge} ${escapeHelp(`The latest ${family.metric} telemetry sample of each drone.`)}\n`;
    text += `# TYPE ${gauge} gauge\n`;
    text += `${family.lines.join('\n')}\n`;
  }
  return text;
}

interface Family {
  /** The telemetry name the HELP line shows: the first seen. */
  readonly metric: string;
  readonly lines: string[];
  /** Which drone (1-based, in the order given) wrote the latest line: one line per drone and gauge. */
  lastDrone: number;
}

/** A label value between double quotes: backslash, double quote and line feed are escaped. */
export function escapeLabelValue(value: string): string {
  if (!/[\\"\n]/u.test(value)) return value;
  return value.replace(/[\\"\n]/gu, (char) => (char === '\n' ? '\\n' : `\\${char}`));
}

/** HELP text escapes backslash and line feed only. */
function escapeHelp(text: string): string {
  return text.replace(/[\\\n]/gu, (char) => (char === '\n' ? '\\n' : '\\\\'));
}

/** Go's float syntax as Prometheus parses it: `+Inf`, `-Inf` and `NaN` are spelled its way. */
function formatValue(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Number.POSITIVE_INFINITY) return '+Inf';
  if (value === Number.NEGATIVE_INFINITY) return '-Inf';
  return String(value);
}
