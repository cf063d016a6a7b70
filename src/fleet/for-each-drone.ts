import { getMaxListeners, setMaxListeners } from 'node:events';
import type { Drone } from '../spec/types.js';

export type DroneWork = (drone: Drone, signal: AbortSignal) => Promise<'continue' | 'stop'>;

export interface ForEachDroneOptions {
  /** Requests in flight at once. */
  readonly concurrency: number;
  /** Aborting it empties the queue at once and cancels the requests in flight. */
  readonly signal: AbortSignal;
  /**
   * Whether a `stop` also cancels the requests in flight (pushes: yes, at once) or lets them finish
   * (pauses: a definite answer tells whether the drone needs resuming). @default true
   */
  readonly stopCancelsInFlight?: boolean;
}

/**
 * Runs `work` for every drone with bounded concurrency. When the caller aborts, or one drone's work says
 * `stop` (a HOT answer, too many failures), nothing more starts: queued drones are dropped at once and
 * requests in flight see their signal aborted (on `stop`, unless `stopCancelsInFlight` is false). A `work` that throws stops the run the same way, and the
 * first error is rethrown once every request in flight has settled.
 */
export async function forEachDrone(
  drones: readonly Drone[],
  options: ForEachDroneOptions,
  work: DroneWork,
): Promise<void> {
  if (!Number.isInteger(options.concurrency) || options.concurrency < 1) {
    throw new TypeError(`Expected \`concurrency\` to be an integer from 1 and up, got \`${options.concurrency}\``);
  }
  const stop = new AbortController();
  const signal = AbortSignal.any([options.signal, stop.signal]);
  const requestSignal = options.stopCancelsInFlight === false ? options.signal : signal;
  // Every request in flight listens on requestSignal (and AbortSignal.any on both): one per worker is expected.
  const listeners = options.concurrency + 8;
  setMaxListeners(listeners, signal);
  if (getMaxListeners(options.signal) < listeners) setMaxListeners(listeners, options.signal);
  let failure: { readonly error: unknown } | undefined;
  let next = 0;
  // `concurrency` workers, each taking the next drone as it finishes one: nothing is queued per drone, so
  // a run over 100,000 drones allocates a promise per request and no task, closure or event per drone.
  const worker = async (): Promise<void> => {
    while (next < drones.length && !signal.aborted) {
      const drone = drones[next++] as Drone;
      try {
        if ((await work(drone, requestSignal)) === 'stop') stop.abort();
      } catch (error) {
        failure ??= { error };
        stop.abort();
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(options.concurrency, drones.length) }, worker));
  if (failure) throw failure.error;
}

/** Drones analysis reads per group and interval: enough for a median, bounded for a 10,000-drone wave. */
export const SAMPLED_DRONES = 32;

/** Up to `max` items spread evenly over the list, so analysis of a big wave reads a fair sample. */
export function spread<T>(items: readonly T[], max: number): T[] {
  if (items.length <= max) return [...items];
  const step = items.length / max;
  return Array.from({ length: max }, (_, i) => items[Math.floor(i * step)] as T);
}
