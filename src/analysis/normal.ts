/*
 * The standard normal distribution's tails, to double precision over the whole real line: Hart's
 * algorithm 5666 as given by G. West, "Better approximations to cumulative normal functions" (2005).
 * A p-value of 1e-12 must come out as 1e-12, not as 1 - (1 - 1e-12), so the tail is computed directly.
 */

const SQRT_2PI = 2.5066282746310002;

/** P(Z > z) for z ≥ 0. */
function upperTailOfPositive(z: number): number {
  if (z > 37) return 0;
  const density = Math.exp(-(z * z) / 2);
  if (z < 7.07106781186547) {
    let numerator = 3.52624965998911e-2 * z + 0.700383064443688;
    numerator = numerator * z + 6.37396220353165;
    numerator = numerator * z + 33.912866078383;
    numerator = numerator * z + 112.079291497871;
    numerator = numerator * z + 221.213596169931;
    numerator = numerator * z + 220.206867912376;
    let denominator = 8.83883476483184e-2 * z + 1.75566716318264;
    denominator = denominator * z + 16.064177579207;
    denominator = denominator * z + 86.7807322029461;
    denominator = denominator * z + 296.564248779674;
    denominator = denominator * z + 637.333633378831;
    denominator = denominator * z + 793.826512519948;
    denominator = denominator * z + 440.413735824752;
    return (density * numerator) / denominator;
  }
  // A continued fraction for the far tail.
  let fraction = z + 0.65;
  fraction = z + 4 / fraction;
  fraction = z + 3 / fraction;
  fraction = z + 2 / fraction;
  fraction = z + 1 / fraction;
  return density / fraction / SQRT_2PI;
}

/** P(Z > z): the upper tail of the standard normal distribution. */
export function normalUpperTail(z: number): number {
  if (Number.isNaN(z)) return Number.NaN;
  return z >= 0 ? upperTailOfPositive(z) : 1 - upperTailOfPositive(-z);
}

/** P(Z ≤ z): the standard normal distribution function. */
export function normalCdf(z: number): number {
  return normalUpperTail(-z);
}
