import { count } from '../wording.js';
import { formatDuration } from './duration.js';
import type { Plan, Threshold } from './types.js';

/** Telemetry readers sample at most this many canary drones per interval (runner SAMPLED_DRONES). */
const SAMPLED_DRONES = 32;

function limitOf(threshold: Threshold, total: number): number {
  return threshold.kind === 'count' ? threshold.value : Math.floor((threshold.value / 100) * total);
}

function usesBaseline(plan: Plan): boolean {
  return plan.spec.analysis.metrics.some(
    (m) =>
      m.maxIncrease !== undefined ||
      m.maxDecrease !== undefined ||
      m.direction !== undefined ||
      m.allowedIncrease !== undefined ||
      m.allowedDecrease !== undefined,
  );
}

/**
 * What in a valid plan will likely not do what its author meant: bakes that cannot collect enough
 * samples, waves that add no drone, abort thresholds that can never fire for the canary's size.
 * `samplesPerSecond` is one drone's telemetry rate, as measured by `rollout plan`, or null if unknown.
 */
export function planWarnings(plan: Plan, samplesPerSecond: number | null): string[] {
  const warnings: string[] = [];
  const { spec, steps, drones } = plan;
  const { analysis, abort } = spec;
  const canary = steps[0];
  for (const step of steps) {
    if (step.bakeMs === 0 || analysis.metrics.length === 0) continue;
    if (step.bakeMs < analysis.intervalMs) {
      const [bake, interval] = [formatDuration(step.bakeMs), formatDuration(analysis.intervalMs)];
      warnings.push(
        `${step.name}: bake ${bake} is shorter than analysis.interval ${interval}, so it runs one short interval`,
      );
    }
    if (samplesPerSecond !== null) {
      const windowMs = Math.min(step.bakeMs, analysis.intervalMs);
      const expected = Math.floor((samplesPerSecond * windowMs) / 1000) * Math.min(step.drones.length, SAMPLED_DRONES);
      if (expected < analysis.minSamples) {
        const rate = `${count(step.drones.length, 'drone')} at ${samplesPerSecond.toFixed(1)}/s over ${formatDuration(windowMs)}`;
        warnings.push(
          `${step.name}: about ${count(expected, 'canary sample')} per interval (${rate}) ` +
            `cannot reach analysis.min_samples ${analysis.minSamples}: every interval will be inconclusive; lengthen analysis.interval`,
        );
      }
    }
  }
  spec.waves.forEach((wave, i) => {
    if (!steps.some((step) => step.name === `wave ${i + 1}`)) {
      const covered = `${wave.percent}% of ${count(drones.length, 'targeted drone')}`;
      warnings.push(`waves[${i}] (percent ${wave.percent}) adds no drone: earlier steps already cover ${covered}`);
    }
  });
  if (canary?.drones.length === drones.length && usesBaseline(plan)) {
    warnings.push(
      'the canary is every targeted drone: relative limits and comparisons have no baseline drones, only pre-push samples',
    );
  }
  if (canary) {
    const pushLimit = limitOf(abort.maxPushFailures, drones.length);
    if (pushLimit >= canary.drones.length) {
      warnings.push(
        `abort.max_push_failures allows ${count(pushLimit, 'failed push', 'failed pushes')}, ` +
          `not fewer than the canary's ${count(canary.drones.length, 'drone')}: ` +
          'a canary whose every push fails would not stop the rollout',
      );
    }
    const unreachableLimit = limitOf(abort.maxUnreachable, drones.length);
    if (unreachableLimit >= canary.drones.length) {
      warnings.push(
        `abort.max_unreachable allows ${count(unreachableLimit, 'unreachable drone')}, ` +
          `not fewer than the canary's ${canary.drones.length}: ` +
          'a canary that never answers would not stop the rollout',
      );
    }
  }
  return warnings;
}
