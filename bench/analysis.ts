import { performance } from 'node:perf_hooks';
import { judgeInterval, type IntervalJudgement } from '../src/analysis/judge.js';
import { gaussianSamples, seededRandom } from '../src/analysis/noise.js';
import type { MetricSpec } from '../src/spec/types.js';

export interface JudgeBenchOptions {
  /** Drones per side (canary and baseline). @default 10_000 */
  readonly drones?: number;
  /** Samples each drone gives per metric in the interval. @default 5 */
  readonly samplesPerDrone?: number;
  /** Timed runs; the figure is their median. @default 7 */
  readonly rounds?: number;
  /** @default 1 */
  readonly seed?: number;
}

export interface JudgeBench {
  /** Values per side and metric. */
  readonly samplesPerSide: number;
  readonly metrics: number;
  /** Median and slowest wall time of one `judgeInterval` call, in milliseconds. */
  readonly medianMs: number;
  readonly maxMs: number;
  readonly verdict: IntervalJudgement['verdict'];
}

/** The simulator's two metrics, judged every way the spec allows. */
const METRICS: readonly MetricSpec[] = [
  { name: 'heart_rate', max: 120, direction: 'either', allowedIncrease: 0.1, allowedDecrease: 0.1 },
  { name: 'trajectory_error', maxIncrease: 0.25, direction: 'increase', allowedIncrease: 0.1, critical: true },
];

function assertPositiveInteger(name: string, value: number): void {
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new TypeError(`Expected \`${name}\` to be an integer from 1 and up, got \`${value}\` (${typeof value})`);
  }
}

/**
 * Times the judging of one interval of a big wave: `drones` × `samplesPerDrone` values per side for
 * each of the simulator's metrics (heart_rate ~ N(72, 2.5), trajectory_error ~ N(0.02, 0.002)).
 * Samples are made before the clock starts; the time covers sorting, ranking, the U test and scoring.
 */
export function benchJudge(options: JudgeBenchOptions = {}): JudgeBench {
  const drones = options.drones ?? 10_000;
  const perDrone = options.samplesPerDrone ?? 5;
  const rounds = options.rounds ?? 7;
  assertPositiveInteger('drones', drones);
  assertPositiveInteger('samplesPerDrone', perDrone);
  assertPositiveInteger('rounds', rounds);
  const random = seededRandom(options.seed ?? 1);
  const n = drones * perDrone;
  const side = () => ({
    heart_rate: gaussianSamples(random, n, 72, 2.5),
    trajectory_error: gaussianSamples(random, n, 0.02, 0.002),
  });
  const canary = side();
  const baseline = side();
  const canaryDrones = { heart_rate: drones, trajectory_error: drones };
  const times: number[] = [];
  let verdict: IntervalJudgement['verdict'] = 'pass';
  for (let round = 0; round < rounds; round += 1) {
    const started = performance.now();
    verdict = judgeInterval({ metrics: METRICS, minSamples: 3, canary, baseline, canaryDrones }).verdict;
    times.push(performance.now() - started);
  }
  times.sort((a, b) => a - b);
  const round3 = (ms: number) => Math.round(ms * 1000) / 1000;
  return {
    samplesPerSide: n,
    metrics: METRICS.length,
    medianMs: round3(times[times.length >> 1] ?? 0),
    maxMs: round3(times.at(-1) ?? 0),
    verdict,
  };
}
