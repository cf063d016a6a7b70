import { describe, expect, it } from 'vitest';
import { forEachDrone } from '../../src/fleet/for-each-drone.js';
import type { Drone } from '../../src/spec/types.js';

const drones: Drone[] = Array.from({ length: 20 }, (_, i) => ({
  id: `d${i + 1}`,
  url: `http://127.0.0.1/d${i + 1}`,
  labels: {},
}));
const tick = () => new Promise((done) => setTimeout(done, 2));

describe('forEachDrone', () => {
  it('never runs more than `concurrency` at once and visits every drone', async () => {
    let running = 0;
    let peak = 0;
    const seen: string[] = [];
    await forEachDrone(drones, { concurrency: 3, signal: new AbortController().signal }, async (drone) => {
      running += 1;
      peak = Math.max(peak, running);
      await tick();
      seen.push(drone.id);
      running -= 1;
      return 'continue';
    });
    expect(peak).toBe(3);
    expect(seen.sort()).toEqual(drones.map((d) => d.id).sort());
  });

  it('starts nothing after a stop, and cancels the work in flight', async () => {
    const started: string[] = [];
    const cancelled: string[] = [];
    await forEachDrone(drones, { concurrency: 2, signal: new AbortController().signal }, async (drone, signal) => {
      started.push(drone.id);
      if (drone.id === 'd3') return 'stop';
      await tick();
      if (signal.aborted) cancelled.push(drone.id);
      return 'continue';
    });
    expect(started).toEqual(['d1', 'd2', 'd3']);
    expect(cancelled).toEqual(['d2']);
  });

  it('lets work in flight finish after a stop when asked to', async () => {
    const cancelled: string[] = [];
    const options = { concurrency: 2, signal: new AbortController().signal, stopCancelsInFlight: false };
    await forEachDrone(drones, options, async (drone, signal) => {
      if (drone.id === 'd3') return 'stop';
      await tick();
      if (signal.aborted) cancelled.push(drone.id);
      return 'continue';
    });
    expect(cancelled).toEqual([]);
  });

  it('empties the queue when the caller aborts', async () => {
    const controller = new AbortController();
    const started: string[] = [];
    await forEachDrone(drones, { concurrency: 1, signal: controller.signal }, async (drone) => {
      started.push(drone.id);
      if (drone.id === 'd2') controller.abort();
      return 'continue';
    });
    expect(started).toEqual(['d1', 'd2']);
  });

  it('rethrows the first error once the work in flight settled', async () => {
    await expect(
      forEachDrone(drones, { concurrency: 4, signal: new AbortController().signal }, async (drone) => {
        if (drone.id === 'd2') throw new Error('boom');
        await tick();
        return 'continue';
      }),
    ).rejects.toThrow('boom');
  });

  it('rejects a concurrency below 1, saying what it got', async () => {
    await expect(
      forEachDrone(drones, { concurrency: 0, signal: new AbortController().signal }, async () => 'continue'),
    ).rejects.toThrow('Expected `concurrency` to be an integer from 1 and up, got `0`');
  });
});
