import { createHash } from 'node:crypto';
import type { Drone, Plan } from './types.js';

/** The value a drone without the label counts as. */
export const NO_LABEL = '(none)';

/**
 * Above this many ways to choose the canary's combinations of label values, the choice is greedy
 * instead of exact: exact search is for the small fleets where a person checks the result by eye.
 */
export const EXACT_CHOICES = 10_000;

/** The drone's value of `label`, or `(none)`. */
export function labelValue(drone: Drone, label: string): string {
  return drone.labels[label] ?? NO_LABEL;
}

/** The drone's values of `labels`, as one comparable key: drones with equal keys are alike for `spread_by`. */
export function labelTuple(drone: Drone, labels: readonly string[]): string {
  return JSON.stringify(labels.map((label) => labelValue(drone, label)));
}

/** sfc32 (Chris Doty-Humphrey's Small Fast Counter): 32-bit outputs as numbers in [0, 1). */
function sfc32(a: number, b: number, c: number, d: number): () => number {
  return () => {
    a >>>= 0;
    b >>>= 0;
    c >>>= 0;
    d >>>= 0;
    const t = (((a + b) | 0) + d) | 0;
    d = (d + 1) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    c = (c + t) | 0;
    return (t >>> 0) / 4_294_967_296;
  };
}

/** A PRNG whose whole state comes from the sha256 of `seed`: the same seed draws the same numbers anywhere. */
export function seededRandom(seed: string): () => number {
  const digest = createHash('sha256').update(seed, 'utf8').digest();
  const random = sfc32(digest.readUInt32LE(0), digest.readUInt32LE(4), digest.readUInt32LE(8), digest.readUInt32LE(12));
  // The first outputs of a counter-based generator still show its seed's structure: discard them.
  for (let i = 0; i < 15; i += 1) random();
  return random;
}

/** A copy of `items` in an order drawn from `seed` (Fisher-Yates). */
export function seededShuffle<T>(items: readonly T[], seed: string): T[] {
  const random = seededRandom(seed);
  const shuffled = [...items];
  for (let i = shuffled.length - 1; i > 0; i -= 1) {
    const j = Math.floor(random() * (i + 1));
    [shuffled[i], shuffled[j]] = [shuffled[j] as T, shuffled[i] as T];
  }
  return shuffled;
}

/** Drones sharing one combination of label values, in candidate order; `values` are ids of (label, value). */
interface Combination {
  readonly values: readonly number[];
  readonly drones: Drone[];
}

/** The candidates grouped by their combination of `labels`' values, combinations in order of first appearance. */
function combinationsOf(
  candidates: readonly Drone[],
  labels: readonly string[],
): { combinations: Combination[]; valueCount: number; perLabel: number[] } {
  const valueIds = new Map<string, number>();
  const perLabel = labels.map(() => 0);
  const byTuple = new Map<string, Combination>();
  for (const drone of candidates) {
    const tuple = labelTuple(drone, labels);
    let combination = byTuple.get(tuple);
    if (combination === undefined) {
      const values = labels.map((label, index) => {
        const key = JSON.stringify([index, labelValue(drone, label)]);
        let id = valueIds.get(key);
        if (id === undefined) {
          id = valueIds.size;
          valueIds.set(key, id);
          perLabel[index] = (perLabel[index] ?? 0) + 1;
        }
        return id;
      });
      combination = { values, drones: [] };
      byTuple.set(tuple, combination);
    }
    combination.drones.push(drone);
  }
  return { combinations: [...byTuple.values()], valueCount: valueIds.size, perLabel };
}

/** C(n, k), or `Infinity` once it passes `cap`. */
function choices(n: number, k: number, cap: number): number {
  let result = 1;
  for (let i = 1; i <= k; i += 1) {
    result = (result * (n - k + i)) / i;
    if (result > cap) return Infinity;
  }
  return Math.round(result);
}

/**
 * The `size` combinations covering the most values, by exhaustive search in lexicographic order: among
 * equally good choices, the one with the earliest combinations (candidate order breaks ties).
 */
function exactChoice(combinations: readonly Combination[], size: number, valueCount: number, bound: number): number[] {
  const counts = new Array<number>(valueCount).fill(0);
  const current: number[] = [];
  let best: number[] = [];
  let bestCovered = -1;
  let covered = 0;
  const visit = (from: number): boolean => {
    if (current.length === size) {
      if (covered > bestCovered) {
        bestCovered = covered;
        best = [...current];
      }
      return bestCovered === bound;
    }
    for (let i = from; i <= combinations.length - (size - current.length); i += 1) {
      const values = (combinations[i] as Combination).values;
      for (const value of values) if ((counts[value] = (counts[value] ?? 0) + 1) === 1) covered += 1;
      current.push(i);
      const done = visit(i + 1);
      current.pop();
      for (const value of values) if ((counts[value] = (counts[value] ?? 0) - 1) === 0) covered -= 1;
      if (done) return true;
    }
    return false;
  };
  visit(0);
  return best;
}

/** A binary max-heap of [gain, index], the smaller index first among equal gains. */
class GainHeap {
  readonly #items: [number, number][] = [];

  get size(): number {
    return this.#items.length;
  }

