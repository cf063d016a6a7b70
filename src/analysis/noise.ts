/*
 * Seeded noise for the judge's benchmark and its statistical tests: the same seed always gives the
 * same samples, so a measured false-alarm rate can be reproduced and quoted.
 */

/** A uniform random number generator on [0, 1). */
export type Random = () => number;

/** mulberry32: a small, fast 32-bit generator, good enough for simulated telemetry. */
export function seededRandom(seed: number): Random {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** One draw from N(mean, sd), by Box-Muller. */
export function gaussian(random: Random, mean: number, sd: number): number {
  const u = 1 - random(); // in (0, 1]: log(u) is finite
  const v = random();
  return mean + sd * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
}

/** `count` draws from N(mean, sd). */
export function gaussianSamples(random: Random, count: number, mean: number, sd: number): Float64Array {
  const samples = new Float64Array(count);
  for (let i = 0; i < count; i += 1) samples[i] = gaussian(random, mean, sd);
  return samples;
}