  #above(a: [number, number], b: [number, number]): boolean {
    return a[0] > b[0] || (a[0] === b[0] && a[1] < b[1]);
  }

  push(item: [number, number]): void {
    const items = this.#items;
    items.push(item);
    let i = items.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.#above(items[i] as [number, number], items[parent] as [number, number])) break;
      [items[i], items[parent]] = [items[parent] as [number, number], items[i] as [number, number]];
      i = parent;
    }
  }

  pop(): [number, number] | undefined {
    const items = this.#items;
    const top = items[0];
    const last = items.pop();
    if (top === undefined || last === undefined || items.length === 0) return top;
    items[0] = last;
    let i = 0;
    for (;;) {
      const left = 2 * i + 1;
      const right = left + 1;
      let next = i;
      if (left < items.length && this.#above(items[left] as [number, number], items[next] as [number, number]))
        next = left;
      if (right < items.length && this.#above(items[right] as [number, number], items[next] as [number, number]))
        next = right;
      if (next === i) return top;
      [items[i], items[next]] = [items[next] as [number, number], items[i] as [number, number]];
      i = next;
    }
  }
}

/**
 * Greedy: the combination adding the most values not yet covered, the earliest among equals, until no
 * combination adds any; then the combinations not chosen yet, in order. A combination's gain only falls as
 * values get covered, so a stale gain popped from the heap is recomputed and pushed back (lazy greedy).
 */
function greedyChoice(combinations: readonly Combination[], size: number, valueCount: number): number[] {
  const covered = new Array<boolean>(valueCount).fill(false);
  const gainOf = (index: number) => (combinations[index] as Combination).values.filter((v) => !covered[v]).length;
  const heap = new GainHeap();
  combinations.forEach((_, index) => heap.push([gainOf(index), index]));
  const chosen: number[] = [];
  const taken = new Set<number>();
  while (chosen.length < size && heap.size > 0) {
    const [stored, index] = heap.pop() as [number, number];
    if (stored === 0) break;
    const gain = gainOf(index);
    if (gain < stored) {
      heap.push([gain, index]);
      continue;
    }
    chosen.push(index);
    taken.add(index);
    for (const value of (combinations[index] as Combination).values) covered[value] = true;
  }
  for (let index = 0; chosen.length < size && index < combinations.length; index += 1) {
    if (!taken.has(index)) chosen.push(index);
  }
  return chosen;
}

/**
 * `size` drones of `candidates` covering as many distinct values of each of `labels` as `size` allows (a
 * drone without a label counts as value `(none)`), in candidate order: deterministic for a given order,
 * which breaks every tie. Drones with the same values are alike, so this chooses combinations of values:
 * as many distinct ones as `size` allows, covering the most values (exactly when there are at most
 * `EXACT_CHOICES` ways to choose them, greedily beyond), one drone each; a canary larger than the number
 * of combinations then takes one more drone of each combination in turn (round robin).
 */
export function spreadPick(candidates: readonly Drone[], size: number, labels: readonly string[]): Drone[] {
  const { combinations, valueCount, perLabel } = combinationsOf(candidates, labels);
  const distinct = Math.min(size, combinations.length);
  let chosen: number[];
  if (distinct === combinations.length) chosen = combinations.map((_, index) => index);
  else if (choices(combinations.length, distinct, EXACT_CHOICES) <= EXACT_CHOICES) {
    const bound = perLabel.reduce((sum, values) => sum + Math.min(values, distinct), 0);
    chosen = exactChoice(combinations, distinct, valueCount, bound);
  } else chosen = greedyChoice(combinations, distinct, valueCount);

  const picked = chosen.map((index) => (combinations[index] as Combination).drones[0] as Drone);
  for (let round = 1; picked.length < size; round += 1) {
    let added = false;
    for (const combination of combinations) {
      const drone = combination.drones[round];
      if (drone === undefined) continue;
      picked.push(drone);
      added = true;
      if (picked.length === size) break;
    }
    if (!added) break;
  }
  return picked;
}

/** What a canary covers of one label: the values among its drones, and those of the targeted drones it lacks. */
export interface LabelCoverage {
  readonly covered: readonly string[];
  readonly missing: readonly string[];
}

/** Per label of `spread_by`, the values the canary covers and those it misses, each sorted. */
export function canaryCoverage(
  canary: readonly Drone[],
  targeted: readonly Drone[],
  labels: readonly string[],
): Record<string, LabelCoverage> {
  const sorted = (values: Iterable<string>) => [...values].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  return Object.fromEntries(
    labels.map((label) => {
      const covered = new Set(canary.map((drone) => labelValue(drone, label)));
      const missing = new Set(targeted.map((drone) => labelValue(drone, label)).filter((v) => !covered.has(v)));
      return [label, { covered: sorted(covered), missing: sorted(missing) }];
    }),
  );
}

/** The coverage of a plan's canary (its first step) when the spec has `canary.spread_by`. */
export function planCanaryCoverage(plan: Plan): Record<string, LabelCoverage> | undefined {
  const { spreadBy } = plan.spec.canary;
  if (spreadBy === undefined) return undefined;
  const canaryIds = new Set(plan.steps.find((step) => step.kind === 'canary')?.drones);
  const canary = plan.drones.filter((drone) => canaryIds.has(drone.id));
  return canaryCoverage(canary, plan.drones, spreadBy);
}
